//! The synchronization primitives of the small concurrency cores: the
//! standard library's, or loom's model-checked copies when the crate is
//! built with `--cfg loom` (`npm test` does: see `test:rust` in
//! package.json). The completion queue (`bridge/queue.rs`), the job state
//! machine (`bridge/job.rs`) and the scheduler's sleep protocol
//! (`scheduler/sleep.rs`) take their atomics, mutexes and condition
//! variables from here, so the code loom checks is the code that ships.
//!
//! Under loom a timed wait never times out: it returns when notified, as
//! loom's own `wait_timeout` does. A model that passes therefore shows that
//! the notification comes, without help from a timeout.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering,
};
#[cfg(loom)]
pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};

use std::time::Duration;

/// Locks `m`, recovering the data if another thread panicked while holding
/// it: the crate's one poison-free lock (`lock.rs`), or its loom twin.
#[cfg(not(loom))]
pub(crate) use crate::lock::lock;

/// See the std version: the same, over loom's `Mutex`.
#[cfg(loom)]
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Waits on `cv` while `condition` holds, for at most `limit`; returns the
/// guard and whether the wait timed out (see the module note for loom).
pub(crate) fn wait_timeout_while<'a, T>(
    cv: &Condvar,
    guard: MutexGuard<'a, T>,
    limit: Duration,
    condition: impl FnMut(&mut T) -> bool,
) -> (MutexGuard<'a, T>, bool) {
    #[cfg(not(loom))]
    {
        let (guard, result) = cv
            .wait_timeout_while(guard, limit, condition)
            .unwrap_or_else(|e| e.into_inner());
        (guard, result.timed_out())
    }
    #[cfg(loom)]
    {
        let _ = limit;
        let mut condition = condition;
        let mut guard = guard;
        while condition(&mut guard) {
            guard = cv.wait(guard).unwrap_or_else(|e| e.into_inner());
        }
        (guard, false)
    }
}
