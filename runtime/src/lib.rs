//! ferrocore's runtime: the only crate that reads clocks, draws randomness from the operating
//! system, spawns tasks and owns sockets.
//!
//! Everything nondeterministic enters the rest of the workspace through the seams defined here:
//! [`Clock`] for time and [`Rng`] for randomness (and, as they land, `Net`, `Disk`, spawning and
//! the QUIC transport). Each seam has a real implementation and a deterministic one
//! ([`ManualClock`], [`SeededRng`]) that tests and the simulator drive.
//!
//! It is not where decisions are made: cores in other crates take time and randomness as inputs.

mod clock;
mod disk;
mod rng;
mod task;

pub use clock::{Clock, ManualClock, MonoTime, SystemClock, WallTime};
pub use disk::{Disk, DiskFile, SimDisk, StdDisk, Tear, write_atomic};
pub use rng::{OsSeededRng, Rng, SeededRng};
pub use task::{WORKER_THREADS, build_runtime, sleep, spawn};
