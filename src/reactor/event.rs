//! What the reactor tells JavaScript about a child (napi-free).
//!
//! Every event of one child is delivered, in the order it happened, through
//! that child's [`Sink`]; the napi glue turns each into a completion carrying
//! `Value::List([kind, ...])` on the same operation id.

use crate::bridge::value::Value;

/// One of a child's standard streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    Stdin = 0,
    Stdout = 1,
    Stderr = 2,
}

impl Stream {
    pub fn from_index(i: u32) -> Option<Stream> {
        match i {
            0 => Some(Stream::Stdin),
            1 => Some(Stream::Stdout),
            2 => Some(Stream::Stderr),
            _ => None,
        }
    }
}

/// Event kinds as JavaScript sees them (the first element of the list).
pub mod kind {
    pub const SPAWNED: u32 = 0;
    pub const SPAWN_FAILED: u32 = 1;
    pub const DATA: u32 = 2;
    pub const END: u32 = 3;
    pub const WRITTEN: u32 = 4;
    pub const WRITE_FAILED: u32 = 5;
    pub const EXIT: u32 = 6;
    pub const READ_FAILED: u32 = 7;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The child is running. `[0, pid]`
    Spawned { pid: i32 },
    /// It could not be started. `[1, errno]`
    SpawnFailed { errno: i32 },
    /// Bytes read from stdout or stderr, in order. `[2, stream, Buffer]`
    Data { stream: Stream, bytes: Vec<u8> },
    /// stdout or stderr reached end of file. `[3, stream]`
    End { stream: Stream },
    /// One write to stdin was flushed to the pipe, in order. `[4]`
    Written,
    /// Writing to stdin failed (EPIPE when the reader is gone); every write
    /// not yet flushed is dropped. `[5, errno]`
    WriteFailed { errno: i32 },
    /// The child ended and was reaped. `[6, code | undefined, signal | 0]`
    Exit {
        code: Option<i32>,
        signal: Option<i32>,
    },
    /// Reading stdout or stderr failed; an `End` follows. `[7, stream, errno]`
    ReadFailed { stream: Stream, errno: i32 },
}

fn num(n: impl Into<f64>) -> Value {
    Value::Number(n.into())
}

impl Event {
    /// The list JavaScript receives.
    pub fn into_value(self) -> Value {
        Value::List(match self {
            Event::Spawned { pid } => vec![num(kind::SPAWNED), num(pid)],
            Event::SpawnFailed { errno } => vec![num(kind::SPAWN_FAILED), num(errno)],
            Event::Data { stream, bytes } => {
                vec![num(kind::DATA), num(stream as u32), Value::Bytes(bytes)]
            }
            Event::End { stream } => vec![num(kind::END), num(stream as u32)],
            Event::Written => vec![num(kind::WRITTEN)],
            Event::WriteFailed { errno } => vec![num(kind::WRITE_FAILED), num(errno)],
            Event::Exit { code, signal } => vec![
                num(kind::EXIT),
                code.map_or(Value::Undefined, num),
                num(signal.unwrap_or(0)),
            ],
            Event::ReadFailed { stream, errno } => {
                vec![num(kind::READ_FAILED), num(stream as u32), num(errno)]
            }
        })
    }
}

/// Where a child's events go. Returns `false` once the receiver is gone (its
/// JavaScript environment was torn down): the reactor then closes the
/// child's pipes and only waits to reap it.
pub type Sink = Box<dyn FnMut(Event) -> bool + Send>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_encodes_absent_code_as_undefined() {
        assert_eq!(
            Event::Exit {
                code: None,
                signal: Some(9)
            }
            .into_value(),
            Value::List(vec![num(6), Value::Undefined, num(9)])
        );
        assert_eq!(
            Event::Data {
                stream: Stream::Stderr,
                bytes: b"x".to_vec()
            }
            .into_value(),
            Value::List(vec![num(2), num(2), Value::Bytes(b"x".to_vec())])
        );
    }
}
