//! The reactor's API: [`Reactor`], what the napi layer and Rust callers use
//! to start children, feed them, signal them and let them go.
//!
//! # Signalling
//!
//! [`Reactor::kill`] runs on the caller's thread (JavaScript's `kill()` is
//! synchronous). It finds the child's `ChildCtl` in the registry and
//! signals it through its pidfd (see `child.rs`). A child not started yet
//! is `Registered::Pending`; signals sent then are queued there and the spawner
//! thread delivers them under the registry lock in the same step that
//! publishes the control block, so none is lost. A child started on the
//! caller's thread ([`Reactor::adopt`]) is `Running` from the start.

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::command::Command;
use super::event::{Sink, Stream};
use super::lifecycle;
use super::request::SpawnRequest;
use super::shared::{Registered, Shared};
use super::spawner::{Job, Started};
use super::stdin::{Borrowed, Chunk, StdinLink, TryWrite};
use crate::lock::lock;

/// How long an idle reactor thread (no children, no commands) lingers
/// before it exits. The next spawn starts a fresh one.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// The process reactor: one thread (started on first use, stopped when
/// idle) that spawns children, moves their bytes and reaps them.
///
/// # Example
///
/// ```
/// # #[cfg(reactor)] {
/// use spindle::reactor::{Event, Reactor, SpawnRequest, Stream};
/// let (tx, rx) = std::sync::mpsc::channel();
/// let reactor = Reactor::new(std::time::Duration::from_millis(100));
/// let req = SpawnRequest::new("echo", &["hi"]).unwrap();
/// reactor.spawn(req, Box::new(move |ev| tx.send(ev).is_ok()));
/// let mut out = Vec::new();
/// loop {
///     match rx.recv().unwrap() {
///         Event::Data { stream: Stream::Stdout, bytes } => out.extend(bytes),
///         Event::Exit { code, .. } => { assert_eq!(code, Some(0)); break }
///         _ => {}
///     }
/// }
/// # }
/// ```
#[derive(Clone)]
pub struct Reactor {
    shared: Arc<Shared>,
}

impl Reactor {
    /// A reactor of its own (tests); most code uses [`Reactor::global`].
    pub fn new(idle: Duration) -> Reactor {
        Reactor {
            shared: Arc::new(Shared::new(idle)),
        }
    }

