//! What callers ask the reactor thread to do (the command queue's items).

use std::sync::Arc;

use super::event::{Sink, Stream};
use super::spawner::{Job, Spawned};
use super::stdin::{Chunk, StdinLink};

/// A message for the reactor thread, about the child with key `key`.
pub(crate) enum Command {
    /// A new child: its events go to `sink`; `job` (run on a spawner thread)
    /// starts it or waits for its exec.
    Spawn {
        key: u64,
        job: Job,
        /// The request's `output_credit` (`usize::MAX`: none).
        credit: usize,
        sink: Sink,
        link: Arc<StdinLink>,
    },
    /// From a spawner thread: the child runs, or could not be started.
    Spawned {
        key: u64,
        result: Result<Spawned, i32>,
    },
    Write {
        key: u64,
        data: Chunk,
    },
    CloseStdin {
        key: u64,
    },
    SetPaused {
        key: u64,
        stream: Stream,
        paused: bool,
    },
    CloseOutput {
        key: u64,
        stream: Stream,
    },
    Ack {
        key: u64,
        stream: Stream,
        bytes: usize,
    },
    Release {
        key: u64,
    },
}
