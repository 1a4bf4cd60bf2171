//! The adaptive spin policy: how long a worker spins for its next task
//! before it waits, learned from what its recent spins met. `mod.rs` runs the
//! spin loop; this module only decides and counts.
//!
//! # Why adapt
//!
//! Waking a sleeping thread costs 60–100 µs on an idle virtual machine (an
//! IPI to a halted vCPU): a worker that spins a few tens of microseconds
//! after a task hides that cost from a caller that submits the next task at
//! once (round trip 23–31 µs with the spin, 90–110 µs without, measured on
//! the 2-core machine). The same spin hurts twice elsewhere:
//!
//! * a spin that finds nothing burns CPU that the process's other threads
//!   (Redis clients, BullMQ's bookkeeping) or other processes need;
//! * on a busy machine the spinner holds a CPU that the thread it waits for
//!   (the submitter) needs: the two take turns on one core, and the round
//!   trip went from 32–41 µs (no spin, no poll) to 60–82 µs (spin and poll)
//!   with one busy process beside the pool. There, most spins come up
//!   empty: the task comes just *after* the spin gives up, because the
//!   submitter could run only then.
//!
//! # The rule
//!
//! Each worker keeps an *emptiness score*: a moving average, weight 1/64,
//! of the fraction of its spins that came up empty. The pool keeps a *hold*.
//!
//! 1. A worker spins (for `max`, the pool's `spinMicros`) only right after
//!    it ran a task (`WorkerState::take`, `pool/worker.rs`), and not while the pool holds.
//! 2. A spin ends when it finds a task, when `max` has passed (empty), or
//!    when the clock jumps more than `GAP` between two of its looks
//!    (empty: the thread was switched out, so another thread wanted this
//!    CPU).
//! 3. When the score passes 1/2 the pool holds: no worker spins, and the
//!    main thread does not poll for results (`Pool` asks `held()`), so every
//!    hand-over is a plain wake, which is cheap when no vCPU is halted. The
//!    score then restarts just under the threshold, so a few empty spins
//!    after the hold renew it, while a machine that has become idle
//!    (where spins find their task) spins again.
//! 4. A hold lasts `HOLD_MIN_US` (2 ms); one that starts within four times
//!    the previous hold's length of its end lasts twice as long as that one,
//!    up to `HOLD_MAX_US` (64 ms). So tasks that keep coming seldom pay four
//!    empty spins per 64 ms at most, while a false alarm on an idle machine
//!    (the scheduler put the submitter on the spinner's CPU for a moment)
//!    costs a few milliseconds of slower hand-overs.
//! 5. The machine itself (Linux): every `LOAD_EVERY_US` (100 ms) one
//!    worker, about to spin, reads the machine's CPU times (`/proc/stat`)
//!    and this process's own (`getrusage`). When the machine had almost no
//!    idle CPU (less than `IDLE_BELOW` of a core) and other processes used
//!    at least `OTHERS_ABOVE` of one, someone else wants a core: the pool
//!    holds until the next look can tell (`LOAD_HOLD_US`). A spin that finds
//!    its task there still costs the submitter its CPU: with one busy
//!    process beside a 2-core bench, 93% of spins found their task and the
//!    round trip was still 20% slower than the plain wakes of the other pools.
//!    Our own threads never trigger it, however busy (they are not others).
//!
//! # The wait ([`WaitPolicy`])
//!
//! After the spin, a worker waits on a condvar for up to `waitMicros` (1 ms)
//! before it parks (returns to its event loop, woken through its port). A
//! wait that a task ends is cheaper than a park: the submitter's notify is
//! one futex wake. A wait that times out costs the worker a timer wake and
//! two switches for nothing, and it parks anyway: with tasks arriving 1.3 ms
//! apart that was about 45 µs of a worker's CPU per task on the 2-core VM
//! (worker threads 137 µs a task, 93 µs with `waitMicros: 0`).
//!
//! 6. Each worker keeps a *miss score*, a moving average (weight 1/8) of
//!    how often a wait would have timed out. A real wait counts as what it
//!    met. While the score is above 3/4 the worker skips the wait and parks
//!    at once; then the time from that park to its next `take` tells what a
//!    wait would have met (a task within the wait's length: a hit), so the
//!    score still learns, and tasks that come densely again bring the
//!    waits back within a few tasks.
//!
//! Measured on the 2-core machine with the spin always on, over 10,000
//! round trips: 90–97% of spins found their task on an idle machine, in
//! short runs of empty ones (a main thread slowed by a garbage collection
//! or the scheduler: the long average ignores them); 20–35% beside one busy
//! process. A server fed by a queue every few hundred microseconds (BullMQ)
//! finds none: it stops spinning after about 45 jobs.
//!
//! # Memory ordering
//!
//! The score belongs to one worker thread (a `Cell` in its `Local`). The
//! hold is one `AtomicU64` of microseconds since the pool's epoch, read and
//! written `Relaxed` (a machine hold only ever extends it, `fetch_max`): it
//! is a hint, and a stale view costs one spin or one poll more or less, never
//! a lost task (the sleep protocol of `sleep.rs` does not depend on whether
//! anyone spins). Which worker reads the machine's load is decided by one
//! compare-and-swap of `load_at_us`; the last reading sits under a mutex
//! that only that worker takes, once per period.

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A jump of the clock between two looks of a spin longer than this means
/// the thread was switched out (a look takes a few microseconds at most).
pub const GAP: Duration = Duration::from_micros(20);
/// How long the pool stops spinning and polling once spins come up empty: the
/// first hold, and the most that renewals double it to.
pub const HOLD_MIN_US: u64 = 2_000;
pub const HOLD_MAX_US: u64 = 64_000;
/// How often the machine's load is read (rule 5), how long a busy machine
/// holds, and the thresholds, in cores.
pub const LOAD_EVERY_US: u64 = 100_000;
pub const LOAD_HOLD_US: u64 = 250_000;
const IDLE_BELOW: f64 = 0.3;
const OTHERS_ABOVE: f64 = 0.5;
/// The score in 1/1024ths of "every spin empty".
const SCORE_ONE: u32 = 1024;
/// Rule 6: skip the wait while more than this share (of `SCORE_ONE`) of
/// recent waits would have timed out.
const WAIT_SKIP_ABOVE: u32 = SCORE_ONE * 3 / 4;
/// Rule 6's moving-average weight, 1/2^WAIT_SHIFT.
const WAIT_SHIFT: u32 = 3;
/// Above this score (half the spins empty) the pool holds.
const SCORE_LIMIT: u32 = SCORE_ONE / 2;
/// Where the score restarts after a hold: four empty spins renew it.
const SCORE_RESTART: u32 = SCORE_LIMIT - 32;
/// The moving average's weight: 1/64.
const SCORE_SHIFT: u32 = 6;

