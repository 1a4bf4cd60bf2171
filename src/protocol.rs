//! Every integer that crosses between JavaScript and Rust, in one place.
//!
//! Each is a `#[napi]` enum: JavaScript takes the values from the generated
//! binding (`binding.EventKind.Exit`, never a literal `6`), and a value
//! coming in is checked by napi's conversion (an unknown number is a
//! `TypeError`, not a silent default).
//!
//! Conventions:
//! * A failure's errno crosses as its negative (`-errno`), in the same
//!   number that otherwise carries the answer (bytes written, 0 for done);
//!   no answer is ever negative, so the two never collide.

use napi_derive::napi;

/// What happened to a child: the first element of each reactor event
/// (`[kind, ...]`; see `reactor::event::Event` for the rest of each list).
#[napi]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// `[Spawned, pid]`: the child has exec'd.
    Spawned = 0,
    /// `[SpawnFailed, errno]`: it could not be started.
    SpawnFailed = 1,
    /// `[Data, stream, Buffer]`: bytes read from stdout or stderr.
    Data = 2,
    /// `[End, stream]`: stdout or stderr reached end of file.
    End = 3,
    /// `[Written]`: one queued stdin write was flushed.
    Written = 4,
    /// `[WriteFailed, errno]`: writing stdin failed; queued writes dropped.
    WriteFailed = 5,
    /// `[Exit, code | undefined, signal | 0]`: the child was reaped.
    Exit = 6,
    /// `[ReadFailed, stream, errno]`: reading failed; an `End` follows.
    ReadFailed = 7,
}

/// One of a child's standard streams.
#[napi]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
}

/// How one of a child's standard descriptors is set up (native path).
#[napi]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StdioMode {
    /// A socket to the reactor.
    Pipe = 0,
    /// The parent's own descriptor of the same number.
    Inherit = 1,
    /// `/dev/null`.
    Ignore = 2,
}

/// How an operation's completion ended: the `status` of each
/// `[id, status, value]` triple of a delivered batch.
#[napi]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompletionStatus {
    /// `value` is the result.
    Ok = 0,
    /// `value` is an `Error` (with a `code`).
    Error = 1,
    /// The operation saw its cancellation and stopped; `value` is undefined.
    Aborted = 2,
    /// `value` is what the operation failed with, for JavaScript to decode
    /// (a pool task's serialized exception).
    Rejected = 3,
    /// `value` is a progress message; more completions of the id follow.
    Message = 4,
}

/// What `Port.cancel(id)` found.
#[napi]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// Finished already (or unknown): its completion is on the way or done.
    TooLate = 0,
    /// Cancelled before it started: no completion will come.
    BeforeStart = 1,
    /// Running, and asked to stop: an `Aborted` (or its result) follows.
    WhileRunning = 2,
}

/// What a pool's `cancel(id)` answers when it is not the thread id of the
/// worker running the task (thread ids are never negative).
#[napi]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskCancel {
    /// Finished already: its result is on the way.
    TooLate = -1,
    /// Removed before it started.
    BeforeStart = -2,
}

/// What a pool worker's `take()` answers when it is not a task slot. Task
/// slots start at [`FIRST_TASK_SLOT`] and wrap back to it, so a slot is
/// never one of these.
#[napi]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeSignal {
    /// Nothing to do: the worker parks until its port wakes it.
    Parked = 0,
    /// This thread's own subtasks' results wait for its event loop: return
    /// to it without parking.
    Yield = 1,
    /// All it found were subtasks it forked with a signal, which another
    /// worker must run: return to the event loop and look again soon.
    Away = 2,
}

/// The first task slot `take()` hands out (see [`TakeSignal`]).
pub const FIRST_TASK_SLOT: u32 = 3;

/// The tag in front of a value that crosses threads as an array
/// (`lib/pool/values.js`): a binary value `[tag, bytes]` of that type, a
/// serialized value with its large parts beside it `[Side, bytes, ...]`, or
/// a value that travels by `postMessage` `[Shared, key]`. Rust carries the
/// tag without reading it; both JavaScript ends take it from here.
#[napi]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueTag {
    ArrayBuffer = 0,
    Uint8Array = 1,
    Int8Array = 2,
    Uint8ClampedArray = 3,
    Int16Array = 4,
    Uint16Array = 5,
    Int32Array = 6,
    Uint32Array = 7,
    Float32Array = 8,
    Float64Array = 9,
    BigInt64Array = 10,
    BigUint64Array = 11,
    DataView = 12,
    Buffer = 13,
    Side = -1,
    Shared = -2,
}
