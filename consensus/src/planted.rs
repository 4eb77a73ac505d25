//! Test-only planted bugs for the simulator's sensitivity tests (docs/simulator.md).
//!
//! With the cargo feature `planted-bugs` off (the default) every switch here is a constant
//! `false` and the compiler removes the buggy branches. With it on, a switch is per thread: the
//! simulator runs one seed per thread, so a seed that plants a bug cannot leak it into another.

#[cfg(feature = "planted-bugs")]
mod switches {
    use std::cell::Cell;

    thread_local! {
        static SKIP_RESOURCE_VERSION_CHECK: Cell<bool> = const { Cell::new(false) };
    }

    /// Plants (or removes) the bug "the store skips the `resourceVersion` precondition" on
    /// this thread.
    pub fn set_skip_resource_version_check(on: bool) {
        SKIP_RESOURCE_VERSION_CHECK.with(|c| c.set(on));
    }

    /// Whether that bug is planted on this thread.
    pub fn skip_resource_version_check() -> bool {
        SKIP_RESOURCE_VERSION_CHECK.with(Cell::get)
    }
}

#[cfg(feature = "planted-bugs")]
pub use switches::{set_skip_resource_version_check, skip_resource_version_check};

/// Whether the `resourceVersion` check is skipped: always `false` without `planted-bugs`.
#[cfg(not(feature = "planted-bugs"))]
pub fn skip_resource_version_check() -> bool {
    false
}
