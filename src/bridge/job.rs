//! Cancellation state of one operation, and the per-environment registry of
//! operations that borrow JavaScript memory.
//!
//! # States of a job
//!
//! ```text
//!   QUEUED --start--> RUNNING --finish--> DONE
//!     |                  |
//!   cancel             cancel
//!     v                  v
//!  CANCELLED          STOPPING --finish--> DONE
//! ```
//!
//! * `cancel` on a QUEUED job wins the race against `start` by CAS: the job
//!   never runs and never touches its input, so JavaScript may settle the
//!   promise at once and let go of the input.
//! * `cancel` on a RUNNING job moves it to STOPPING; the job polls
//!   [`JobCtl::should_stop`] between bounded slices of work and ends with
//!   `Outcome::Aborted`. JavaScript waits for that completion, so an in-place
//!   sort is never touched by the kernel after its promise settles.
//!
//! Orderings: the CASes are `AcqRel` so a job that starts sees everything
//! written before submission; `should_stop` is a `Relaxed` load because it is
//! only a hint polled in a loop — the `Acquire` in `finish`'s removal from the
//! registry (a mutex) orders everything else.
//!
//! The atomics, mutex and condvar come from `crate::sync`, so the
//! `loom_model` tests at the bottom check this very code: `start` against
//! `cancel`, and teardown's wait against a finishing job.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::sync::{lock, wait_timeout_while, AtomicU8, Condvar, Mutex, MutexGuard, Ordering};

const QUEUED: u8 = 0;
const RUNNING: u8 = 1;
const STOPPING: u8 = 2;
const CANCELLED: u8 = 3;
const DONE: u8 = 4;

/// What `cancel` achieved (crosses to JavaScript as
/// `protocol::CancelOutcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cancel {
    /// Unknown id or already finished: the result is on its way.
    TooLate,
    /// The job had not started and never will.
    BeforeStart,
    /// The job is running and will stop soon, completing with `Aborted`.
    WhileRunning,
}

#[derive(Debug)]
pub struct JobCtl {
    state: AtomicU8,
}

impl Default for JobCtl {
    fn default() -> Self {
        Self::new()
    }
}

impl JobCtl {
    pub fn new() -> Self {
        JobCtl {
            state: AtomicU8::new(QUEUED),
        }
    }

