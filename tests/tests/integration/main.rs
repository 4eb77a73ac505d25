//! ferrocore's one integration-test binary: a module per area.

mod compute;
mod dataplane;
mod reflector;
mod storage;
mod tidy;
mod validate;
