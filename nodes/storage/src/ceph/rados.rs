//! A safe wrapper over the part of librados ferrocore uses: connecting with timeouts, monitor
//! commands, pool I/O contexts, object stat and omap get/set/remove.

use std::collections::BTreeMap;
use std::ffi::{CStr, CString, c_char, c_int};
use std::ptr;
use std::sync::Arc;

use ferrocore_ceph_sys as sys;

/// A failed librados or librbd call: the operation and the (positive) errno.
#[derive(Clone, Debug, Eq, PartialEq, thiserror::Error)]
#[error("{op}: {}", std::io::Error::from_raw_os_error(*errno))]
pub struct CephError {
    /// What was being done.
    pub op: String,
    /// The errno librados returned (negated back to positive).
    pub errno: i32,
}

impl CephError {
    /// Whether this means "the cluster cannot be reached" rather than "the request failed".
    pub fn is_unreachable(&self) -> bool {
        matches!(
            self.errno,
            libc::ETIMEDOUT
                | libc::ENOTCONN
                | libc::ECONNREFUSED
                | libc::ESHUTDOWN
                | libc::EHOSTUNREACH
        )
    }

    /// Whether the object or image does not exist.
    pub fn is_not_found(&self) -> bool {
        self.errno == libc::ENOENT
    }
}

/// Turns a librados return code into a result.
pub(crate) fn check(rc: c_int, op: impl FnOnce() -> String) -> Result<c_int, CephError> {
    if rc < 0 {
        return Err(CephError {
            op: op(),
            errno: rc.saturating_neg(),
        });
    }
    Ok(rc)
}

pub(crate) fn cstr(s: &str) -> Result<CString, CephError> {
    CString::new(s).map_err(|_| CephError {
        op: format!("name `{s}` contains NUL"),
        errno: libc::EINVAL,
    })
}

/// A connected cluster handle. librados handles are thread-safe.
#[derive(Debug)]
pub struct Cluster {
    handle: sys::rados_t,
}

// SAFETY: a `rados_t` may be used from any thread concurrently (librados is thread-safe for
// cluster handles); we never hand out the raw pointer.
unsafe impl Send for Cluster {}
// SAFETY: as above.
unsafe impl Sync for Cluster {}

impl Cluster {
    /// Connects as `client.<user>` with the settings of `conf`, and `timeout_secs` as the
    /// mount, monitor and OSD operation timeouts (so a dead cluster fails calls instead of
    /// hanging them).
    ///
    /// # Errors
    /// When the configuration cannot be read or the cluster does not answer in time.
    pub fn connect(conf: &str, user: &str, timeout_secs: u32) -> Result<Arc<Self>, CephError> {
        // rados_create2 takes the full entity name.
        let user_c = cstr(&format!("client.{user}"))?;
        let mut handle: sys::rados_t = ptr::null_mut();
        // SAFETY: `handle` is a valid out-pointer; the cluster and user names are valid C
        // strings that outlive the call.
        let rc =
            unsafe { sys::rados_create2(&raw mut handle, c"ceph".as_ptr(), user_c.as_ptr(), 0) };
        check(rc, || "rados_create2".into())?;
        // From here on, Drop shuts the handle down on every path.
        let cluster = Self { handle };
        let conf_c = cstr(conf)?;
        // SAFETY: the handle is a freshly created, not yet connected cluster; the path is a
        // valid C string.
        let rc = unsafe { sys::rados_conf_read_file(cluster.handle, conf_c.as_ptr()) };
        check(rc, || format!("reading {conf}"))?;
        let timeout = cstr(&timeout_secs.to_string())?;
        for key in [
            "client_mount_timeout",
            "rados_mon_op_timeout",
            "rados_osd_op_timeout",
        ] {
            let key_c = cstr(key)?;
            // SAFETY: handle not yet connected (configuration may change); both strings valid.
            let rc =
                unsafe { sys::rados_conf_set(cluster.handle, key_c.as_ptr(), timeout.as_ptr()) };
            check(rc, || format!("setting {key}"))?;
        }
        // SAFETY: the handle is configured and not yet connected.
        let rc = unsafe { sys::rados_connect(cluster.handle) };
        check(rc, || "connecting to the cluster".into())?;
        Ok(Arc::new(cluster))
    }

