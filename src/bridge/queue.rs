//! A multi-producer completion queue with one wake per batch.
//!
//! # States
//!
//! `wake_pending == false`: no wake is in flight; the next push must wake.
//! `wake_pending == true`: a wake has been requested and the consumer has not
//! yet started draining; pushes only append.
//!
//! # Why no completion is ever stranded
//!
//! Producer: `lock; push; unlock; if !wake_pending.swap(true) { wake() }`.
//! Consumer: `wake_pending.swap(false); lock; take all; unlock`.
//!
//! Both flag operations are `SeqCst`. Take any push P. If P's append happens
//! before the consumer's take, the item is in this batch. Otherwise the append
//! (and so P's swap, which follows it) comes after the consumer's store of
//! `false`; P's swap therefore reads `false` — or a `true` written by another
//! producer whose own wake is still ahead — and a wake follows that drains P's
//! item. The worst case is a spurious wake that finds an empty queue.
//!
//! # Polling
//!
//! While the consumer polls (its thread is running anyway and checks the
//! queue on every turn of its loop), a wake would only cost a syscall and a
//! second turn, so `begin_polling` sets `wake_pending` to `true`: pushes then
//! only append, and neither `poll` nor a `take` by a wake that was already in
//! flight clears the flag while `polling` is set (only the consumer's thread
//! touches `polling`, so it needs no ordering of its own).
//! `end_polling` swaps in `false` and then looks at the queue once more (both
//! `SeqCst`): a push that the last look missed appended after it, so its swap
//! follows the store, reads `false` and wakes. The argument is the one above,
//! with the final look playing the part of the take.
//!
//! # Closing
//!
//! `close` flips `closed` under the lock and drops everything queued. Pushes
//! after that are refused (they return [`Push::Closed`]) so nothing is queued
//! for an environment that no longer exists.

use crate::sync::{lock, AtomicBool, AtomicU64, Mutex, MutexGuard, Ordering};

/// What a push asks of its caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// The first item since the last drain: the caller must wake the consumer.
    Wake,
    /// A wake is already pending; nothing more to do.
    Queued,
    /// The consumer is gone; the item was dropped.
    Closed,
}

struct Inner<T> {
    items: Vec<T>,
    closed: bool,
}

/// A queue that many threads push onto and one thread drains in batches.
pub struct CompletionQueue<T> {
    inner: Mutex<Inner<T>>,
    wake_pending: AtomicBool,
    polling: AtomicBool,
    /// Set after an append, cleared by the consumer before it takes: lets a
    /// poll that finds nothing skip the lock (read-only, no shared write).
    nonempty: AtomicBool,
    completions: AtomicU64,
    wakes: AtomicU64,
}

/// Counters for tests and benchmarks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Items accepted by `push`.
    pub completions: u64,
    /// Wakes requested (one per batch).
    pub wakes: u64,
}

