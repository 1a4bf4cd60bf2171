//! The state the reactor's callers and its threads share: the command
//! queue, and per child key its control block and its stdin link.
//!
//! Everything here is behind a mutex; the lock/unlock pairs order all of
//! it. Who may start or stop the reactor thread (the `waker` field) is the
//! business of `lifecycle.rs` alone.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mio::Waker;

use super::child::ChildCtl;
use super::command::Command;
use super::stdin::StdinLink;
use crate::lock::lock;

/// What the registry knows about a child key.
pub(crate) enum Registered {
    /// Not started yet (a spawner thread is starting it): signals sent now
    /// are delivered once it runs.
    Pending(Vec<(i32, bool)>),
    /// Started: signals go to its pidfd.
    Running(Arc<ChildCtl>),
}

/// The command queue and the reactor thread's wake handle.
pub(crate) struct Queue {
    pub commands: Vec<Command>,
    /// `Some` exactly while a reactor thread runs (see `lifecycle.rs`).
    pub waker: Option<Arc<Waker>>,
}

pub(crate) struct Shared {
    pub queue: Mutex<Queue>,
    pub registry: Mutex<HashMap<u64, Registered>>,
    /// Each child's stdin handshake, for direct writes (`stdin.rs`).
    pub links: Mutex<HashMap<u64, Arc<StdinLink>>>,
    next_key: AtomicU64,
    /// How long an idle reactor thread lingers before it exits.
    pub idle: Duration,
    /// Reactor threads started so far (statistics).
    pub threads_started: AtomicU64,
}

impl Shared {
    pub fn new(idle: Duration) -> Shared {
        Shared {
            queue: Mutex::new(Queue {
                commands: Vec::new(),
                waker: None,
            }),
            registry: Mutex::new(HashMap::new()),
            links: Mutex::new(HashMap::new()),
            next_key: AtomicU64::new(1),
            idle,
            threads_started: AtomicU64::new(0),
        }
    }

    /// A fresh child key, registered as `entry` with a new stdin link.
    /// (`Relaxed`: the counter orders nothing; keys only need to differ.)
    pub fn register(&self, entry: Registered) -> (u64, Arc<StdinLink>) {
        let key = self.next_key.fetch_add(1, Ordering::Relaxed);
        lock(&self.registry).insert(key, entry);
        let link = StdinLink::new();
        lock(&self.links).insert(key, link.clone());
        (key, link)
    }

    /// Publishes a started child's control block and delivers the signals
    /// sent while it was pending (spawner thread).
    pub fn attach(&self, key: u64, ctl: &Arc<ChildCtl>) {
        let mut reg = lock(&self.registry);
        if let Some(Registered::Pending(signals)) =
            reg.insert(key, Registered::Running(ctl.clone()))
        {
            for (signal, group) in signals {
                let _ = ctl.signal(signal, group);
            }
        }
    }

    /// Forgets the child `key`: no more signals or direct writes reach it.
    pub fn forget(&self, key: u64) {
        lock(&self.registry).remove(&key);
        lock(&self.links).remove(&key);
    }
}
