//! spindle: a Rust work-stealing pool, native kernels and a process reactor
//! for Node.js. This file holds only module lines; the `#[napi]` exports live
//! beside the concept they expose (see ARCHITECTURE.md).
#![deny(unsafe_op_in_unsafe_fn)]

pub mod bridge;
pub mod kernels;
pub mod pool;
pub mod reactor;
pub mod scheduler;
mod sync;