/// How a spin ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spun {
    /// It found a task.
    Found,
    /// It spun for `max`, or was switched out, and found nothing.
    Empty,
}

/// The pool's shared part: the hold, and counters for `pool.stats()`.
pub struct Contention {
    epoch: Instant,
    held_until_us: AtomicU64,
    /// When the machine's load was last read (rule 5), and what it read.
    load_at_us: AtomicU64,
    load: Mutex<Option<Load>>,
    pub machine_holds: AtomicU64,
    /// The length of the last hold.
    hold_us: AtomicU64,
    pub spins: AtomicU64,
    pub found: AtomicU64,
    pub holds: AtomicU64,
}

impl Default for Contention {
    fn default() -> Self {
        Contention {
            epoch: Instant::now(),
            held_until_us: AtomicU64::new(0),
            load_at_us: AtomicU64::new(0),
            load: Mutex::new(None),
            machine_holds: AtomicU64::new(0),
            hold_us: AtomicU64::new(HOLD_MIN_US),
            spins: AtomicU64::new(0),
            found: AtomicU64::new(0),
            holds: AtomicU64::new(0),
        }
    }
}

impl Contention {
    /// Microseconds since the pool's epoch.
    pub fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// Whether the pool holds (spins came up empty lately): no spinning, no polling.
    pub fn held(&self) -> bool {
        self.held_at(self.now_us())
    }

    pub fn held_at(&self, now_us: u64) -> bool {
        now_us < self.held_until_us.load(Ordering::Relaxed)
    }