    /// Runs a monitor command (JSON) and returns its output buffer.
    ///
    /// # Errors
    /// When the monitors cannot be reached or refuse the command.
    pub fn mon_command(&self, json: &str) -> Result<Vec<u8>, CephError> {
        let cmd = cstr(json)?;
        let mut cmds = [cmd.as_ptr()];
        let (mut out, mut out_len) = (ptr::null_mut::<c_char>(), 0usize);
        let (mut status, mut status_len) = (ptr::null_mut::<c_char>(), 0usize);
        // SAFETY: `cmds` holds one valid C string; the input buffer is empty; the four out
        // pointers are valid and receive buffers librados allocates (freed below).
        let rc = unsafe {
            sys::rados_mon_command(
                self.handle,
                cmds.as_mut_ptr(),
                1,
                ptr::null(),
                0,
                &raw mut out,
                &raw mut out_len,
                &raw mut status,
                &raw mut status_len,
            )
        };
        let data = if out.is_null() {
            Vec::new()
        } else {
            // SAFETY: librados returned `out` with `out_len` valid bytes.
            unsafe { std::slice::from_raw_parts(out.cast::<u8>(), out_len) }.to_vec()
        };
        for buf in [out, status] {
            if !buf.is_null() {
                // SAFETY: the buffer was allocated by librados for this call and is freed once.
                unsafe { sys::rados_buffer_free(buf) };
            }
        }
        check(rc, || format!("mon command {json}"))?;
        Ok(data)
    }

    /// An I/O context on `pool`.
    ///
    /// # Errors
    /// When the pool does not exist.
    pub fn ioctx(self: &Arc<Self>, pool: &str) -> Result<IoCtx, CephError> {
        let pool_c = cstr(pool)?;
        let mut io: sys::rados_ioctx_t = ptr::null_mut();
        // SAFETY: the cluster is connected; `io` is a valid out-pointer.
        let rc = unsafe { sys::rados_ioctx_create(self.handle, pool_c.as_ptr(), &raw mut io) };
        check(rc, || format!("opening pool {pool}"))?;
        Ok(IoCtx {
            io,
            _cluster: self.clone(),
        })
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        // SAFETY: the handle came from rados_create2 and every IoCtx holds an Arc to this
        // cluster, so none outlives it.
        unsafe { sys::rados_shutdown(self.handle) };
    }
}

/// An I/O context on one pool; keeps its cluster alive.
#[derive(Debug)]
pub struct IoCtx {
    io: sys::rados_ioctx_t,
    _cluster: Arc<Cluster>,
}

// SAFETY: librados I/O contexts may be used concurrently from several threads for the
// operations used here (object ops, omap ops, librbd calls).
unsafe impl Send for IoCtx {}
// SAFETY: as above.
unsafe impl Sync for IoCtx {}

/// Entries fetched per omap read round trip: bounds the memory of one call.
const OMAP_PAGE: u64 = 512;

impl IoCtx {
    /// The raw context, for librbd calls in this crate.
    pub(crate) fn raw(&self) -> sys::rados_ioctx_t {
        self.io
    }

