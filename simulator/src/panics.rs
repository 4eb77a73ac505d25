//! Panics inside simulated tasks: the simulated runtime catches a task's panic (the task just
//! ends), so the simulator installs a panic hook that records the message for the seed running
//! on this thread, and the next check reports it. A panic is a broken invariant somewhere.

use std::cell::{Cell, RefCell};
use std::sync::Once;

thread_local! {
    static IN_SIMULATION: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

/// Marks this thread as running a simulation (panics are recorded, not printed) until the
/// guard drops.
pub(crate) fn enter() -> Guard {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_SIMULATION.with(Cell::get) {
                let location = info
                    .location()
                    .map(|l| format!(" at {l}"))
                    .unwrap_or_default();
                let message = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "non-string panic".into());
                LAST_PANIC.with(|p| {
                    p.borrow_mut().get_or_insert(format!("{message}{location}"));
                });
            } else {
                previous(info);
            }
        }));
    });
    IN_SIMULATION.with(|c| c.set(true));
    LAST_PANIC.with(|p| p.borrow_mut().take());
    Guard
}

/// The first panic recorded on this thread since the last call.
pub(crate) fn take() -> Option<String> {
    LAST_PANIC.with(|p| p.borrow_mut().take())
}

/// Ends the simulation mode of this thread when dropped.
#[derive(Debug)]
pub(crate) struct Guard;

impl Drop for Guard {
    fn drop(&mut self) {
        IN_SIMULATION.with(|c| c.set(false));
    }
}
