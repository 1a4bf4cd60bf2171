//! The reactor thread: one mio `Poll` over every child's pidfd and stdio
//! sockets ("pipes" below, as Node calls them),
//! a `Waker` for the command queue, and the per-child state machine.
//!
//! # Loop
//!
//! 1. `poll` (no timeout while children live; the idle timeout when none do;
//!    zero when a stream is in `ready`, below).
//! 2. Handle readiness: read stdout/stderr until `WouldBlock` (edge
//!    triggered), write queued stdin until `WouldBlock`, reap exited children.
//! 3. Take the whole command queue under its lock and apply it.
//! 4. Serve `ready`: streams that hit their per-turn read budget (4 MiB) or
//!    were resumed after backpressure. Both need a read without a fresh
//!    edge, so they are remembered here rather than waiting for epoll.
//!
//! With no children, nothing queued and a turn in which nothing happened,
//! the thread may stop (the handshake is in `lifecycle.rs`, which runs the
//! turns).
//!
//! # Throughput
//!
//! Each piped stream is a Unix stream socket (`sys::socketpair`, as in
//! libuv), not a pipe: a pipe's reader and writer share one mutex held for a
//! whole copy, so the child spun while the reactor read. The spawner asks
//! for 1 MiB send buffers (`spawner::SEND_BUFFER`). A cold stream is read
//! into one reusable 1 MiB scratch buffer and each `Data` event gets an
//! exact-size copy (a short line costs a short allocation). A stream that
//! moves more than 128 KiB in one turn turns *hot* and is read straight into
//! each event's own 1 MiB buffer, with no copy.
//!
//! # Flow control
//!
//! Two brakes stop reading a stream: JavaScript's pause (its Readable is
//! full: `SetPaused`), and credit (`SpawnRequest::output_credit`): once that
//! many bytes have been delivered and not yet acknowledged (`Ack`), reading
//! stops, and reads are sized so as never to exceed the credit. The credit
//! bounds what can pile up in the completion queue while the event loop is
//! busy and cannot pause anyone. Either brake's release puts the stream in
//! `ready`, since no new edge will come for data already in the pipe.
//!
//! # A child's life
//!
//! `Spawn` puts it in `children` in [`Phase::Spawning`] before its exec has
//! completed, so writes, `close_stdin`, pauses and releases that arrive
//! early are kept and applied when `Spawned` arrives ([`Phase::Running`]). After that: the pidfd becomes readable
//! when the process ends, and it is reaped at once (`waitid(P_PIDFD)`), even
//! if its pipes are still open — a grandchild holding stdout does not delay
//! `Exit` ([`Phase::Exited`]). The child leaves `children` once it is reaped, stdout and stderr
//! have reached EOF (or were closed) and the owner has released it (or its
//! sink reported the owner gone). Its stdin closes then at the latest.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::mpsc;
use std::sync::Arc;

use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};

use super::child::ChildCtl;
use super::command::Command;
use super::event::{Event, Sink, Stream};
use super::shared::Shared;
use super::spawner::{Job, Spawned};
use super::stdin::{Chunk, StdinLink};
use super::sys::{self, ExitStatus};
use crate::lock::lock;

pub(crate) const WAKER: Token = Token(usize::MAX);

/// A `Data` event is sent once this much has accumulated (the scratch size).
const EMIT_AT: usize = 1024 * 1024;
/// An output stream that moves this much in one turn turns hot (see `hot`).
const HOT_AFTER: usize = 128 * 1024;
/// Most bytes read from one stream per turn, for fairness between children.
const READ_BUDGET: usize = 4 * 1024 * 1024;

const SOURCE_PIDFD: usize = 0;

/// A mio token: the child key and which of its descriptors (the pidfd, or
/// a stream: `source_of`) became ready.
fn token(key: u64, source: usize) -> Token {
    Token(((key as usize) << 2) | source)
}

fn source_of(stream: Stream) -> usize {
    stream as usize + 1
}

/// Where a child is in its life (the driver's view).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Handed to a spawner thread: not exec'd yet (or not even started);
    /// commands that need its pipes are kept until `Spawned` arrives.
    Spawning,
    /// Exec'd: its pipes and pidfd are registered.
    Running,
    /// Reaped; its pipes may still be open (a grandchild holding stdout).
    Exited,
}

