//! spindle: a Rust work-stealing pool, native kernels and a process reactor
//! for Node.js. This file holds only module lines; the `#[napi]` exports live
//! beside the concept they expose (see ARCHITECTURE.md).

pub mod bridge;
pub mod kernels;
mod lock;
pub mod pool;
pub mod protocol;
pub mod reactor;
pub mod scheduler;
mod sync;
