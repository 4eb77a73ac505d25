//! Generates bindings to Debian's DPDK 22.11 and compiles the C shim. Needs `libdpdk-dev`,
//! `clang`/`libclang-dev` and `pkg-config` (scripts/packages/dataplane.txt).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=wrapper.h");
    println!("cargo:rerun-if-changed=shim.h");
    println!("cargo:rerun-if-changed=shim.c");
    let lib = pkg_config::Config::new()
        .atleast_version("22.11")
        .probe("libdpdk")
        .unwrap_or_else(|e| panic!("libdpdk (Debian's libdpdk-dev) not found: {e}"));
    let _ = lib;
    // The full --cflags matter: `-include rte_config.h` is not among the include paths.
    let out = Command::new("pkg-config")
        .args(["--cflags", "libdpdk"])
        .output()
        .expect("pkg-config runs");
    let cflags: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let mut cc = cc::Build::new();
    cc.file("shim.c").include(".").warnings(false);
    for f in &cflags {
        cc.flag(f);
    }
    cc.compile("ferrocore_dpdk_shim");
    let bindings = bindgen::Builder::default()
        .header("wrapper.h")
        // DPDK's comments hold C snippets that rustdoc would run as doctests (`cargo test
        // --doc` runs them even with `doctest = false`).
        .generate_comments(false)
        .clang_args(&cflags)
        .clang_arg("-I.")
        .allowlist_function(
            "rte_eal_(init|cleanup)|rte_pktmbuf_pool_create|rte_eth_dev_count_avail|\
             rte_eth_dev_get_name_by_port|rte_eth_macaddr_get|rte_eth_dev_(stop|close)|\
             rte_eth_stats_get|rte_strerror|shim_.*",
        )
        .allowlist_type("rte_ether_addr|rte_eth_stats|shim_mbuf_span")
        .opaque_type("rte_mbuf|rte_mempool")
        .derive_default(true)
        .layout_tests(false)
        .generate()
        .expect("bindgen over the DPDK headers");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR is set by cargo"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("bindings written");
}