impl<T> Default for CompletionQueue<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> CompletionQueue<T> {
    pub fn new() -> Self {
        CompletionQueue {
            inner: Mutex::new(Inner {
                items: Vec::new(),
                closed: false,
            }),
            wake_pending: AtomicBool::new(false),
            polling: AtomicBool::new(false),
            nonempty: AtomicBool::new(false),
            completions: AtomicU64::new(0),
            wakes: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<T>> {
        // A panic while holding this lock can only come from an allocation
        // failure in `Vec::push`; the data is still consistent, so recover.
        lock(&self.inner)
    }

    /// Appends `item`; returns whether the caller must wake the consumer.
    pub fn push(&self, item: T) -> Push {
        {
            let mut inner = self.lock();
            if inner.closed {
                return Push::Closed;
            }
            inner.items.push(item);
        }
        self.nonempty.store(true, Ordering::Release);
        self.completions.fetch_add(1, Ordering::Relaxed);
        if self.wake_pending.swap(true, Ordering::SeqCst) {
            Push::Queued
        } else {
            self.wakes.fetch_add(1, Ordering::Relaxed);
            Push::Wake
        }
    }

    /// Takes everything queued. Called by the consumer when woken.
    pub fn take(&self) -> Vec<T> {
        if !self.polling.load(Ordering::Relaxed) {
            // A swap rather than a store: the same instruction where it
            // matters (a SeqCst store is an `xchg` on x86), and it keeps
            // every write of the flag in one chain of read-modify-writes,
            // the total order the argument above uses. loom, which keeps
            // only a partial order of plain stores, checks it that way.
            self.wake_pending.swap(false, Ordering::SeqCst);
        }
        std::mem::take(&mut self.lock().items)
    }

    /// Starts polling: pushes stop requesting wakes (see "Polling").
    pub fn begin_polling(&self) {
        self.polling.store(true, Ordering::Relaxed);
        self.wake_pending.store(true, Ordering::SeqCst);
    }

    /// Takes everything queued while polling; pushes still do not wake.
    pub fn poll(&self) -> Vec<T> {
        // A push stores `nonempty` after its append; clearing it before the
        // take means a concurrent append either lands in this take or sets
        // the flag again for the next poll.
        if !self.nonempty.load(Ordering::Acquire) || !self.nonempty.swap(false, Ordering::AcqRel) {
            return Vec::new();
        }
        std::mem::take(&mut self.lock().items)
    }

    /// Stops polling and takes what arrived before the stop; anything pushed
    /// later wakes the consumer as usual.
    pub fn end_polling(&self) -> Vec<T> {
        self.polling.store(false, Ordering::Relaxed);
        self.take()
    }

    /// Refuses further pushes and drops what is queued.
    pub fn close(&self) {
        let dropped = {
            let mut inner = self.lock();
            inner.closed = true;
            std::mem::take(&mut inner.items)
        };
        drop(dropped);
    }

    /// Whether anything waits to be drained.
    pub fn has_pending(&self) -> bool {
        !self.lock().items.is_empty()
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    pub fn counters(&self) -> Counters {
        Counters {
            completions: self.completions.load(Ordering::Relaxed),
            wakes: self.wakes.load(Ordering::Relaxed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn first_push_wakes_later_pushes_queue() {
        let q = CompletionQueue::new();
        assert_eq!(q.push(1), Push::Wake);
        assert_eq!(q.push(2), Push::Queued);
        assert_eq!(q.take(), vec![1, 2]);
        assert_eq!(q.push(3), Push::Wake);
        assert_eq!(
            q.counters(),
            Counters {
                completions: 3,
                wakes: 2
            }
        );
    }

    #[test]
    fn closed_queue_refuses_and_drops() {
        let q = CompletionQueue::new();
        q.push(1);
        q.close();
        assert!(q.is_closed());
        assert_eq!(q.push(2), Push::Closed);
        assert!(q.take().is_empty());
    }

    #[test]
    fn polling_suppresses_wakes_until_it_ends() {
        let q = CompletionQueue::new();
        q.begin_polling();
        assert_eq!(q.push(1), Push::Queued);
        assert_eq!(q.poll(), vec![1]);
        assert_eq!(q.push(2), Push::Queued);
        // A wake requested before polling began drains without re-arming.
        assert_eq!(q.take(), vec![2]);
        assert_eq!(q.push(3), Push::Queued);
        assert_eq!(q.end_polling(), vec![3]);
        assert_eq!(q.push(4), Push::Wake);
    }

    /// Starts `producers` threads that each push `per` distinct items and
    /// send on the returned channel whenever a push asks for a wake.
    fn spawn_producers(
        q: &Arc<CompletionQueue<usize>>,
        producers: usize,
        per: usize,
    ) -> (
        std::sync::mpsc::Receiver<()>,
        Vec<std::thread::JoinHandle<()>>,
    ) {
        let (wake_tx, wake_rx) = std::sync::mpsc::channel::<()>();
        let handles = (0..producers)
            .map(|p| {
                let q = q.clone();
                let tx = wake_tx.clone();
                std::thread::spawn(move || {
                    for i in 0..per {
                        if q.push(p * per + i) == Push::Wake {
                            tx.send(()).unwrap();
                        }
                    }
                })
            })
            .collect();
        (wake_rx, handles)
    }

    /// Records delivered items, failing on a duplicate; `count` says how many.
    struct Seen {
        seen: Vec<bool>,
        count: usize,
    }

    impl Seen {
        fn new(total: usize) -> Seen {
            Seen {
                seen: vec![false; total],
                count: 0,
            }
        }

        fn record(&mut self, items: Vec<usize>) {
            for item in items {
                assert!(!self.seen[item], "item {item} delivered twice");
                self.seen[item] = true;
                self.count += 1;
            }
        }
    }

    /// Producers race a consumer that alternates between polling and
    /// sleeping until woken: every item arrives exactly once.
    #[test]
    fn polling_never_strands_an_item() {
        const PRODUCERS: usize = 4;
        const PER: usize = 50_000;
        let q = Arc::new(CompletionQueue::<usize>::new());
        let (wake_rx, handles) = spawn_producers(&q, PRODUCERS, PER);
        let mut seen = Seen::new(PRODUCERS * PER);
        let mut round = 0;
        loop {
            round += 1;
            if round % 2 == 0 {
                q.begin_polling();
                for _ in 0..100 {
                    seen.record(q.poll());
                }
                seen.record(q.end_polling());
            } else {
                match wake_rx.recv() {
                    Ok(()) => seen.record(q.take()),
                    Err(_) => break,
                }
            }
        }
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(seen.count, PRODUCERS * PER, "items stranded without a wake");
    }

    /// Many producers, one consumer that drains only when woken: every item
    /// arrives exactly once and there are far fewer wakes than items.
    #[test]
    fn no_item_is_stranded_or_duplicated() {
        const PRODUCERS: usize = 8;
        const PER: usize = 50_000;
        let q = Arc::new(CompletionQueue::<usize>::new());
        let (wake_rx, handles) = spawn_producers(&q, PRODUCERS, PER);
        let mut seen = Seen::new(PRODUCERS * PER);
        // The consumer only looks at the queue when woken, like the event loop.
        while wake_rx.recv().is_ok() {
            seen.record(q.take());
        }
        for h in handles {
            h.join().unwrap();
        }
        assert_eq!(seen.count, PRODUCERS * PER, "items stranded without a wake");
        let c = q.counters();
        assert_eq!(c.completions as usize, PRODUCERS * PER);
        assert!(c.wakes <= c.completions);
    }
}

#[cfg(all(test, loom))]
mod loom_model {
    //! The wake-pending protocol under every interleaving loom explores: a
    //! completion is never left in the queue with no wake to come.
    use super::*;
    use loom::sync::atomic::AtomicUsize;
    use loom::sync::Arc;

    /// Two producers race a consumer that drains once if woken meanwhile
    /// (optionally inside a polling window); then every wake asked for is
    /// served, as the event loop would, and both items must have arrived.
    fn race(poll: bool) {
        loom::model(move || {
            let q = Arc::new(CompletionQueue::<usize>::new());
            let wakes = Arc::new(AtomicUsize::new(0));
            let producers: Vec<_> = (0..2)
                .map(|i| {
                    let q = q.clone();
                    let wakes = wakes.clone();
                    loom::thread::spawn(move || {
                        if q.push(i) == Push::Wake {
                            wakes.fetch_add(1, Ordering::Release);
                        }
                    })
                })
                .collect();
            let mut got = Vec::new();
            let mut served = 0;
            if poll {
                q.begin_polling();
                got.extend(q.poll());
                got.extend(q.end_polling());
            } else if wakes.load(Ordering::Acquire) > served {
                served += 1;
                got.extend(q.take());
            }
            for p in producers {
                p.join().unwrap();
            }
            while wakes.load(Ordering::Acquire) > served {
                served += 1;
                got.extend(q.take());
            }
            got.sort_unstable();
            assert_eq!(got, [0, 1], "a completion was stranded (served {served})");
        });
    }

    #[test]
    fn no_completion_is_stranded() {
        race(false);
    }

    #[test]
    fn no_completion_is_stranded_by_a_poll_window() {
        race(true);
    }

    /// Pushes racing `close` are either refused or dropped with the queue.
    #[test]
    fn close_drops_or_refuses() {
        loom::model(|| {
            let q = Arc::new(CompletionQueue::<usize>::new());
            let q2 = q.clone();
            let p = loom::thread::spawn(move || q2.push(1));
            q.close();
            let pushed = p.join().unwrap();
            assert!(q.is_closed());
            assert!(q.take().is_empty());
            assert!(pushed != Push::Closed || q.counters().completions == 0);
        });
    }
}
