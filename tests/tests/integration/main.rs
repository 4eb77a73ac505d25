//! ferrocore's one integration-test binary: a module per area.

mod cli;
mod compute;
mod dataplane;
mod machine;
mod plane;
mod reflector;
mod storage;
mod store;
mod tidy;
mod validate;
