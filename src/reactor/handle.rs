//! The public face of the reactor: [`Reactor`] (submit commands, signal
//! children) and the state it shares with its threads.
//!
//! # Threads and their states
//!
//! `State::waker` is `Some` exactly while a reactor thread is running. A
//! caller that submits a command takes the `state` lock, appends the command
//! and either wakes the running thread or — when `waker` is `None` — starts a
//! new one (creating its `Poll` and `Waker` first, so the wake handle exists
//! before the thread does). The reactor thread stops only after it has found,
//! *under the same lock*, that the command queue is empty and it has no
//! children; it sets `waker = None` before releasing the lock. So a command
//! is never left in a queue that no thread will read. A submitter wakes the
//! thread only when the queue was empty: a non-empty queue has had its wake,
//! and the thread drains the whole queue under the lock after that wake. The mutex provides all
//! the ordering; no atomics take part in this handshake.
//!
//! # Signalling
//!
//! [`Reactor::kill`] runs on the caller's thread (JavaScript's `kill()` is
//! synchronous). It finds the child's [`ChildCtl`] in the registry and calls
//! `pidfd_send_signal`, which can never reach a process that reused the pid.
//! A child still being spawned has a `Pending` slot; signals sent then are
//! queued there and the spawner thread delivers them under the registry lock
//! in the same step that publishes the control block, so none is lost.
//! Signalling a whole process group (`kill(-pgid)`) has no pidfd form; it is
//! done while holding `ChildCtl::reaped` and only if the leader is not reaped
//! yet, and the reactor thread holds the same lock while reaping. An
//! unreaped leader keeps its pid, hence the group id, from being reused.

use std::collections::HashMap;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use mio::{Poll, Waker};

use super::driver;
use super::event::{Sink, Stream};
use super::request::SpawnRequest;
use super::spawner::{Job, Spawned, Started};
use super::stdin::{Borrowed, Chunk, StdinLink, TryWrite};
use super::sys;

/// How long an idle reactor thread (no children, no commands) lingers
/// before it exits. The next spawn starts a fresh one.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(2);

/// A running child's identity, shared by the reactor thread and callers of
/// [`Reactor::kill`]. The pidfd stays open as long as anyone holds this.
pub struct ChildCtl {
    pub pid: libc::pid_t,
    pub pidfd: OwnedFd,
    /// The child leads its own process group (detached or `new_group`).
    pub own_group: bool,
    /// Set by the reactor thread when it reaps the child, under this lock.
    pub reaped: Mutex<bool>,
}

impl ChildCtl {
    pub fn new(pid: libc::pid_t, pidfd: OwnedFd, own_group: bool) -> ChildCtl {
        ChildCtl {
            pid,
            pidfd,
            own_group,
            reaped: Mutex::new(false),
        }
    }

    /// Signals the child, or its whole group when `group` is set and it
    /// leads one. Returns the errno on failure (ESRCH once it is gone).
    pub fn signal(&self, signal: i32, group: bool) -> Result<(), i32> {
        let res = if group && self.own_group {
            let reaped = lock(&self.reaped);
            if *reaped {
                return Err(libc::ESRCH);
            }
            sys::kill_group(self.pid, signal)
        } else {
            sys::pidfd_send_signal(&self.pidfd, signal)
        };
        res.map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
    }
}

/// Locks, recovering from poisoning: every critical section here leaves the
/// data consistent even if it unwinds.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A message for the reactor thread.
pub(crate) enum Command {
    Spawn {
        key: u64,
        job: Job,
        /// The request's `output_credit` (`usize::MAX`: none).
        credit: usize,
        sink: Sink,
        link: Arc<StdinLink>,
    },
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

pub(crate) enum Slot {
    /// Being spawned: signals to deliver once it runs.
    Pending(Vec<(i32, bool)>),
    Running(Arc<ChildCtl>),
}

pub(crate) struct State {
    pub commands: Vec<Command>,
    pub waker: Option<Arc<Waker>>,
}

pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub registry: Mutex<HashMap<u64, Slot>>,
    /// Each child's stdin handshake, for direct writes (`stdin.rs`).
    pub links: Mutex<HashMap<u64, Arc<StdinLink>>>,
    next_key: AtomicU64,
    pub idle: Duration,
    threads_started: AtomicU64,
}

impl Shared {
    /// Queues `cmd` and makes sure a reactor thread will read it.
    pub fn submit(self: &Arc<Self>, cmd: Command) {
        let mut state = lock(&self.state);
        let first = state.commands.is_empty();
        state.commands.push(cmd);
        if let Some(waker) = &state.waker {
            // Only the first command since the thread last drained the queue
            // needs a wake: that wake is still ahead of the drain, which
            // takes every command queued by then (one syscall per batch).
            // A failed wake (eventfd full) still leaves the thread awake.
            if first {
                let _ = waker.wake();
            }
            return;
        }
        match self.start_thread() {
            Ok(waker) => {
                // The new thread's first poll must see this command at once,
                // not after the idle timeout.
                let _ = waker.wake();
                state.waker = Some(waker)
            }
            Err(e) => {
                // No thread: fail every queued spawn and drop the rest.
                let cmds = std::mem::take(&mut state.commands);
                drop(state);
                let errno = e.raw_os_error().unwrap_or(libc::EAGAIN);
                for cmd in cmds {
                    if let Command::Spawn {
                        key, mut sink, job, ..
                    } = cmd
                    {
                        lock(&self.registry).remove(&key);
                        lock(&self.links).remove(&key);
                        // Nobody could watch it: do not leave it unsupervised.
                        job.abandon();
                        sink(super::event::Event::SpawnFailed { errno });
                    }
                }
            }
        }
    }

