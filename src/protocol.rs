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