    /// Reads the machine's load if `LOAD_EVERY_US` has passed since the last
    /// look (one caller gets to), and holds if it is busy with others (rule 5).
    pub fn look_at_machine(&self, now_us: u64) {
        let last = self.load_at_us.load(Ordering::Relaxed);
        if now_us < last + LOAD_EVERY_US
            || self
                .load_at_us
                .compare_exchange(last, now_us, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        let Some(next) = Load::read(now_us) else {
            return;
        };
        let previous = crate::lock::lock(&self.load).replace(next);
        if let Some(previous) = previous {
            if previous.busy_with_others(&next) {
                let until = now_us + LOAD_HOLD_US;
                if self.held_until_us.fetch_max(until, Ordering::Relaxed) <= now_us {
                    self.machine_holds.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    /// Holds (rule 4). Two workers may hold at once: either's length stands.
    fn hold(&self, now_us: u64) {
        let ended = self.held_until_us.load(Ordering::Relaxed);
        let last = self.hold_us.load(Ordering::Relaxed);
        let len = if ended > 0 && now_us < ended + 4 * last {
            (last * 2).min(HOLD_MAX_US)
        } else {
            HOLD_MIN_US
        };
        self.hold_us.store(len, Ordering::Relaxed);
        self.held_until_us.store(now_us + len, Ordering::Relaxed);
        self.holds.fetch_add(1, Ordering::Relaxed);
    }
}

/// The machine's CPU times and this process's, at one moment (rule 5).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Load {
    at_us: u64,
    /// Seconds of CPU time: the machine idle (idle and iowait), the machine
    /// busy (everything else), and this process.
    idle_s: f64,
    busy_s: f64,
    own_s: f64,
}

impl Load {
    /// Now's load (Linux), or `None` where the system does not say.
    fn read(at_us: u64) -> Option<Load> {
        #[cfg(target_os = "linux")]
        {
            let stat = std::fs::read_to_string("/proc/stat").ok()?;
            let line = stat.lines().next()?;
            let ticks: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|t| t.parse().ok())
                .collect();
            if ticks.len() < 5 {
                return None;
            }
            // SAFETY: sysconf only reads a configuration value.
            let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
            if hz <= 0 {
                return None;
            }
            let hz = hz as f64;
            let idle = ticks[3] + ticks[4];
            // user nice system idle iowait irq softirq steal (guest time is in user).
            let busy: u64 = ticks.iter().take(8).sum::<u64>() - idle;
            // SAFETY: an all-zero `rusage` is a valid value of this plain C struct.
            let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
            // SAFETY: `getrusage` writes one `rusage` through the pointer, to
            // a live, writable one we own.
            if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
                return None;
            }
            let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
            Some(Load {
                at_us,
                idle_s: idle as f64 / hz,
                busy_s: busy as f64 / hz,
                own_s: secs(usage.ru_utime) + secs(usage.ru_stime),
            })
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = at_us;
            None
        }
    }

    /// Whether, from `self` to `next`, the machine had almost no idle CPU
    /// while other processes used a good part of a core.
    fn busy_with_others(&self, next: &Load) -> bool {
        let wall = (next.at_us.saturating_sub(self.at_us)) as f64 / 1e6;
        if wall <= 0.0 {
            return false;
        }
        let idle = (next.idle_s - self.idle_s) / wall;
        let others = ((next.busy_s - self.busy_s) - (next.own_s - self.own_s)) / wall;
        idle < IDLE_BELOW && others >= OTHERS_ABOVE
    }
}

/// One worker's part: its score.
#[derive(Debug, Default)]
pub struct SpinPolicy {
    score: Cell<u32>,
}

impl SpinPolicy {
    /// Learns from a spin's end (rule 3).
    pub fn spun(&self, spun: Spun, contention: &Contention, now_us: u64) {
        contention.spins.fetch_add(1, Ordering::Relaxed);
        if spun == Spun::Found {
            contention.found.fetch_add(1, Ordering::Relaxed);
        }
        let s = self.score.get();
        let s = s - (s >> SCORE_SHIFT)
            + if spun == Spun::Empty {
                SCORE_ONE >> SCORE_SHIFT
            } else {
                0
            };
        if s > SCORE_LIMIT {
            contention.hold(now_us);
            self.score.set(SCORE_RESTART);
        } else {
            self.score.set(s);
        }
    }
}

/// Rule 6: whether a worker waits on its condvar before it parks, learned
/// from what its waits met (or, while it skips them, would have met). One
/// per worker, on its own thread.
#[derive(Debug, Default)]
pub struct WaitPolicy {
    misses: u32,
    /// When the worker last parked without waiting, to judge that skip.
    skipped_at: Option<Instant>,
}

impl WaitPolicy {
    /// Whether to wait before parking now.
    pub fn should_wait(&self) -> bool {
        self.misses <= WAIT_SKIP_ABOVE
    }

    /// A wait ended: it found a task, or it timed out.
    pub fn waited(&mut self, found: bool) {
        self.learn(!found);
    }

    /// The worker skipped its wait and parked at `now`.
    pub fn skipped(&mut self, now: Instant) {
        self.skipped_at = Some(now);
    }

    /// The worker is back at `now` (its next `take`): after a skipped wait,
    /// a return within `wait` is a task that a wait would have met.
    pub fn resumed(&mut self, now: Instant, wait: Duration) {
        if let Some(at) = self.skipped_at.take() {
            self.learn(now.saturating_duration_since(at) > wait);
        }
    }

    fn learn(&mut self, miss: bool) {
        let m = self.misses;
        self.misses = m - (m >> WAIT_SHIFT) + if miss { SCORE_ONE >> WAIT_SHIFT } else { 0 };
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const MAX: u32 = 50;

    /// A spin if the pool does not hold; whether it spun.
    fn spin(p: &SpinPolicy, c: &Contention, now: u64, spun: Spun) -> bool {
        if c.held_at(now) {
            return false;
        }
        p.spun(spun, c, now);
        true
    }

    #[test]
    fn a_hold_lasts_its_length() {
        let c = Contention::default();
        assert!(!c.held_at(0));
        c.hold(0);
        assert!(c.held_at(1));
        assert!(c.held_at(HOLD_MIN_US - 1));
        assert!(!c.held_at(HOLD_MIN_US));
    }

    #[test]
    fn an_idle_machine_never_holds() {
        // Measured: 90–97% of spins find their task, empty ones in short
        // runs. Here one in 8 is empty, and a run of 16 every 1,000.
        let c = Contention::default();
        let p = SpinPolicy::default();
        for i in 0..100_000u64 {
            let empty = i % 8 == 0 || i % 1_000 < 16;
            assert!(spin(
                &p,
                &c,
                i,
                if empty { Spun::Empty } else { Spun::Found }
            ));
        }
        assert_eq!(c.holds.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn mostly_empty_spins_hold_then_let_go_and_renew() {
        // Beside a busy process: about one spin in four finds its task.
        let c = Contention::default();
        let p = SpinPolicy::default();
        let mut now = 0;
        let mut spins = 0;
        while !c.held_at(now) {
            let spun = if spins % 4 == 3 {
                Spun::Found
            } else {
                Spun::Empty
            };
            assert!(spin(&p, &c, now, spun));
            spins += 1;
            now += 1;
            assert!(spins < 200, "never held");
        }
        assert!(
            spins >= 32,
            "held after only {spins} spins: a short run of empty spins must not"
        );
        assert!(!spin(&p, &c, now, Spun::Empty), "held: nobody spins");
        assert!(c.held_at(now + HOLD_MIN_US - 10));
        now += HOLD_MIN_US;
        assert!(!c.held_at(now), "the hold ends");
        for _ in 0..3 {
            assert!(spin(&p, &c, now, Spun::Empty));
        }
        assert!(!c.held_at(now), "three empty spins do not renew it");
        assert!(spin(&p, &c, now, Spun::Empty));
        assert!(c.held_at(now), "four do");
        assert_eq!(c.holds.load(Ordering::Relaxed), 2);
        assert!(
            c.held_at(now + 2 * HOLD_MIN_US - 10),
            "a renewal lasts twice as long"
        );
        assert!(!c.held_at(now + 2 * HOLD_MIN_US));
    }

    #[test]
    fn after_a_false_alarm_spins_that_find_their_task_let_go() {
        let c = Contention::default();
        let p = SpinPolicy::default();
        p.score.set(SCORE_LIMIT);
        assert!(spin(&p, &c, 0, Spun::Empty));
        assert_eq!(c.holds.load(Ordering::Relaxed), 1);
        let mut now = HOLD_MIN_US;
        for i in 0..10_000u64 {
            now += 1;
            assert!(spin(
                &p,
                &c,
                now,
                if i % 8 == 0 { Spun::Empty } else { Spun::Found }
            ));
        }
        assert_eq!(c.holds.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn tasks_that_come_seldom_stop_the_spin() {
        // Jobs every few hundred microseconds (a BullMQ server): no spin
        // finds its task. After the first hold, few spins per hold.
        let c = Contention::default();
        let p = SpinPolicy::default();
        let mut now = 0;
        let mut spun = 0;
        for _ in 0..100_000 {
            now += 500; // one job every 500 µs, for 50 s
            if spin(&p, &c, now, Spun::Empty) {
                spun += 1;
            }
        }
        assert!(spun < 5_000, "{spun} of 100,000 jobs spun"); // four per 64 ms hold: about 3%
        assert!(c.holds.load(Ordering::Relaxed) > 0);
    }

    #[test]
    fn renewed_holds_double_up_to_the_most_and_a_quiet_spell_resets_them() {
        let c = Contention::default();
        let mut now = 1_000;
        let mut lens = vec![];
        for _ in 0..10 {
            c.hold(now);
            let len = c.held_until_us.load(Ordering::Relaxed) - now;
            lens.push(len);
            now += len; // renewed as soon as it ends
        }
        assert_eq!(
            lens[..4],
            [
                HOLD_MIN_US,
                2 * HOLD_MIN_US,
                4 * HOLD_MIN_US,
                8 * HOLD_MIN_US
            ]
        );
        assert_eq!(*lens.last().unwrap(), HOLD_MAX_US);
        now += 4 * HOLD_MAX_US; // nothing for four times as long as the last hold
        c.hold(now);
        assert_eq!(c.held_until_us.load(Ordering::Relaxed) - now, HOLD_MIN_US);
    }

    fn load(at_ms: u64, idle_s: f64, busy_s: f64, own_s: f64) -> Load {
        Load {
            at_us: at_ms * 1000,
            idle_s,
            busy_s,
            own_s,
        }
    }

    #[test]
    fn a_machine_busy_with_others_is_told_from_one_busy_with_us() {
        let before = load(0, 10.0, 10.0, 1.0);
        // 100 ms on 2 cores: nothing idle, another process used 0.09 s (0.9 of a core).
        assert!(before.busy_with_others(&load(100, 10.0, 10.2, 1.11)));
        // Nothing idle, but all of it ours: our own CPU-bound tasks.
        assert!(!before.busy_with_others(&load(100, 10.0, 10.2, 1.2)));
        // Others busy, but a core idle: room for the spinner.
        assert!(!before.busy_with_others(&load(100, 10.1, 10.1, 1.02)));
        // No time passed.
        assert!(!before.busy_with_others(&load(0, 10.0, 10.2, 1.0)));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_load_is_read_on_linux_and_looked_at_once_per_period() {
        let a = Load::read(0).expect("Linux has /proc/stat and getrusage");
        assert!(a.idle_s > 0.0 && a.busy_s > 0.0 && a.own_s >= 0.0);
        let c = Contention::default();
        c.look_at_machine(LOAD_EVERY_US);
        let first = *crate::lock::lock(&c.load);
        assert!(first.is_some());
        c.look_at_machine(LOAD_EVERY_US + 10);
        assert_eq!(
            *crate::lock::lock(&c.load),
            first,
            "not again within the period"
        );
        c.look_at_machine(2 * LOAD_EVERY_US);
        assert_ne!(*crate::lock::lock(&c.load), first);
    }

    #[test]
    fn counters_count_each_spin_once() {
        let c = Contention::default();
        let p = SpinPolicy::default();
        spin(&p, &c, 0, Spun::Found);
        spin(&p, &c, 0, Spun::Empty);
        assert_eq!(c.spins.load(Ordering::Relaxed), 2);
        assert_eq!(c.found.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn waits_that_time_out_are_skipped_and_come_back_when_tasks_are_dense() {
        let mut w = WaitPolicy::default();
        let wait = Duration::from_millis(1);
        let t0 = Instant::now();
        // Tasks 1.3 ms apart: every wait times out.
        let mut waits = 0;
        while w.should_wait() {
            w.waited(false);
            waits += 1;
            assert!(waits < 20, "still waiting after {waits} timeouts");
        }
        assert!(waits >= 8, "gave up after only {waits} timeouts");
        // Skipping: parks that come back late keep it skipping.
        for i in 0..100 {
            w.skipped(t0);
            w.resumed(t0 + Duration::from_micros(1_300), wait);
            assert!(!w.should_wait(), "waited again at park {i}");
        }
        // Tasks come densely again: parks come back at once; waits return.
        let mut parks = 0;
        while !w.should_wait() {
            w.skipped(t0);
            w.resumed(t0 + Duration::from_micros(200), wait);
            parks += 1;
            assert!(parks < 10, "still skipping after {parks} quick returns");
        }
        // A resume without a skipped park before it teaches nothing.
        let before = w.misses;
        w.resumed(t0 + Duration::from_secs(5), wait);
        assert_eq!(w.misses, before);
    }

    #[test]
    fn waits_that_find_their_task_keep_waiting() {
        let mut w = WaitPolicy::default();
        // Three in four waits find a task: never skipped.
        for i in 0..1_000 {
            w.waited(i % 4 != 0);
            assert!(w.should_wait(), "skipped at wait {i}");
        }
    }
}