    fn start_thread(self: &Arc<Self>) -> io::Result<Arc<Waker>> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), driver::WAKER)?);
        let shared = self.clone();
        // The thread starts with every signal blocked (see sys.rs).
        sys::with_signals_blocked(|| {
            std::thread::Builder::new()
                .name("spindle-reactor".into())
                .spawn(move || {
                    let again = shared.clone();
                    let run = std::panic::AssertUnwindSafe(|| driver::run(shared, poll));
                    if std::panic::catch_unwind(run).is_err() {
                        // A bug, not an expected path: let the next command
                        // start a fresh thread rather than queue forever.
                        lock(&again.state).waker = None;
                    }
                })
        })?;
        self.threads_started.fetch_add(1, Ordering::Relaxed);
        Ok(waker)
    }

    /// Publishes a freshly spawned child's control block and delivers the
    /// signals sent while it was being spawned (spawner thread).
    pub fn attach(&self, key: u64, ctl: &Arc<ChildCtl>) {
        let mut reg = lock(&self.registry);
        if let Some(Slot::Pending(signals)) = reg.insert(key, Slot::Running(ctl.clone())) {
            for (signal, group) in signals {
                let _ = ctl.signal(signal, group);
            }
        }
    }
}

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
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    commands: Vec::new(),
                    waker: None,
                }),
                registry: Mutex::new(HashMap::new()),
                links: Mutex::new(HashMap::new()),
                next_key: AtomicU64::new(1),
                idle,
                threads_started: AtomicU64::new(0),
            }),
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
            Slot::Pending(Vec::new()),
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
        let slot = Slot::Running(started.ctl.clone());
        self.submit_spawn(
            slot,
            Job::Finish(started),
            credit.unwrap_or(usize::MAX),
            sink,
        )
    }

    fn submit_spawn(&self, slot: Slot, job: Job, credit: usize, sink: Sink) -> u64 {
        let key = self.shared.next_key.fetch_add(1, Ordering::Relaxed);
        lock(&self.shared.registry).insert(key, slot);
        let link = StdinLink::new();
        lock(&self.shared.links).insert(key, link.clone());
        self.shared.submit(Command::Spawn {
            key,
            job,
            credit,
            sink,
            link,
        });
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
        self.shared.submit(Command::Write {
            key,
            data: Chunk::Owned(data),
        });
    }

    /// Queues `data` for the child's stdin *without copying it*.
    ///
    /// # Safety
    /// `data` must stay valid and unmoved until the `Written` or
    /// `WriteFailed` event for it, or until [`Reactor::release`] returns or
    /// the link's owner environment is torn down (see `stdin.rs`).
    pub unsafe fn write_borrowed(&self, key: u64, data: &[u8]) {
        self.shared.submit(Command::Write {
            key,
            // SAFETY: forwarded contract.
            data: Chunk::Borrowed(unsafe { Borrowed::new(data) }),
        });
    }

    /// The child's stdin link (to register it for its owner's teardown).
    pub fn stdin_link(&self, key: u64) -> Option<Arc<StdinLink>> {
        lock(&self.shared.links).get(&key).cloned()
    }

    /// Closes stdin once every queued write is flushed.
    pub fn close_stdin(&self, key: u64) {
        self.shared.submit(Command::CloseStdin { key });
    }

    /// Stops (or resumes) reading stdout or stderr: backpressure.
    pub fn set_paused(&self, key: u64, stream: Stream, paused: bool) {
        self.shared.submit(Command::SetPaused {
            key,
            stream,
            paused,
        });
    }

    /// Acknowledges `bytes` of a stream's output as consumed, returning that
    /// much credit (only meaningful with `SpawnRequest::output_credit`).
    pub fn ack(&self, key: u64, stream: Stream, bytes: usize) {
        self.shared.submit(Command::Ack { key, stream, bytes });
    }

    /// Closes our end of stdout or stderr before EOF (the reader went away):
    /// the child's next write fails (ECONNRESET or EPIPE) or raises SIGPIPE,
    /// as under `child_process`.
    pub fn close_output(&self, key: u64, stream: Stream) {
        self.shared.submit(Command::CloseOutput { key, stream });
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
        self.shared.submit(Command::Release { key });
    }

    /// Sends `signal` to the child (or its process group). `Err(ESRCH)` if
    /// it has been reaped or is unknown.
    pub fn kill(&self, key: u64, signal: i32, group: bool) -> Result<(), i32> {
        let ctl = {
            let mut reg = lock(&self.shared.registry);
            match reg.get_mut(&key) {
                None => return Err(libc::ESRCH),
                Some(Slot::Pending(queued)) => {
                    queued.push((signal, group));
                    return Ok(());
                }
                Some(Slot::Running(ctl)) => ctl.clone(),
            }
        };
        ctl.signal(signal, group)
    }

    /// The child's pid, once it runs.
    pub fn pid(&self, key: u64) -> Option<i32> {
        match lock(&self.shared.registry).get(&key) {
            Some(Slot::Running(ctl)) => Some(ctl.pid),
            _ => None,
        }
    }

    /// Whether a reactor thread is running now.
    pub fn is_running(&self) -> bool {
        lock(&self.shared.state).waker.is_some()
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
