//! ferrocore's one integration-test binary: a module per area.

mod dataplane;
mod storage;
mod tidy;
mod validate;
