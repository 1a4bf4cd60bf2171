//! Sleeping workers: WAITING ones block on a condvar for a bounded slice;
//! PARKED ones have returned to their event loop and are woken by calling
//! their waker. See the protocol in `mod.rs`.
//!
//! `permits` closes the window between a worker announcing itself idle and
//! actually blocking: a notification that finds no one blocked leaves a
//! permit, and the next `wait` consumes it instead of sleeping.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// Wakes one parked worker (a threadsafe-function call into its environment).
pub type Waker = Arc<dyn Fn() + Send + Sync>;

#[derive(Default)]
struct State {
    wakers: Vec<Option<Waker>>,
    parked: Vec<usize>,
    waiting: usize,
    permits: usize,
    parks: u64,
    wakes: u64,
}

#[derive(Default)]
pub(super) struct Sleep {
    state: Mutex<State>,
    cond: Condvar,
}

impl Sleep {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_waker(&self, index: usize, waker: Waker) {
        let mut s = self.lock();
        while s.wakers.len() <= index {
            s.wakers.push(None);
        }
        s.wakers[index] = Some(waker);
    }

    /// Forgets a worker. True if it was parked (the caller fixes `idle`).
    pub fn remove(&self, index: usize) -> bool {
        let mut s = self.lock();
        if let Some(w) = s.wakers.get_mut(index) {
            *w = None;
        }
        let was = s.parked.iter().position(|&i| i == index);
        if let Some(p) = was {
            s.parked.swap_remove(p);
        }
        was.is_some()
    }

    /// Blocks for at most `limit` unless a permit is available.
    pub fn wait(&self, limit: Duration) {
        let mut s = self.lock();
        if s.permits > 0 {
            s.permits -= 1;
            return;
        }
        s.waiting += 1;
        let (mut s, _) = self
            .cond
            .wait_timeout_while(s, limit, |s| s.permits == 0)
            .unwrap_or_else(|e| e.into_inner());
        s.waiting -= 1;
        if s.permits > 0 {
            s.permits -= 1;
        }
    }

    pub fn park(&self, index: usize) {
        let mut s = self.lock();
        s.parked.push(index);
        s.parks += 1;
    }

    /// Takes the worker off the parked list. False if a submitter already
    /// did (and is waking it).
    pub fn unpark(&self, index: usize) -> bool {
        let mut s = self.lock();
        match s.parked.iter().position(|&i| i == index) {
            Some(p) => {
                s.parked.swap_remove(p);
                true
            }
            None => false,
        }
    }

    /// Wakes one sleeper: a WAITING one if any (cheap), else a PARKED one,
    /// whose waker is returned for the caller to invoke outside the lock.
    pub fn wake_one(&self) -> Option<Waker> {
        let mut s = self.lock();
        if s.waiting > s.permits {
            s.permits += 1;
            drop(s);
            self.cond.notify_one();
            return None;
        }
        if let Some(index) = s.parked.pop() {
            s.wakes += 1;
            return s.wakers.get(index).cloned().flatten();
        }
        // Someone is between announcing itself idle and sleeping: leave a
        // permit (bounded by the number of workers).
        if s.permits < s.wakers.len() {
            s.permits += 1;
        }
        None
    }

    /// Wakes everyone; returns one entry per parked worker (its waker, if
    /// it still has one).
    pub fn wake_all(&self) -> Vec<Option<Waker>> {
        let mut s = self.lock();
        s.permits = s.waiting;
        let parked = std::mem::take(&mut s.parked);
        s.wakes += parked.len() as u64;
        let wakers = parked
            .iter()
            .map(|&i| s.wakers.get(i).cloned().flatten())
            .collect();
        drop(s);
        self.cond.notify_all();
        wakers
    }

    pub fn counters(&self) -> (u64, u64) {
        let s = self.lock();
        (s.parks, s.wakes)
    }
}
