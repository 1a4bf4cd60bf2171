//! Write claims: kernels that write their input in place (`sort`) never run
//! at the same time on overlapping memory.
//!
//! # Design
//!
//! Two sorts of the same memory at once (`Promise.all([sort(a), sort(a)])`,
//! two views of one buffer, one SharedArrayBuffer sorted from two threads)
//! would race: each moves the other's elements under it. They are
//! *serialized* instead, in the order they were asked for: a writer claims
//! the byte range `[start, end)` of its input before it is queued on the
//! kernel pool. If the range overlaps a running writer, or one already
//! waiting, the job waits here (not on a pool thread) and is queued on the
//! pool when the claims ahead of it are released. A second sort of `a`
//! therefore sorts the result of the first.
//!
//! The registry is one process-wide mutex (every JavaScript environment of
//! the process shares the address space, so a SharedArrayBuffer sorted from
//! two workers is serialized too). It is held only to look at the lists,
//! never while a job runs or is queued.
//!
//! # Progress
//!
//! A running job never waits for anything and releases its claim when it
//! ends, whatever the ending (done, stopped, cancelled before it started,
//! panicked: the release is a `Drop`). A waiting job depends only on claims
//! that were taken before it, so the first waiter starts when the running
//! ones it overlaps end, and so on: no cycle, no deadlock. A waiting job that
//! is cancelled (its promise already rejected) still takes its turn and ends
//! at once, without touching the memory (`JobCtl::start` is false).

use std::sync::Mutex;

/// A job waiting for its range.
struct Waiter {
    token: u64,
    range: (usize, usize),
    start: Box<dyn FnOnce() + Send>,
}

struct Registry {
    next: u64,
    active: Vec<(u64, (usize, usize))>,
    waiting: Vec<Waiter>,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    next: 0,
    active: Vec::new(),
    waiting: Vec::new(),
});

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

fn registry() -> std::sync::MutexGuard<'static, Registry> {
    crate::lock::lock(&REGISTRY)
}

/// Holds a claim; dropping it releases the range and starts the waiters that
/// no longer overlap anything ahead of them.
pub struct Claim {
    token: Option<u64>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let Some(token) = self.token else { return };
        let ready = {
            let mut reg = registry();
            reg.active.retain(|&(t, _)| t != token);
            let mut ready = Vec::new();
            let mut still = Vec::new();
            for w in std::mem::take(&mut reg.waiting) {
                let blocked = reg.active.iter().any(|&(_, r)| overlaps(r, w.range))
                    || still.iter().any(|s: &Waiter| overlaps(s.range, w.range));
                if blocked {
                    still.push(w);
                } else {
                    reg.active.push((w.token, w.range));
                    ready.push(w);
                }
            }
            reg.waiting = still;
            ready
        };
        for w in ready {
            (w.start)();
        }
    }
}

/// Runs `start(claim)` once no running or earlier waiting claim overlaps the
/// byte range `range` (at once if none does, else from the `Drop` of the
/// last claim in the way, on whatever thread drops it). `start` must hand
/// the claim to the job and drop it when the job no longer touches the
/// memory. An empty range claims nothing.
pub fn exclusive<F>(range: (usize, usize), start: F)
where
    F: FnOnce(Claim) + Send + 'static,
{
    if range.0 >= range.1 {
        start(Claim { token: None });
        return;
    }
    let token = {
        let mut reg = registry();
        let token = reg.next;
        reg.next += 1;
        let blocked = reg.active.iter().any(|&(_, r)| overlaps(r, range))
            || reg.waiting.iter().any(|w| overlaps(w.range, range));
        if blocked {
            reg.waiting.push(Waiter {
                token,
                range,
                start: Box::new(move || start(Claim { token: Some(token) })),
            });
            return;
        }
        reg.active.push((token, range));
        token
    };
    start(Claim { token: Some(token) });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex as StdMutex};

    #[test]
    fn overlapping_claims_run_one_after_the_other_in_order() {
        // Addresses far from any real allocation, so other tests' claims
        // never meet these.
        let base = usize::MAX / 2;
        let log = Arc::new(StdMutex::new(Vec::new()));
        let held = Arc::new(StdMutex::new(Vec::new()));
        let take = |name: &'static str, range: (usize, usize)| {
            let log = log.clone();
            let held = held.clone();
            exclusive(range, move |claim| {
                log.lock().unwrap().push(name);
                held.lock().unwrap().push((name, claim));
            });
        };
        take("a", (base, base + 100));
        take("b", (base + 50, base + 150)); // overlaps a: waits
        take("c", (base + 200, base + 300)); // overlaps nothing: runs
        take("d", (base + 140, base + 210)); // overlaps b (waiting) and c
        take("e", (base + 100, base + 100)); // empty: runs
        assert_eq!(*log.lock().unwrap(), ["a", "c", "e"]);
        let release = |name: &str| {
            let claim = {
                let mut h = held.lock().unwrap();
                let i = h.iter().position(|(n, _)| *n == name).unwrap();
                h.remove(i).1
            };
            drop(claim);
        };
        release("c");
        assert_eq!(*log.lock().unwrap(), ["a", "c", "e"]); // d still behind b
        release("a");
        assert_eq!(*log.lock().unwrap(), ["a", "c", "e", "b"]);
        release("b");
        assert_eq!(*log.lock().unwrap(), ["a", "c", "e", "b", "d"]);
        release("d");
        release("e");
        let reg = registry();
        assert!(reg
            .active
            .iter()
            .all(|&(_, r)| r.1 <= base || r.0 >= base + 300));
        assert!(reg
            .waiting
            .iter()
            .all(|w| w.range.1 <= base || w.range.0 >= base + 300));
    }
}