struct Child {
    sink: Sink,
    ctl: Option<Arc<ChildCtl>>,
    phase: Phase,
    pipes: [Option<OwnedFd>; 3],
    /// The stdin handshake with callers that write directly (`stdin.rs`):
    /// told before the stdin descriptor is closed or dropped.
    link: Arc<StdinLink>,
    /// Writes not yet flushed to stdin, and how much of the first is done.
    queue: VecDeque<Chunk>,
    offset: usize,
    close_stdin: bool,
    paused: [bool; 3],
    /// Whether an output stream is hot: it moved ≥ `HOT_AFTER` in one turn
    /// and is now read straight into whole event buffers.
    hot: [bool; 3],
    /// Outputs closed by the owner before the spawn completed.
    close_early: [bool; 3],
    /// Flow control: delivered, unacknowledged output bytes per stream, and
    /// the most allowed (`usize::MAX`: no flow control).
    unacked: [usize; 3],
    credit: usize,
    /// The owner let go (or is gone): nothing more is delivered.
    released: bool,
}

impl Drop for Child {
    fn drop(&mut self) {
        // Runs before the fields (and so the stdin descriptor) are dropped.
        self.link.close();
    }
}

impl Child {
    /// Forgets every queued stdin write (they will never be flushed).
    fn drop_queue(&mut self) {
        self.link.finished(self.queue.len());
        self.queue.clear();
        self.offset = 0;
    }

    fn emit(&mut self, ev: Event) {
        if self.released {
            return;
        }
        if !(self.sink)(ev) {
            // The owner is gone (its environment was torn down).
            self.released = true;
        }
    }

    /// Whether the spawn has completed (its pipes are known).
    fn started(&self) -> bool {
        self.phase != Phase::Spawning
    }

    fn done(&self) -> bool {
        self.phase == Phase::Exited
            && self.released
            && self.pipes[1].is_none()
            && self.pipes[2].is_none()
    }
}

fn close_pipe(registry: &Registry, child: &mut Child, stream: Stream) {
    if stream == Stream::Stdin {
        child.link.close();
    }
    if let Some(fd) = child.pipes[stream as usize].take() {
        let _ = registry.deregister(&mut SourceFd(&fd.as_raw_fd()));
    }
}

pub(crate) struct Driver {
    shared: Arc<Shared>,
    poll: Poll,
    children: HashMap<u64, Child>,
    ready: VecDeque<(u64, Stream)>,
    spawner: Option<mpsc::Sender<(u64, Job)>>,
    /// Where output is read before it is copied into an event.
    scratch: Vec<u8>,
    events: Events,
}

impl Driver {
    /// A driver over `poll` (whose waker is registered as [`WAKER`]); jobs
    /// go to the spawner threads through `spawner`, or run here if `None`.
    pub fn new(
        shared: Arc<Shared>,
        poll: Poll,
        spawner: Option<mpsc::Sender<(u64, Job)>>,
    ) -> Driver {
        Driver {
            shared,
            poll,
            children: HashMap::new(),
            ready: VecDeque::new(),
            spawner,
            scratch: vec![0; EMIT_AT],
            events: Events::with_capacity(256),
        }
    }

    /// Whether no child is left and no stream waits for a read.
    pub fn is_idle(&self) -> bool {
        self.children.is_empty() && self.ready.is_empty()
    }

