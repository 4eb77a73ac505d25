//! A metalbond wire-compatible route reflector (`ferrocore reflector`) and the client library
//! network nodes use to announce and receive routes.
//!
//! Status: not built yet (see README.md).
