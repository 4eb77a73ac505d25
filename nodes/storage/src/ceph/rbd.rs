//! A safe wrapper over the part of librbd ferrocore uses: create, clone, open, resize, remove,
//! list, snapshots (create, protect, unprotect, remove, children, flatten), image metadata,
//! raw read/write and LUKS2 formatting.

use std::ffi::{c_char, c_int};
use std::ptr;

use ferrocore_ceph_sys as sys;

use super::rados::{CephError, IoCtx, check, cstr, owned};

/// Largest number of entries a listing asks librbd for at once before growing the buffer
/// (librbd answers ERANGE with the size it needs; this caps the retries).
const LIST_GROWTH_MAX: usize = 8;

/// Creates an empty image of `size` bytes with the cluster's default features.
///
/// # Errors
/// `EEXIST` if it exists, or any librbd failure.
pub fn create(io: &IoCtx, name: &str, size: u64) -> Result<(), CephError> {
    let name_c = cstr(name)?;
    let mut opts: sys::rbd_image_options_t = ptr::null_mut();
    // SAFETY: `opts` is a valid out-pointer; the options are destroyed below.
    unsafe { sys::rbd_image_options_create(&raw mut opts) };
    // SAFETY: the context is open, the name valid, the options live.
    let rc = unsafe { sys::rbd_create4(io.raw(), name_c.as_ptr(), size, opts) };
    // SAFETY: destroys the options created above, once.
    unsafe { sys::rbd_image_options_destroy(opts) };
    check(rc, || format!("rbd create {name}")).map(|_| ())
}

/// Clones `parent@snap` (which must be protected) into `child`.
///
/// # Errors
/// `EEXIST` if the child exists, or any librbd failure.
pub fn clone(io: &IoCtx, parent: &str, snap: &str, child: &str) -> Result<(), CephError> {
    let (p, s, c) = (cstr(parent)?, cstr(snap)?, cstr(child)?);
    let mut opts: sys::rbd_image_options_t = ptr::null_mut();
    // SAFETY: `opts` is a valid out-pointer; the options are destroyed below.
    unsafe { sys::rbd_image_options_create(&raw mut opts) };
    // SAFETY: both contexts are the same open pool; the names are valid C strings.
    let rc =
        unsafe { sys::rbd_clone3(io.raw(), p.as_ptr(), s.as_ptr(), io.raw(), c.as_ptr(), opts) };
    // SAFETY: destroys the options created above, once.
    unsafe { sys::rbd_image_options_destroy(opts) };
    check(rc, || format!("rbd clone {parent}@{snap} {child}")).map(|_| ())
}

/// Removes an image.
///
/// # Errors
/// `ENOENT` if absent, `ENOTEMPTY` while it has snapshots, `EBUSY` while opened elsewhere.
pub fn remove(io: &IoCtx, name: &str) -> Result<(), CephError> {
    let name_c = cstr(name)?;
    // SAFETY: the context is open and the name valid.
    let rc = unsafe { sys::rbd_remove(io.raw(), name_c.as_ptr()) };
    check(rc, || format!("rbd remove {name}")).map(|_| ())
}

/// Every image name in the pool.
///
/// # Errors
/// Any librbd failure.
pub fn list(io: &IoCtx) -> Result<Vec<String>, CephError> {
    let mut cap = 64usize;
    for _ in 0..LIST_GROWTH_MAX {
        let mut specs = vec![
            sys::rbd_image_spec_t {
                id: ptr::null_mut(),
                name: ptr::null_mut()
            };
            cap
        ];
        let mut n = cap;
        // SAFETY: `specs` has room for `n` entries, which librbd fills (or answers ERANGE with
        // the count it needs).
        let rc = unsafe { sys::rbd_list2(io.raw(), specs.as_mut_ptr(), &raw mut n) };
        if rc == -libc::ERANGE {
            cap = n.max(cap * 2);
            continue;
        }
        check(rc, || "rbd ls".into())?;
        let names = specs[..n].iter().map(|s| owned(s.name)).collect();
        // SAFETY: frees the `n` entries librbd filled, once.
        unsafe { sys::rbd_image_spec_list_cleanup(specs.as_mut_ptr(), n) };
        return Ok(names);
    }
    Err(CephError {
        op: "rbd ls: listing kept growing".into(),
        errno: libc::ERANGE,
    })
}

/// An open image (closed on drop).
#[derive(Debug)]
pub struct Image {
    handle: sys::rbd_image_t,
    name: String,
}

// SAFETY: an `rbd_image_t` may be used from another thread than the one that opened it; we use
// each from one thread at a time (`&mut`-free API, no sharing of `Image` across threads).
unsafe impl Send for Image {}