    /// One turn of the loop (see the module note); returns whether anything
    /// happened (an event or a command).
    pub fn turn(&mut self) -> bool {
        let timeout = if !self.ready.is_empty() {
            Some(std::time::Duration::ZERO)
        } else if self.children.is_empty() {
            Some(self.shared.idle)
        } else {
            None
        };
        let mut events = std::mem::replace(&mut self.events, Events::with_capacity(0));
        if let Err(e) = self.poll.poll(&mut events, timeout) {
            self.events = events;
            if e.kind() != io::ErrorKind::Interrupted {
                // epoll_wait only fails on programming errors; avoid a spin.
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            return true;
        }
        let mut busy = false;
        for ev in events.iter() {
            busy = true;
            if ev.token() == WAKER {
                continue;
            }
            let key = (ev.token().0 >> 2) as u64;
            match ev.token().0 & 3 {
                SOURCE_PIDFD => self.reap(key),
                1 => self.pump_stdin(key),
                2 => self.pump_output(key, Stream::Stdout),
                _ => self.pump_output(key, Stream::Stderr),
            }
        }
        self.events = events;
        let commands = std::mem::take(&mut lock(&self.shared.queue).commands);
        busy |= !commands.is_empty();
        for cmd in commands {
            self.command(cmd);
        }
        for _ in 0..self.ready.len() {
            if let Some((key, stream)) = self.ready.pop_front() {
                self.pump_output(key, stream);
            }
        }
        busy
    }

    /// Forgets a child entirely (it is done, or never started).
    fn forget(&mut self, key: u64) -> Option<Child> {
        self.shared.forget(key);
        self.children.remove(&key)
    }

    fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Spawn {
                key,
                job,
                credit,
                sink,
                link,
            } => {
                self.children.insert(
                    key,
                    Child {
                        sink,
                        ctl: None,
                        phase: Phase::Spawning,
                        pipes: [None, None, None],
                        link,
                        queue: VecDeque::new(),
                        offset: 0,
                        close_stdin: false,
                        paused: [false; 3],
                        hot: [false; 3],
                        close_early: [false; 3],
                        unacked: [0; 3],
                        credit,
                        released: false,
                    },
                );
                let unsent = match &self.spawner {
                    Some(tx) => tx.send((key, job)).err().map(|e| e.0 .1),
                    None => Some(job),
                };
                if let Some(job) = unsent {
                    // No spawner thread: run the job here rather than fail.
                    let result = job.run();
                    if let Ok(s) = &result {
                        self.shared.attach(key, &s.ctl);
                    }
                    self.spawned(key, result);
                }
            }
            Command::Spawned { key, result } => self.spawned(key, result),
            Command::Write { key, data } => {
                let Some(child) = self.children.get_mut(&key) else {
                    return;
                };
                if child.started() && (child.pipes[0].is_none() || child.close_stdin) {
                    child.link.finished(1);
                    child.emit(Event::WriteFailed { errno: libc::EPIPE });
                    return;
                }
                child.queue.push_back(data);
                if child.started() {
                    self.pump_stdin(key);
                }
            }
            Command::CloseStdin { key } => {
                if let Some(child) = self.children.get_mut(&key) {
                    child.close_stdin = true;
                    if child.started() {
                        self.pump_stdin(key);
                    }
                }
            }
            Command::SetPaused {
                key,
                stream,
                paused,
            } => {
                if let Some(child) = self.children.get_mut(&key) {
                    child.paused[stream as usize] = paused;
                    if !paused && child.started() {
                        self.ready.push_back((key, stream));
                    }
                }
            }
            Command::Ack { key, stream, bytes } => {
                if let Some(child) = self.children.get_mut(&key) {
                    let i = stream as usize;
                    let was_blocked = child.unacked[i] >= child.credit;
                    child.unacked[i] = child.unacked[i].saturating_sub(bytes);
                    if was_blocked && child.unacked[i] < child.credit && child.started() {
                        self.ready.push_back((key, stream));
                    }
                }
            }
            Command::CloseOutput { key, stream } => {
                if let Some(child) = self.children.get_mut(&key) {
                    if child.started() {
                        close_pipe(self.poll.registry(), child, stream);
                        self.finish_if_done(key);
                    } else {
                        // Applied when the spawn completes.
                        child.close_early[stream as usize] = true;
                    }
                }
            }
            Command::Release { key } => {
                if let Some(child) = self.children.get_mut(&key) {
                    child.released = true;
                    if child.started() {
                        self.drop_io(key);
                    }
                }
            }
        }
    }

    fn spawned(&mut self, key: u64, result: Result<Spawned, i32>) {
        let Some(child) = self.children.get_mut(&key) else {
            return;
        };
        child.phase = Phase::Running;
        let spawned = match result {
            Ok(s) => s,
            Err(errno) => {
                child.emit(Event::SpawnFailed { errno });
                self.forget(key);
                return;
            }
        };
        let registry = self.poll.registry();
        let pidfd = spawned.ctl.pidfd.as_raw_fd();
        if let Err(e) = registry.register(
            &mut SourceFd(&pidfd),
            token(key, SOURCE_PIDFD),
            Interest::READABLE,
        ) {
            // Cannot watch it: kill it and report the failure as a spawn error.
            let _ = spawned.ctl.signal(libc::SIGKILL, false);
            let _ = sys::reap_blocking(&spawned.ctl.pidfd);
            child.emit(Event::SpawnFailed {
                errno: e.raw_os_error().unwrap_or(libc::EIO),
            });
            self.forget(key);
            return;
        }
        let pid = spawned.ctl.pid;
        child.ctl = Some(spawned.ctl);
        child.pipes = [spawned.stdin, spawned.stdout, spawned.stderr];
        for stream in [Stream::Stdin, Stream::Stdout, Stream::Stderr] {
            let Some(fd) = &child.pipes[stream as usize] else {
                continue;
            };
            let interest = if stream == Stream::Stdin {
                Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            if registry
                .register(
                    &mut SourceFd(&fd.as_raw_fd()),
                    token(key, source_of(stream)),
                    interest,
                )
                .is_err()
            {
                // Unwatchable pipe: close it (the child sees EOF/EPIPE).
                child.pipes[stream as usize] = None;
                if stream != Stream::Stdin {
                    child.emit(Event::End { stream });
                }
            }
        }
        if let Some(fd) = &child.pipes[0] {
            child.link.open(fd.as_raw_fd());
        }
        child.emit(Event::Spawned { pid });
        for stream in [Stream::Stdout, Stream::Stderr] {
            if child.close_early[stream as usize] {
                close_pipe(registry, child, stream);
            }
        }
        if child.released {
            self.drop_io(key);
        } else {
            self.pump_stdin(key);
        }
    }

    /// Closes every pipe of a released child; it stays until reaped.
    fn drop_io(&mut self, key: u64) {
        let Some(child) = self.children.get_mut(&key) else {
            return;
        };
        let registry = self.poll.registry();
        for stream in [Stream::Stdin, Stream::Stdout, Stream::Stderr] {
            close_pipe(registry, child, stream);
        }
        child.drop_queue();
        self.finish_if_done(key);
    }

    fn finish_if_done(&mut self, key: u64) {
        let done = match self.children.get_mut(&key) {
            Some(child) if child.released && !child.done() && child.started() => {
                // Released: nothing more is delivered, close what is left.
                let registry = self.poll.registry();
                for stream in [Stream::Stdin, Stream::Stdout, Stream::Stderr] {
                    close_pipe(registry, child, stream);
                }
                child.done()
            }
            Some(child) => child.done(),
            None => false,
        };
        if done {
            if let Some(mut child) = self.forget(key) {
                close_pipe(self.poll.registry(), &mut child, Stream::Stdin);
            }
        }
    }

    fn reap(&mut self, key: u64) {
        let Some(child) = self.children.get_mut(&key) else {
            return;
        };
        let Some(ctl) = child.ctl.clone() else {
            return;
        };
        let status = {
            let mut reaped = lock(&ctl.reaped);
            if *reaped {
                return;
            }
            match sys::try_reap(&ctl.pidfd) {
                Ok(Some(status)) => {
                    *reaped = true;
                    status
                }
                // Not yet (a spurious wake-up) or an error we cannot act on.
                _ => return,
            }
        };
        let _ = self
            .poll
            .registry()
            .deregister(&mut SourceFd(&ctl.pidfd.as_raw_fd()));
        child.phase = Phase::Exited;
        let (code, signal) = match status {
            ExitStatus::Code(c) => (Some(c), None),
            ExitStatus::Signal(s) => (None, Some(s)),
        };
        child.emit(Event::Exit { code, signal });
        self.finish_if_done(key);
    }

    fn pump_stdin(&mut self, key: u64) {
        let Some(child) = self.children.get_mut(&key) else {
            return;
        };
        while let Some(front) = child.queue.front() {
            let Some(fd) = &child.pipes[0] else {
                // Not piped, or already failed/closed.
                child.drop_queue();
                child.emit(Event::WriteFailed { errno: libc::EPIPE });
                break;
            };
            if child.offset == front.len() {
                child.queue.pop_front();
                child.offset = 0;
                child.link.finished(1);
                child.emit(Event::Written);
                continue;
            }
            let Some(result) = child.link.write_queued(fd, front, child.offset) else {
                // Revoked: the owner let go of the memory; nothing is reported.
                child.drop_queue();
                break;
            };
            match result {
                Ok(n) => child.offset += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    child.drop_queue();
                    close_pipe(self.poll.registry(), child, Stream::Stdin);
                    child.emit(Event::WriteFailed {
                        errno: e.raw_os_error().unwrap_or(libc::EIO),
                    });
                    break;
                }
            }
        }
        if child.close_stdin && child.queue.is_empty() {
            close_pipe(self.poll.registry(), child, Stream::Stdin);
        }
    }

    fn pump_output(&mut self, key: u64, stream: Stream) {
        let Some(child) = self.children.get_mut(&key) else {
            return;
        };
        let i = stream as usize;
        if child.paused[i] || child.unacked[i] >= child.credit {
            // Paused by JavaScript, or out of credit: an ack or a resume
            // puts the stream back in `ready`.
            return;
        }
        let Some(fd) = &child.pipes[i] else {
            return;
        };
        let credit_left = child.credit - child.unacked[i];
        // A cold stream is read into the reusable scratch buffer and each
        // event gets an exact-size copy (a short line costs a short
        // allocation). A hot one (see `hot`) is read straight into
        // the event's own 1 MiB buffer: no copy on the busy path.
        let hot = child.hot[i];
        let scratch = &mut self.scratch;
        let mut chunk: Vec<u8> = Vec::new();
        let mut filled = 0;
        let mut total = 0;
        let mut events = Vec::new();
        let ended = loop {
            let got = if hot {
                if chunk.capacity() == 0 {
                    chunk.reserve_exact(EMIT_AT);
                }
                sys::read_spare(fd, &mut chunk, credit_left - total)
            } else {
                let room = (scratch.len() - filled).min(credit_left - total);
                sys::read(fd, &mut scratch[filled..filled + room])
            };
            match got {
                Ok(0) => break Some(None),
                Ok(n) => {
                    total += n;
                    if hot && chunk.len() == chunk.capacity() {
                        let bytes = std::mem::take(&mut chunk);
                        events.push(Event::Data { stream, bytes });
                    } else if !hot {
                        filled += n;
                        if filled == scratch.len() {
                            let bytes = scratch[..filled].to_vec();
                            events.push(Event::Data { stream, bytes });
                            filled = 0;
                        }
                    }
                    if total >= credit_left {
                        break None; // until acknowledged
                    }
                    if total >= READ_BUDGET {
                        self.ready.push_back((key, stream));
                        break None;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break None,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Some(Some(e.raw_os_error().unwrap_or(libc::EIO))),
            }
        };
        if !chunk.is_empty() {
            if chunk.len() < chunk.capacity() / 4 {
                chunk.shrink_to_fit();
            }
            events.push(Event::Data {
                stream,
                bytes: chunk,
            });
        }
        if filled > 0 {
            let bytes = scratch[..filled].to_vec();
            events.push(Event::Data { stream, bytes });
        }
        if ended.is_none() && total >= HOT_AFTER {
            // A sustained producer: whole event buffers from here on.
            child.hot[i] = true;
        }
        child.unacked[i] = child.unacked[i].saturating_add(total);
        for ev in events {
            child.emit(ev);
        }
        if let Some(error) = ended {
            close_pipe(self.poll.registry(), child, stream);
            if let Some(errno) = error {
                child.emit(Event::ReadFailed { stream, errno });
            }
            child.emit(Event::End { stream });
            self.finish_if_done(key);
        } else if child.released {
            self.finish_if_done(key);
        }
    }
}
