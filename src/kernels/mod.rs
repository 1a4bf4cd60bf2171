//! Kernels: CPU-heavy operations on Buffers and TypedArrays that need no
//! JavaScript, run on a rayon thread pool.
//!
//! * `claims`  — sorts of overlapping memory run one after the other.
//! * `threads` — the kernel pool (size from `SPINDLE_THREADS`, `configure`).
//! * `sort`    — in-place parallel radix sort in `TypedArray.prototype.sort`
//!   order: most-significant-digit passes split the range across threads,
//!   small ranges finish with stable least-significant-digit passes.
//! * `stats`   — count/sum/min/max/mean/variance, deterministic for any thread count.
//! * `hash`    — SHA-256, SHA-512 and BLAKE3 (all threads on one large input).
//! * `exports` — the napi functions; the only file here that sees JavaScript.
//!
//! Every kernel takes a `stop` callback and polls it between bounded slices of
//! work (a chunk of a radix pass, a 64 Ki-element block, 1 MiB of input), so a
//! cancelled kernel stops within milliseconds.

pub mod claims;
pub mod exports;
pub mod hash;
pub mod sort;
pub mod stats;
pub mod threads;

/// The kernel saw its stop request and stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped;

/// A cancellation poll, shared by all threads of one kernel.
pub type Stop<'a> = &'a (dyn Fn() -> bool + Sync);
