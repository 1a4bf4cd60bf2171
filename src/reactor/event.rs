//! What the reactor tells JavaScript about a child (napi-free).
//!
//! Every event of one child is delivered, in the order it happened, through
//! that child's [`Sink`]; the napi glue turns each into a completion carrying
//! `Value::List([kind, ...])` on the same operation id.

use crate::bridge::value::Value;

pub use crate::protocol::{EventKind, Stream};

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

fn kind(k: EventKind) -> Value {
    num(k as u32)
}

fn stream_value(s: Stream) -> Value {
    num(s as u32)
}

impl Event {
    /// The list JavaScript receives.
    pub fn into_value(self) -> Value {
        Value::List(match self {
            Event::Spawned { pid } => vec![kind(EventKind::Spawned), num(pid)],
            Event::SpawnFailed { errno } => vec![kind(EventKind::SpawnFailed), num(errno)],
            Event::Data { stream, bytes } => {
                vec![
                    kind(EventKind::Data),
                    stream_value(stream),
                    Value::Bytes(bytes),
                ]
            }
            Event::End { stream } => vec![kind(EventKind::End), stream_value(stream)],
            Event::Written => vec![kind(EventKind::Written)],
            Event::WriteFailed { errno } => vec![kind(EventKind::WriteFailed), num(errno)],
            Event::Exit { code, signal } => vec![
                kind(EventKind::Exit),
                code.map_or(Value::Undefined, num),
                num(signal.unwrap_or(0)),
            ],
            Event::ReadFailed { stream, errno } => {
                vec![
                    kind(EventKind::ReadFailed),
                    stream_value(stream),
                    num(errno),
                ]
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
