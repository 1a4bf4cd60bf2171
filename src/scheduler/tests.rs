use super::*;
use std::sync::mpsc;
use std::sync::Mutex;
use std::thread;

#[test]
fn local_first_then_injector_then_steal() {
    let s = Scheduler::<u32>::new();
    let a = s.register(Arc::new(|| {}));
    let b = s.register(Arc::new(|| {}));
    s.push_local(&a, 1);
    s.push_local(&a, 2);
    assert!(s.submit_many(vec![3]));
    // b has nothing local: it takes from the injector first, then steals.
    assert_eq!(s.find(&b), Some(3));
    assert_eq!(s.find(&b), Some(1));
    assert_eq!(s.counters().stolen, 1);
    assert_eq!(s.find(&a), Some(2));
    assert_eq!(s.find(&a), None);
    assert_eq!(s.stolen_by_worker(), vec![0, 1]);
}

#[test]
fn unregister_returns_local_tasks_to_the_injector() {
    let s = Scheduler::<u32>::new();
    let a = s.register(Arc::new(|| {}));
    let b = s.register(Arc::new(|| {}));
    s.push_local(&a, 7);
    s.push_local(&a, 8);
    s.unregister(a);
    let mut got = vec![s.find(&b).unwrap(), s.find(&b).unwrap()];
    got.sort();
    assert_eq!(got, vec![7, 8]);
}

#[test]
fn parked_worker_is_woken_by_submit() {
    let s = Arc::new(Scheduler::<u32>::new());
    let (tx, rx) = mpsc::channel();
    let w = s.register(Arc::new(move || tx.send(()).unwrap()));
    assert_eq!(
        s.find_or_wait(&w, Duration::ZERO, Duration::from_millis(1)),
        None
    );
    assert_eq!(s.park(&w), None);
    assert!(s.submit_many(vec![5]));
    rx.recv_timeout(Duration::from_secs(5))
        .expect("waker not called");
    assert_eq!(s.find(&w), Some(5));
    assert_eq!(s.sleep.idle(), 0);
}

#[test]
fn closed_scheduler_refuses() {
    let s = Scheduler::<u32>::new();
    s.close();
    assert!(!s.submit_many(vec![1]));
}

/// Many producers, many workers that behave like event-loop workers (wait a
/// bounded slice, then park and sleep until their waker fires): every task
/// runs exactly once, and no task is stranded while all workers sleep.
#[test]
fn stress_no_task_lost_or_run_twice() {
    const WORKERS: usize = 6;
    const PRODUCERS: usize = 4;
    const PER: usize = 25_000;
    const TOTAL: usize = PRODUCERS * PER;
    const SUB: usize = 1 << 40;
    const ALL: usize = TOTAL + TOTAL / 100;
    let subs: Arc<Vec<AtomicUsize>> = Arc::new((0..TOTAL).map(|_| AtomicUsize::new(0)).collect());
    let s = Arc::new(Scheduler::<usize>::new());
    let seen: Arc<Vec<AtomicUsize>> = Arc::new((0..TOTAL).map(|_| AtomicUsize::new(0)).collect());
    let done = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..WORKERS {
        let s = s.clone();
        let seen = seen.clone();
        let subs = subs.clone();
        let done = done.clone();
        let (tx, rx) = mpsc::channel::<()>();
        let tx = Mutex::new(tx);
        let local = s.register(Arc::new(move || {
            let _ = tx.lock().unwrap().send(());
        }));
        workers.push(thread::spawn(move || {
            let wait = Duration::from_micros(if w % 2 == 0 { 0 } else { 50 });
            let spin = Duration::from_micros(if w % 3 == 0 { 0 } else { 20 });
            loop {
                while let Some(t) = s
                    .find_or_wait(&local, spin, wait)
                    .or_else(|| s.park(&local))
                {
                    if t >= SUB {
                        // A forked subtask: counted separately.
                        assert_eq!(subs[t - SUB].fetch_add(1, Ordering::SeqCst), 0);
                        done.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                    assert_eq!(
                        seen[t].fetch_add(1, Ordering::SeqCst),
                        0,
                        "task {t} ran twice"
                    );
                    if t % 100 == 0 {
                        // Fork subtasks onto the local deque to exercise stealing.
                        s.push_local(&local, SUB + t);
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                }
                if done.load(Ordering::SeqCst) == ALL {
                    break;
                }
                // Parked: sleep in "the event loop" until woken (or re-check
                // after a long while to end the test if something is lost).
                if rx.recv_timeout(Duration::from_secs(10)).is_err() {
                    if done.load(Ordering::SeqCst) == ALL {
                        break;
                    }
                    panic!("worker {w} parked for 10 s with work outstanding: lost wake-up");
                }
            }
            s.unregister(local);
        }));
    }
    let mut producers = Vec::new();
    for p in 0..PRODUCERS {
        let s = s.clone();
        producers.push(thread::spawn(move || {
            // Batches of 1 to 7 tasks, as the Pool submits once per tick.
            let mut i = 0;
            while i < PER {
                let n = (1 + (i + p) % 7).min(PER - i);
                assert!(s.submit_many((i..i + n).map(|j| p * PER + j).collect()));
                if i / 5000 != (i + n) / 5000 {
                    thread::sleep(Duration::from_millis(2));
                }
                i += n;
            }
        }));
    }
    for p in producers {
        p.join().unwrap();
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while done.load(Ordering::SeqCst) < ALL {
        assert!(
            std::time::Instant::now() < deadline,
            "tasks lost: the pool stalled"
        );
        thread::sleep(Duration::from_millis(5));
    }
    s.close();
    for w in workers {
        w.join().unwrap();
    }
    for (i, c) in seen.iter().enumerate() {
        assert_eq!(c.load(Ordering::SeqCst), 1, "task {i}");
        let forked = subs[i].load(Ordering::SeqCst);
        assert_eq!(forked, usize::from(i % 100 == 0), "subtask {i}");
    }
}