    /// The process-wide reactor.
    pub fn global() -> &'static Reactor {
        static GLOBAL: OnceLock<Reactor> = OnceLock::new();
        GLOBAL.get_or_init(|| Reactor::new(IDLE_TIMEOUT))
    }

    /// Starts spawning `req`; every event of the child goes to `sink`.
    /// Returns the child's key for the other methods.
    pub fn spawn(&self, req: SpawnRequest, sink: Sink) -> u64 {
        let credit = req.output_credit.unwrap_or(usize::MAX);
        self.submit_spawn(
            Registered::Pending(Vec::new()),
            Job::Spawn(Box::new(req)),
            credit,
            sink,
        )
    }

    /// Hands the reactor a child already started on this thread
    /// ([`spawner::start_child`](super::spawner::start_child)): a spawner
    /// thread waits for its exec, then `Spawned` and everything after it
    /// go to `sink`. It can be signalled at once.
    pub(crate) fn adopt(&self, started: Started, credit: Option<usize>, sink: Sink) -> u64 {
        let entry = Registered::Running(started.ctl.clone());
        self.submit_spawn(
            entry,
            Job::Finish(started),
            credit.unwrap_or(usize::MAX),
            sink,
        )
    }

    fn submit_spawn(&self, entry: Registered, job: Job, credit: usize, sink: Sink) -> u64 {
        let (key, link) = self.shared.register(entry);
        lifecycle::submit(
            &self.shared,
            Command::Spawn {
                key,
                job,
                credit,
                sink,
                link,
            },
        );
        key
    }

    /// Writes as much of `data` to the child's stdin as its pipe takes now,
    /// on this thread, when no earlier write waits on the reactor. Whatever
    /// is not written must be passed to [`Reactor::write`] next (it has been
    /// counted as pending). No event follows the directly written part.
    pub fn try_write(&self, key: u64, data: &[u8]) -> TryWrite {
        let link = lock(&self.shared.links).get(&key).cloned();
        match link {
            Some(link) => link.try_write(data),
            None => TryWrite::Wrote(0),
        }
    }

    /// Queues `data` for the child's stdin; an `Event::Written` (or
    /// `WriteFailed`) follows once it is flushed.
    pub fn write(&self, key: u64, data: Vec<u8>) {
        lifecycle::submit(
            &self.shared,
            Command::Write {
                key,
                data: Chunk::Owned(data),
            },
        );
    }

    /// Queues `data` for the child's stdin *without copying it*.
    ///
    /// # Safety
    /// `data` must stay valid and unmoved until the `Written` or
    /// `WriteFailed` event for it, or until [`Reactor::release`] returns or
    /// the link's owner environment is torn down (see `stdin.rs`).
    pub unsafe fn write_borrowed(&self, key: u64, data: &[u8]) {
        lifecycle::submit(
            &self.shared,
            Command::Write {
                key,
                // SAFETY: forwarded contract.
                data: Chunk::Borrowed(unsafe { Borrowed::new(data) }),
            },
        );
    }

    /// The child's stdin link (to register it for its owner's teardown).
    pub fn stdin_link(&self, key: u64) -> Option<Arc<StdinLink>> {
        lock(&self.shared.links).get(&key).cloned()
    }

    /// Closes stdin once every queued write is flushed.
    pub fn close_stdin(&self, key: u64) {
        lifecycle::submit(&self.shared, Command::CloseStdin { key });
    }

    /// Stops (or resumes) reading stdout or stderr: backpressure.
    pub fn set_paused(&self, key: u64, stream: Stream, paused: bool) {
        lifecycle::submit(
            &self.shared,
            Command::SetPaused {
                key,
                stream,
                paused,
            },
        );
    }

    /// Acknowledges `bytes` of a stream's output as consumed, returning that
    /// much credit (only meaningful with `SpawnRequest::output_credit`).
    pub fn ack(&self, key: u64, stream: Stream, bytes: usize) {
        lifecycle::submit(&self.shared, Command::Ack { key, stream, bytes });
    }

    /// Closes our end of stdout or stderr before EOF (the reader went away):
    /// the child's next write fails (ECONNRESET or EPIPE) or raises SIGPIPE,
    /// as under `child_process`.
    pub fn close_output(&self, key: u64, stream: Stream) {
        lifecycle::submit(&self.shared, Command::CloseOutput { key, stream });
    }

    /// The caller is done with the child: no more events; its pipes close.
    /// It is still reaped when it exits.
    pub fn release(&self, key: u64) {
        // Synchronously: once this returns, no queued write touches memory
        // that the caller lent (`write_borrowed`).
        let link = lock(&self.shared.links).remove(&key);
        if let Some(link) = link {
            // (The map's lock is released first: a revoke may wait for a write.)
            link.revoke();
        }
        lifecycle::submit(&self.shared, Command::Release { key });
    }

    /// Sends `signal` to the child (or its process group). `Err(ESRCH)` if
    /// it has been reaped or is unknown.
    pub fn kill(&self, key: u64, signal: i32, group: bool) -> Result<(), i32> {
        let ctl = {
            let mut reg = lock(&self.shared.registry);
            match reg.get_mut(&key) {
                None => return Err(libc::ESRCH),
                Some(Registered::Pending(queued)) => {
                    queued.push((signal, group));
                    return Ok(());
                }
                Some(Registered::Running(ctl)) => ctl.clone(),
            }
        };
        ctl.signal(signal, group)
    }

    /// The child's pid, once it runs.
    pub fn pid(&self, key: u64) -> Option<i32> {
        match lock(&self.shared.registry).get(&key) {
            Some(Registered::Running(ctl)) => Some(ctl.pid),
            _ => None,
        }
    }

    /// Whether a reactor thread is running now.
    pub fn is_running(&self) -> bool {
        lock(&self.shared.queue).waker.is_some()
    }

    /// Children not yet fully finished (spawning, running, or unreaped).
    pub fn live_children(&self) -> usize {
        lock(&self.shared.registry).len()
    }

    /// How many reactor threads have been started so far.
    pub fn threads_started(&self) -> u64 {
        self.shared.threads_started.load(Ordering::Relaxed)
    }
}