impl Image {
    /// Opens `name` (at snapshot `snap`, read-only, when given).
    ///
    /// # Errors
    /// `ENOENT` if the image (or snapshot) does not exist.
    pub fn open(io: &IoCtx, name: &str, snap: Option<&str>) -> Result<Self, CephError> {
        let name_c = cstr(name)?;
        let snap_c = snap.map(cstr).transpose()?;
        let mut handle: sys::rbd_image_t = ptr::null_mut();
        let snap_p = snap_c.as_ref().map_or(ptr::null(), |s| s.as_ptr());
        // SAFETY: the context is open; name and snapshot are valid C strings (or null for the
        // head); `handle` is a valid out-pointer.
        let rc = unsafe { sys::rbd_open(io.raw(), name_c.as_ptr(), &raw mut handle, snap_p) };
        check(rc, || format!("rbd open {name}"))?;
        Ok(Self {
            handle,
            name: name.to_owned(),
        })
    }

    /// The image size in bytes.
    ///
    /// # Errors
    /// Any librbd failure.
    pub fn size(&self) -> Result<u64, CephError> {
        // SAFETY: `rbd_image_info_t` is plain data, valid when zeroed.
        let mut info: sys::rbd_image_info_t = unsafe { std::mem::zeroed() };
        // SAFETY: the image is open; `info` is a valid buffer of the size passed.
        let rc = unsafe {
            sys::rbd_stat(
                self.handle,
                &raw mut info,
                size_of::<sys::rbd_image_info_t>(),
            )
        };
        check(rc, || format!("rbd stat {}", self.name))?;
        Ok(info.size)
    }

    /// Resizes the image.
    ///
    /// # Errors
    /// Any librbd failure.
    pub fn resize(&self, size: u64) -> Result<(), CephError> {
        // SAFETY: the image is open (head, writable).
        let rc = unsafe { sys::rbd_resize(self.handle, size) };
        check(rc, || format!("rbd resize {}", self.name)).map(|_| ())
    }

