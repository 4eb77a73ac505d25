//! ferrocore's one integration-test binary: a module per area.

mod storage;
mod tidy;