    /// Whether object `oid` exists (a round trip to its OSD: the health probe).
    ///
    /// # Errors
    /// When the OSD cannot be reached.
    pub fn exists(&self, oid: &str) -> Result<bool, CephError> {
        let oid_c = cstr(oid)?;
        let (mut size, mut mtime) = (0u64, 0 as sys::time_t);
        // SAFETY: the context is open; the out-pointers are valid.
        let rc = unsafe { sys::rados_stat(self.io, oid_c.as_ptr(), &raw mut size, &raw mut mtime) };
        match check(rc, || format!("stat {oid}")) {
            Ok(_) => Ok(true),
            Err(e) if e.is_not_found() => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Sets one omap key on `oid` (creating the object if needed), atomically.
    ///
    /// # Errors
    /// When the OSD cannot be reached.
    pub fn omap_set(&self, oid: &str, key: &str, value: &[u8]) -> Result<(), CephError> {
        let (oid_c, key_c) = (cstr(oid)?, cstr(key)?);
        let keys = [key_c.as_ptr()];
        let vals = [value.as_ptr().cast::<c_char>()];
        let (key_lens, val_lens) = ([key.len()], [value.len()]);
        // SAFETY: creating a write op has no preconditions; it is released below.
        let op = unsafe { sys::rados_create_write_op() };
        // SAFETY: `op` is a live write op; the arrays hold one valid key and value with their
        // lengths and outlive `operate`, which is when librados reads them.
        let rc = unsafe {
            sys::rados_write_op_create(op, sys::LIBRADOS_CREATE_IDEMPOTENT as c_int, ptr::null());
            sys::rados_write_op_omap_set2(
                op,
                keys.as_ptr(),
                vals.as_ptr(),
                key_lens.as_ptr(),
                val_lens.as_ptr(),
                1,
            );
            let rc = sys::rados_write_op_operate(op, self.io, oid_c.as_ptr(), ptr::null_mut(), 0);
            sys::rados_release_write_op(op);
            rc
        };
        check(rc, || format!("omap set {oid}/{key}")).map(|_| ())
    }

    /// Removes one omap key from `oid` (absent key or object is fine).
    ///
    /// # Errors
    /// When the OSD cannot be reached.
    pub fn omap_remove(&self, oid: &str, key: &str) -> Result<(), CephError> {
        let (oid_c, key_c) = (cstr(oid)?, cstr(key)?);
        let keys = [key_c.as_ptr()];
        let key_lens = [key.len()];
        // SAFETY: creating a write op has no preconditions; it is released below.
        let op = unsafe { sys::rados_create_write_op() };
        // SAFETY: `op` is live; the key array and lengths outlive `operate`.
        let rc = unsafe {
            sys::rados_write_op_omap_rm_keys2(op, keys.as_ptr(), key_lens.as_ptr(), 1);
            let rc = sys::rados_write_op_operate(op, self.io, oid_c.as_ptr(), ptr::null_mut(), 0);
            sys::rados_release_write_op(op);
            rc
        };
        match check(rc, || format!("omap remove {oid}/{key}")) {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Every omap entry of `oid` (none if the object does not exist).
    ///
    /// # Errors
    /// When the OSD cannot be reached.
    pub fn omap_all(&self, oid: &str) -> Result<BTreeMap<String, Vec<u8>>, CephError> {
        let mut out = BTreeMap::new();
        let mut after = String::new();
        loop {
            let (page, more) = match self.omap_page(oid, &after) {
                Err(e) if e.is_not_found() => return Ok(out),
                other => other?,
            };
            let Some(last) = page.keys().next_back().cloned() else {
                return Ok(out);
            };
            out.extend(page);
            if !more {
                return Ok(out);
            }
            after = last;
        }
    }

    fn omap_page(
        &self,
        oid: &str,
        after: &str,
    ) -> Result<(BTreeMap<String, Vec<u8>>, bool), CephError> {
        let (oid_c, after_c) = (cstr(oid)?, cstr(after)?);
        let mut iter: sys::rados_omap_iter_t = ptr::null_mut();
        let (mut more, mut prval) = (0u8, 0 as c_int);
        // SAFETY: creating a read op has no preconditions; it is released below.
        let op = unsafe { sys::rados_create_read_op() };
        // SAFETY: `op` is live; the start key is a valid C string; `iter`, `more` and `prval`
        // are valid out-pointers that librados fills during `operate`.
        let rc = unsafe {
            sys::rados_read_op_omap_get_vals2(
                op,
                after_c.as_ptr(),
                ptr::null(),
                OMAP_PAGE,
                &raw mut iter,
                &raw mut more,
                &raw mut prval,
            );
            sys::rados_read_op_operate(op, self.io, oid_c.as_ptr(), 0)
        };
        let result = check(rc, || format!("omap read {oid}"))
            .and_then(|_| check(prval, || format!("omap read {oid}")));
        let mut page = BTreeMap::new();
        if result.is_ok() && !iter.is_null() {
            loop {
                let (mut k, mut v, mut kl, mut vl) =
                    (ptr::null_mut(), ptr::null_mut(), 0usize, 0usize);
                // SAFETY: `iter` is the live iterator of this read op; the out-pointers are
                // valid; returned buffers stay valid until the iterator ends.
                let rc = unsafe {
                    sys::rados_omap_get_next2(
                        iter,
                        &raw mut k,
                        &raw mut v,
                        &raw mut kl,
                        &raw mut vl,
                    )
                };
                if rc < 0 || k.is_null() {
                    break;
                }
                // SAFETY: librados returned `kl` valid key bytes and `vl` valid value bytes.
                let (key, val) = unsafe {
                    (
                        std::slice::from_raw_parts(k.cast::<u8>(), kl),
                        if v.is_null() {
                            &[][..]
                        } else {
                            std::slice::from_raw_parts(v.cast::<u8>(), vl)
                        },
                    )
                };
                page.insert(String::from_utf8_lossy(key).into_owned(), val.to_vec());
            }
            // SAFETY: ends the iterator once; no buffer from it is used afterwards.
            unsafe { sys::rados_omap_get_end(iter) };
        }
        // SAFETY: the op is released once, after its iterator ended.
        unsafe { sys::rados_release_read_op(op) };
        result.map(|_| (page, more != 0))
    }
}

impl Drop for IoCtx {
    fn drop(&mut self) {
        // SAFETY: the context came from rados_ioctx_create and is destroyed once; the cluster
        // it belongs to is still alive (we hold an Arc to it).
        unsafe { sys::rados_ioctx_destroy(self.io) };
    }
}

/// A C string librados filled in, as an owned Rust string.
pub(crate) fn owned(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: callers pass NUL-terminated strings that librados/librbd returned and that stay
    // valid for this call.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}
