//! One test per validation rule of IronCore's API (reference §4 and the defaults list): an
//! invalid object yields exactly the field path and reason upstream would give.

mod compute;
mod defaults;
mod ipam_core;
mod networking;
mod storage;
mod support;
