//! spindle: a Rust work-stealing pool, native kernels and a process reactor
//! for Node.js. This file holds only module lines; the `#[napi]` exports live
//! beside the concept they expose (see ARCHITECTURE.md). Only what the
//! Rust integration tests (`tests/`) use is public: the reactor's API.

// napi-derive registers `#[napi]` exports only outside `cfg(test)`, so in
// the unit-test build everything reached only from them looks unused; the
// normal build (and clippy on it) still reports dead code.
#![cfg_attr(test, allow(dead_code))]

pub(crate) mod bridge;
pub(crate) mod kernels;
mod lock;
pub(crate) mod pool;
pub(crate) mod protocol;
pub mod reactor;
pub(crate) mod scheduler;
mod sync;
