//! The deterministic simulator: the whole cluster in one thread from one seed, with seeded
//! network, disk and process faults, invariants checked after every step, and replay.
//!
//! It is not a test double of the cluster: it runs the real consensus nodes (openraft on its
//! simulated runtime, the durable log on a simulated disk, the object store), the API's real
//! admission, and the components that have landed (see [`component`]'s list); what it fakes is
//! only the world around them: time, the network, disks, crashes, and clients.
//!
//! Start with [`run_seed`]; `ferrocore sim` (cli) runs batches of seeds. docs/simulator.md
//! describes the model, the invariants and how to add a component.
//!
//! - `rt` — virtual time, sleep, spawn on openraft's `SimRuntime`; `trace` — the trace hash.
//! - `options` — what a run is asked to do, and the per-seed (swarm) configuration.
//! - `net`, `raft_link`, `disk`, `controller` — the simulated world: network with drop, delay,
//!   reorder, replay and partitions; disks that crash and tear; controller processes.
//! - `front` — the API's admission as a controller runs it; `client`, `workload`, `watcher`,
//!   `history` — simulated clients and the record of what they saw.
//! - `component`, `allocator` — how cores and fakes join; the IP allocator.
//! - `nemesis` — the fault schedule; `observer`, `agreed`, `checks`, `invariants` (one file per
//!   rule), `lincheck` — what is checked; `run` — one seed's phases; `report`, `bench`.

mod agreed;
mod allocator;
mod batch;
pub mod bench;
mod checks;
mod client;
mod component;
mod controller;
mod ctx;
mod disk;
mod front;
mod history;
mod invariants;
mod lincheck;
mod nemesis;
mod net;
mod observer;
mod options;
mod panics;
mod raft_link;
mod report;
mod rt;
mod run;
mod trace;
mod watcher;
mod workload;

pub use batch::{default_jobs, run_batch};
pub use invariants::Violation;
pub use nemesis::FaultCounts;
pub use options::{Options, PlantedBug, STEPS_DEFAULT};
pub use report::{Failure, SeedReport, Stats};
pub use rt::SimTime;
pub use run::run_seed;
pub use trace::TraceHash;
