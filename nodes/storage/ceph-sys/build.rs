//! Generates the bindings from the system headers (Debian: librados-dev, librbd-dev) and links
//! librados and librbd.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rustc-link-lib=rados");
    println!("cargo:rustc-link-lib=rbd");
    let bindings = bindgen::Builder::default()
        .header("wrapper.h")
        // Only what ferrocore calls: keeps the generated surface small and reviewable.
        .allowlist_function("rados_(create2|conf_set|conf_read_file|connect|shutdown|ioctx_create|ioctx_destroy|mon_command|buffer_free|cluster_stat|version)")
        .allowlist_function("rados_(create_write_op|write_op_create|write_op_omap_set2|write_op_omap_rm_keys2|write_op_operate|release_write_op)")
        .allowlist_function("rados_(create_read_op|read_op_omap_get_vals2|read_op_operate|release_read_op|omap_get_next2|omap_get_end|stat)")
        .allowlist_function("rbd_(create4|clone3|remove|open|close|resize|stat|list2|image_spec_list_cleanup|version)")
        .allowlist_function("rbd_(snap_create|snap_remove|snap_protect|snap_unprotect|snap_is_protected|snap_exists|flatten)")
        .allowlist_function("rbd_(list_children3|linked_image_spec_list_cleanup|metadata_set|read|write|encryption_format|encryption_load)")
        .allowlist_function("rbd_image_options_(create|destroy|set_uint64|set_string)")
        .allowlist_var("RBD_IMAGE_OPTION_.*|RBD_FEATURE_.*|LIBRADS_.*|LIBRADOS_.*")
        .allowlist_type("rbd_encryption_.*|rbd_image_info_t|rbd_image_spec_t|rbd_linked_image_spec_t")
        .prepend_enum_name(false)
        .layout_tests(false)
        .generate()
        .expect("bindgen could not read rados/librados.h and rbd/librbd.h (install librados-dev librbd-dev)");
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("writing the bindings");
}