    /// QUEUED → RUNNING. False when the job was cancelled before it started.
    pub fn start(&self) -> bool {
        self.state
            .compare_exchange(QUEUED, RUNNING, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Polled by running work between slices.
    pub fn should_stop(&self) -> bool {
        self.state.load(Ordering::Relaxed) == STOPPING
    }

    pub fn cancel(&self) -> Cancel {
        let mut cur = self.state.load(Ordering::Acquire);
        loop {
            let (next, result) = match cur {
                QUEUED => (CANCELLED, Cancel::BeforeStart),
                RUNNING => (STOPPING, Cancel::WhileRunning),
                STOPPING => return Cancel::WhileRunning,
                _ => return Cancel::TooLate,
            };
            match self
                .state
                .compare_exchange(cur, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return result,
                Err(actual) => cur = actual,
            }
        }
    }

    pub fn finish(&self) {
        self.state.store(DONE, Ordering::Release);
    }
}

/// The jobs of one environment that have not finished yet.
#[derive(Default)]
pub struct Jobs {
    map: Mutex<HashMap<u32, Arc<JobCtl>>>,
    idle: Condvar,
}

impl Jobs {
    fn lock(&self) -> MutexGuard<'_, HashMap<u32, Arc<JobCtl>>> {
        lock(&self.map)
    }

    pub fn register(&self, id: u32) -> Arc<JobCtl> {
        let ctl = Arc::new(JobCtl::new());
        self.lock().insert(id, ctl.clone());
        ctl
    }

    pub fn cancel(&self, id: u32) -> Cancel {
        let mut map = self.lock();
        let Some(ctl) = map.get(&id) else {
            return Cancel::TooLate;
        };
        let result = ctl.cancel();
        if result == Cancel::BeforeStart {
            map.remove(&id);
            self.idle.notify_all();
        }
        result
    }

    /// Called by a job once it no longer touches its inputs.
    pub fn finish(&self, id: u32, ctl: &JobCtl) {
        ctl.finish();
        let mut map = self.lock();
        map.remove(&id);
        if map.is_empty() {
            self.idle.notify_all();
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cancels everything and waits (at most `limit`) until no job runs.
    /// Returns whether every job stopped in time.
    pub fn cancel_all_and_wait(&self, limit: Duration) -> bool {
        let mut map = self.lock();
        map.retain(|_, ctl| ctl.cancel() != Cancel::BeforeStart);
        let (map, timed_out) = wait_timeout_while(&self.idle, map, limit, |m| !m.is_empty());
        drop(map);
        !timed_out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_before_start_prevents_running() {
        let ctl = JobCtl::new();
        assert_eq!(ctl.cancel(), Cancel::BeforeStart);
        assert!(!ctl.start());
    }

    #[test]
    fn cancel_while_running_asks_to_stop() {
        let ctl = JobCtl::new();
        assert!(ctl.start());
        assert!(!ctl.should_stop());
        assert_eq!(ctl.cancel(), Cancel::WhileRunning);
        assert!(ctl.should_stop());
        assert_eq!(ctl.cancel(), Cancel::WhileRunning);
        ctl.finish();
        assert_eq!(ctl.cancel(), Cancel::TooLate);
    }

    #[test]
    fn start_and_cancel_race_has_one_winner() {
        for _ in 0..1000 {
            let ctl = Arc::new(JobCtl::new());
            let c2 = ctl.clone();
            let t = std::thread::spawn(move || c2.start());
            let cancelled = ctl.cancel();
            let started = t.join().unwrap();
            match cancelled {
                Cancel::BeforeStart => assert!(!started),
                Cancel::WhileRunning => assert!(started),
                Cancel::TooLate => unreachable!(),
            }
        }
    }

    #[test]
    fn cancel_all_waits_for_running_jobs() {
        let jobs = Arc::new(Jobs::default());
        let queued = jobs.register(1);
        let running = jobs.register(2);
        assert!(running.start());
        let j2 = jobs.clone();
        let worker = std::thread::spawn(move || {
            while !running.should_stop() {
                std::thread::yield_now();
            }
            std::thread::sleep(Duration::from_millis(20));
            j2.finish(2, &running);
        });
        assert!(jobs.cancel_all_and_wait(Duration::from_secs(10)));
        assert!(jobs.is_empty());
        assert!(!queued.start());
        worker.join().unwrap();
    }
}

#[cfg(all(test, loom))]
mod loom_model {
    //! `JobCtl`'s transitions and `Jobs`' teardown wait, under every
    //! interleaving loom explores.
    use super::*;
    use loom::sync::Arc as LArc;

    /// `start` and `cancel` race: exactly one wins, and a job that started
    /// and was cancelled sees `should_stop`.
    #[test]
    fn start_and_cancel_have_one_winner() {
        loom::model(|| {
            let ctl = LArc::new(JobCtl::new());
            let c2 = ctl.clone();
            let runner = loom::thread::spawn(move || {
                if !c2.start() {
                    return None;
                }
                let stop = c2.should_stop();
                c2.finish();
                Some(stop)
            });
            let cancelled = ctl.cancel();
            let ran = runner.join().unwrap();
            match (cancelled, ran) {
                (Cancel::BeforeStart, None) => {}
                (Cancel::WhileRunning, Some(_)) | (Cancel::TooLate, Some(false)) => {}
                other => panic!("impossible outcome {other:?}"),
            }
            // Settled: nothing more to cancel.
            assert!(ctl.cancel() != Cancel::BeforeStart);
        });
    }

    /// Teardown cancels everything and waits until no job runs: a running
    /// job that finishes wakes it (no timeout is needed: loom's waits never
    /// time out), and a job cancelled before it started never starts. (One
    /// job: the registry is a HashMap, whose iteration order is random, and
    /// loom needs every run of a model to be deterministic.)
    #[test]
    fn cancel_all_waits_for_the_running_job() {
        loom::model(|| {
            let jobs = LArc::new(Jobs::default());
            let ctl = jobs.register(1);
            let j2 = jobs.clone();
            let worker = loom::thread::spawn(move || {
                if ctl.start() {
                    j2.finish(1, &ctl);
                    true
                } else {
                    false
                }
            });
            assert!(jobs.cancel_all_and_wait(Duration::from_secs(1)));
            assert!(jobs.is_empty());
            worker.join().unwrap();
        });
    }
}
