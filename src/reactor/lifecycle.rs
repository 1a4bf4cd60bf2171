//! Starting and stopping the reactor thread (and its spawner threads), and
//! the one rule that makes it safe: `Queue::waker` is `Some` exactly while
//! a reactor thread runs.
//!
//! # States
//!
//! *Stopped* (`waker == None`) until the first command; *running* while it
//! has children or commands; *stopped* again after `Shared::idle` with
//! neither. The next command starts a fresh thread.
//!
//! # The handshake
//!
//! A caller that submits a command takes the queue lock, appends the
//! command and either wakes the running thread or — when `waker` is
//! `None` — starts a new one (creating its `Poll` and `Waker` first, so the
//! wake handle exists before the thread does) and sets `waker`, all under
//! that lock. The reactor thread stops only after it has found, *under the
//! same lock*, that the queue is empty and it has no children; it clears
//! `waker` before releasing the lock. A thread that panics clears it too.
//! So a command is never left in a queue that no thread will read. A
//! submitter wakes the thread only when the queue was empty: a non-empty
//! queue has had its wake, and the thread drains the whole queue under the
//! lock after that wake. The mutex provides all the ordering; no atomics
//! take part.
//!
//! # Shutdown order
//!
//! The reactor thread starts the spawner threads and owns the sending half
//! of their channel; when it stops, dropping the driver closes the channel
//! and the spawner threads end after their current job.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex};

use mio::{Poll, Waker};

use super::command::Command;
use super::driver::{Driver, WAKER};
use super::event::Event;
use super::shared::Shared;
use super::spawner;
use super::sys;
use crate::lock::lock;

/// Queues `cmd` and makes sure a reactor thread will read it.
pub(crate) fn submit(shared: &Arc<Shared>, cmd: Command) {
    let mut queue = lock(&shared.queue);
    let first = queue.commands.is_empty();
    queue.commands.push(cmd);
    if let Some(waker) = &queue.waker {
        // Only the first command since the thread last drained the queue
        // needs a wake (one syscall per batch). A failed wake (eventfd
        // full) still leaves the thread awake.
        if first {
            let _ = waker.wake();
        }
        return;
    }
    match start(shared) {
        Ok(waker) => {
            // The new thread's first poll must see this command at once,
            // not after the idle timeout.
            let _ = waker.wake();
            queue.waker = Some(waker)
        }
        Err(e) => {
            // No thread: fail every queued spawn and drop the rest.
            let cmds = std::mem::take(&mut queue.commands);
            drop(queue);
            let errno = e.raw_os_error().unwrap_or(libc::EAGAIN);
            for cmd in cmds {
                if let Command::Spawn {
                    key, mut sink, job, ..
                } = cmd
                {
                    shared.forget(key);
                    // Nobody could watch it: do not leave it unsupervised.
                    job.abandon();
                    sink(Event::SpawnFailed { errno });
                }
            }
        }
    }
}

/// Starts a reactor thread (called with the queue lock held).
fn start(shared: &Arc<Shared>) -> io::Result<Arc<Waker>> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
    let shared = shared.clone();
    // The thread starts with every signal blocked (see sys.rs).
    sys::with_signals_blocked(|| {
        std::thread::Builder::new()
            .name("spindle-reactor".into())
            .spawn(move || {
                let again = shared.clone();
                let body = std::panic::AssertUnwindSafe(|| run(shared, poll));
                if std::panic::catch_unwind(body).is_err() {
                    // A bug, not an expected path: let the next command
                    // start a fresh thread rather than queue forever.
                    lock(&again.queue).waker = None;
                }
            })
    })?;
    Ok(waker)
}

/// The reactor thread's body: spawner threads, then the driver's turns
/// until it is idle and the queue is empty.
fn run(shared: Arc<Shared>, poll: Poll) {
    shared.threads_started.fetch_add(1, Ordering::Relaxed);
    let (tx, rx) = mpsc::channel();
    let rx = Arc::new(Mutex::new(rx));
    let mut spawners = 0;
    for _ in 0..spawner::THREADS {
        let (rx, shared) = (rx.clone(), shared.clone());
        let report = move |key, result: Result<spawner::Spawned, i32>| {
            if let Ok(spawned) = &result {
                shared.attach(key, &spawned.ctl);
            }
            submit(&shared, Command::Spawned { key, result });
        };
        // Each inherits this thread's fully blocked signal mask.
        let ok = std::thread::Builder::new()
            .name("spindle-spawner".into())
            .spawn(move || spawner::run(rx, report))
            .is_ok();
        spawners += ok as usize;
    }
    // With no spawner thread, the driver runs each job itself.
    let tx = (spawners > 0).then_some(tx);
    let mut driver = Driver::new(shared.clone(), poll, tx);
    loop {
        let busy = driver.turn();
        if !busy && driver.is_idle() {
            let mut queue = lock(&shared.queue);
            if queue.commands.is_empty() {
                queue.waker = None;
                // Dropping the driver closes the spawners' channel.
                return;
            }
        }
    }
}
