//! The one way back: completion queues and the batched wake of each JavaScript
//! environment's event loop.
//!
//! # Design
//!
//! Every producer (a kernel on the rayon pool, a pool worker, the reactor
//! thread) finishes by calling [`sink::Sink::complete`] on the [`port::Port`]
//! of the environment that asked (its `PortInner` is the [`sink::Sink`]:
//! producers see only that napi-free trait, so they are tested without
//! Node). The port owns:
//!
//! * a [`queue::CompletionQueue`]: a mutex-protected `Vec` plus a `wake_pending`
//!   flag. The first push after a drain flips the flag and makes exactly one
//!   `napi_call_threadsafe_function`; later pushes only append. When the event
//!   loop runs the threadsafe function it clears the flag *before* taking the
//!   items, so a push that races with the drain either lands in this batch or
//!   triggers a new wake — never neither (see `queue.rs` for the argument).
//! * a [`job::Jobs`] registry of work that borrows JavaScript memory (the
//!   TypedArray a sort runs on). When the environment is torn down (a worker
//!   is terminated, the process exits) the cleanup hook cancels every job and
//!   waits for the running ones to stop touching that memory before V8 frees
//!   it. Kernels check for cancellation in bounded slices, so the wait is short.
//!
//! # Liveness
//!
//! The threadsafe function starts unreferenced. JavaScript refs it when its
//! count of outstanding operations goes from 0 to 1 and unrefs it when the
//! count returns to 0, so the loop stays alive exactly while work is pending.
//!
//! # Teardown order
//!
//! 0. `Port::new` registers the env cleanup hook, and fails (no port, an
//!    error in JavaScript) if Node refuses it: every step below rests on it.
//! 1. The env cleanup hook closes the queue (later pushes are dropped),
//!    cancels all jobs and waits for the running ones.
//! 2. Node finalizes the threadsafe function; the finalizer clears the raw
//!    handle under a write lock so no producer can call it afterwards.
//! 3. The last `Arc<PortInner>` (held by producers) frees the port.

pub mod buffers;
pub mod job;
pub mod port;
pub mod queue;
pub mod sink;
pub(crate) mod status;
pub mod value;