    /// Sets image metadata (`conf_*` keys act as per-image configuration).
    ///
    /// # Errors
    /// Any librbd failure.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), CephError> {
        let (k, v) = (cstr(key)?, cstr(value)?);
        // SAFETY: the image is open; key and value are valid C strings.
        let rc = unsafe { sys::rbd_metadata_set(self.handle, k.as_ptr(), v.as_ptr()) };
        check(rc, || format!("rbd image-meta set {} {key}", self.name)).map(|_| ())
    }

    /// Whether snapshot `snap` exists.
    ///
    /// # Errors
    /// Any librbd failure.
    pub fn snap_exists(&self, snap: &str) -> Result<bool, CephError> {
        let s = cstr(snap)?;
        let mut exists = false;
        // SAFETY: the image is open; `exists` is a valid out-pointer.
        let rc = unsafe { sys::rbd_snap_exists(self.handle, s.as_ptr(), &raw mut exists) };
        check(rc, || format!("rbd snap exists {}@{snap}", self.name))?;
        Ok(exists)
    }

    /// Creates snapshot `snap` if absent and protects it if unprotected (idempotent).
    ///
    /// # Errors
    /// Any librbd failure.
    pub fn snap_create_protected(&self, snap: &str) -> Result<(), CephError> {
        let s = cstr(snap)?;
        if !self.snap_exists(snap)? {
            // SAFETY: the image is open (head); the name is a valid C string.
            let rc = unsafe { sys::rbd_snap_create(self.handle, s.as_ptr()) };
            check(rc, || format!("rbd snap create {}@{snap}", self.name))?;
        }
        let mut protected: c_int = 0;
        // SAFETY: as above; `protected` is a valid out-pointer.
        let rc = unsafe { sys::rbd_snap_is_protected(self.handle, s.as_ptr(), &raw mut protected) };
        check(rc, || format!("rbd snap is-protected {}@{snap}", self.name))?;
        if protected == 0 {
            // SAFETY: as above.
            let rc = unsafe { sys::rbd_snap_protect(self.handle, s.as_ptr()) };
            check(rc, || format!("rbd snap protect {}@{snap}", self.name))?;
        }
        Ok(())
    }

    /// Unprotects (if protected) and removes snapshot `snap` (absent is fine). Its clones must
    /// have been flattened first.
    ///
    /// # Errors
    /// `EBUSY` while clones depend on it, or any librbd failure.
    pub fn snap_remove(&self, snap: &str) -> Result<(), CephError> {
        if !self.snap_exists(snap)? {
            return Ok(());
        }
        let s = cstr(snap)?;
        let mut protected: c_int = 0;
        // SAFETY: the image is open (head); `protected` is a valid out-pointer.
        let rc = unsafe { sys::rbd_snap_is_protected(self.handle, s.as_ptr(), &raw mut protected) };
        check(rc, || format!("rbd snap is-protected {}@{snap}", self.name))?;
        if protected != 0 {
            // SAFETY: as above.
            let rc = unsafe { sys::rbd_snap_unprotect(self.handle, s.as_ptr()) };
            check(rc, || format!("rbd snap unprotect {}@{snap}", self.name))?;
        }
        // SAFETY: as above.
        let rc = unsafe { sys::rbd_snap_remove(self.handle, s.as_ptr()) };
        check(rc, || format!("rbd snap rm {}@{snap}", self.name)).map(|_| ())
    }

    /// Names of the clones of the snapshot this image was opened at (same pool assumed).
    ///
    /// # Errors
    /// Any librbd failure.
    pub fn children(&self) -> Result<Vec<String>, CephError> {
        let mut cap = 16usize;
        for _ in 0..LIST_GROWTH_MAX {
            let empty = sys::rbd_linked_image_spec_t {
                pool_id: 0,
                pool_name: ptr::null_mut(),
                pool_namespace: ptr::null_mut(),
                image_id: ptr::null_mut(),
                image_name: ptr::null_mut(),
                trash: false,
            };
            let mut specs = vec![empty; cap];
            let mut n = cap;
            // SAFETY: `specs` has room for `n` entries, which librbd fills (or answers ERANGE).
            let rc =
                unsafe { sys::rbd_list_children3(self.handle, specs.as_mut_ptr(), &raw mut n) };
            if rc == -libc::ERANGE {
                cap = n.max(cap * 2);
                continue;
            }
            check(rc, || format!("rbd children {}", self.name))?;
            let names = specs[..n]
                .iter()
                .filter(|s| !s.trash)
                .map(|s| owned(s.image_name))
                .collect();
            // SAFETY: frees the `n` entries librbd filled, once.
            unsafe { sys::rbd_linked_image_spec_list_cleanup(specs.as_mut_ptr(), n) };
            return Ok(names);
        }
        Err(CephError {
            op: format!("rbd children {}: kept growing", self.name),
            errno: libc::ERANGE,
        })
    }

    /// Copies the parent's data into this clone and drops the dependency.
    ///
    /// # Errors
    /// Any librbd failure.
    pub fn flatten(&self) -> Result<(), CephError> {
        // SAFETY: the image is open (head, writable).
        let rc = unsafe { sys::rbd_flatten(self.handle) };
        match check(rc, || format!("rbd flatten {}", self.name)) {
            // EINVAL: not a clone (already flattened): the goal holds.
            Err(e) if e.errno == libc::EINVAL => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Writes `data` at `offset`.
    ///
    /// # Errors
    /// Any librbd failure, or a short write.
    pub fn write(&self, offset: u64, data: &[u8]) -> Result<(), CephError> {
        // SAFETY: the image is open; `data` is valid for `len` bytes for the whole call.
        let n = unsafe {
            sys::rbd_write(
                self.handle,
                offset,
                data.len(),
                data.as_ptr().cast::<c_char>(),
            )
        };
        let rc = c_int::try_from(n.min(0)).unwrap_or(-libc::EIO);
        check(rc, || format!("rbd write {}", self.name))?;
        if usize::try_from(n).ok() != Some(data.len()) {
            return Err(CephError {
                op: format!("rbd write {}: short write", self.name),
                errno: libc::EIO,
            });
        }
        Ok(())
    }

    /// Reads `len` bytes at `offset` (zeros past the last written byte).
    ///
    /// # Errors
    /// Any librbd failure.
    pub fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>, CephError> {
        let mut buf = vec![0u8; len];
        // SAFETY: the image is open; `buf` is writable for `len` bytes for the whole call.
        let n =
            unsafe { sys::rbd_read(self.handle, offset, len, buf.as_mut_ptr().cast::<c_char>()) };
        let rc = c_int::try_from(n.min(0)).unwrap_or(-libc::EIO);
        check(rc, || format!("rbd read {}", self.name))?;
        buf.truncate(usize::try_from(n).unwrap_or(0));
        buf.resize(len, 0);
        Ok(buf)
    }

    /// Writes a LUKS2 header (AES-256) protected by `passphrase`. Slow: the KDF takes tens of
    /// seconds by design.
    ///
    /// # Errors
    /// Any librbd failure.
    pub fn format_luks2(&self, passphrase: &[u8]) -> Result<(), CephError> {
        let mut opts = sys::rbd_encryption_luks2_format_options_t {
            alg: sys::RBD_ENCRYPTION_ALGORITHM_AES256,
            passphrase: passphrase.as_ptr().cast::<c_char>(),
            passphrase_size: passphrase.len(),
        };
        // SAFETY: the image is open (head, writable); `opts` is a valid LUKS2 options struct
        // whose passphrase pointer and length describe `passphrase`, alive for the call.
        let rc = unsafe {
            sys::rbd_encryption_format(
                self.handle,
                sys::RBD_ENCRYPTION_FORMAT_LUKS2,
                (&raw mut opts).cast(),
                size_of::<sys::rbd_encryption_luks2_format_options_t>(),
            )
        };
        check(rc, || format!("rbd encryption format {} luks2", self.name)).map(|_| ())
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        // SAFETY: the handle came from rbd_open and is closed once.
        unsafe { sys::rbd_close(self.handle) };
    }
}
