//! The kernel thread pool.
//!
//! One rayon pool per process, built on first use with `SPINDLE_THREADS`
//! threads (or the available parallelism). `configure` replaces it: jobs
//! already submitted finish on the old pool, whose threads exit once it is
//! idle and dropped. The pool's threads are plain native threads: they never
//! hold Node's event loop open.

use std::sync::{Arc, RwLock};

use rayon::{ThreadPool, ThreadPoolBuilder};

static POOL: RwLock<Option<Arc<ThreadPool>>> = RwLock::new(None);

/// The most kernel threads: the limit of `configure({ threads })` and of
/// `SPINDLE_THREADS` alike (libuv caps `UV_THREADPOOL_SIZE` at the same).
pub const MAX_THREADS: usize = 1024;

/// What `SPINDLE_THREADS` asks for, by the one rule for both ways of setting
/// the size: an integer from 1 to [`MAX_THREADS`] is used as it is; a larger
/// integer is clamped to [`MAX_THREADS`]; anything else (0, negative, not an
/// integer) is ignored. The second field is the warning to give, if any.
pub fn threads_from_env(value: Option<&str>) -> (Option<usize>, Option<String>) {
    let Some(raw) = value else {
        return (None, None);
    };
    let v = raw.trim();
    let digits = !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit());
    match v.parse::<usize>() {
        Ok(n) if digits && (1..=MAX_THREADS).contains(&n) => (Some(n), None),
        _ if digits && !v.trim_start_matches('0').is_empty() => (
            Some(MAX_THREADS),
            Some(format!(
                "SPINDLE_THREADS={raw:?} is above the maximum of {MAX_THREADS} kernel threads; using {MAX_THREADS}"
            )),
        ),
        _ => (
            None,
            Some(format!(
                "SPINDLE_THREADS={raw:?} is not an integer from 1 to {MAX_THREADS}; ignored (using the available parallelism)"
            )),
        ),
    }
}

/// The default thread count: `SPINDLE_THREADS` by [`threads_from_env`], else
/// the available parallelism (at most [`MAX_THREADS`]).
pub fn default_threads() -> usize {
    let env = std::env::var("SPINDLE_THREADS").ok();
    threads_from_env(env.as_deref()).0.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .min(MAX_THREADS)
    })
}

fn build(threads: usize) -> Result<Arc<ThreadPool>, String> {
    ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("spindle-kernel-{i}"))
        .start_handler(|_| lower_priority())
        // Kernels catch their own panics; this only keeps a stray one from
        // aborting the process.
        .panic_handler(|_| {})
        .build()
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

/// How much lower than normal the kernel threads run (Linux `nice`; 0..=19,
/// `SPINDLE_KERNEL_NICE` overrides). The kernels use every core; when the
/// event loop's thread wakes up (a timer, I/O, a result) it should get a core
/// at once rather than wait for a kernel thread's time slice to end. Measured
/// on 2 cores: the worst loop delay while a 10M sort runs fell from 4.7–4.95
/// to 3.0–4.1 ms, with the sort as fast as before. On an otherwise idle
/// machine a nice value changes nothing else; under contention from other
/// processes the kernels get a smaller share.
const KERNEL_NICE: i32 = 3;

#[cfg(target_os = "linux")]
fn kernel_nice() -> i32 {
    std::env::var("SPINDLE_KERNEL_NICE")
        .ok()
        .and_then(|v| v.trim().parse::<i32>().ok())
        .filter(|n| (0..=19).contains(n))
        .unwrap_or(KERNEL_NICE)
}

/// Lowers the calling kernel thread's priority (see [`KERNEL_NICE`]).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        let nice = kernel_nice();
        if nice > 0 {
            // SAFETY: plain syscalls on the calling thread's own id (on Linux
            // PRIO_PROCESS with a thread id affects that thread only). A
            // failure leaves the default priority, which is harmless.
            unsafe {
                let tid = libc::gettid();
                libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, nice);
            }
        }
    }
}

/// The current pool, built on first use.
pub fn pool() -> Arc<ThreadPool> {
    if let Some(p) = crate::lock::read(&POOL).as_ref() {
        return p.clone();
    }
    let mut slot = crate::lock::write(&POOL);
    if let Some(p) = slot.as_ref() {
        return p.clone();
    }
    let p = build(default_threads())
        .or_else(|_| build(1))
        .expect("spindle: cannot start even one kernel thread");
    *slot = Some(p.clone());
    p
}

/// Replaces the pool with one of `threads` threads (1 to [`MAX_THREADS`]).
pub fn configure(threads: usize) -> Result<(), String> {
    if !(1..=MAX_THREADS).contains(&threads) {
        return Err(format!("threads must be from 1 to {MAX_THREADS}"));
    }
    let p = build(threads)?;
    *crate::lock::write(&POOL) = Some(p);
    Ok(())
}

/// The number of threads of the current pool.
pub fn current_threads() -> usize {
    pool().current_num_threads()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_for_the_environment_and_configure() {
        assert_eq!(threads_from_env(None), (None, None));
        assert_eq!(threads_from_env(Some("4")).0, Some(4));
        assert_eq!(threads_from_env(Some(" 1024 ")), (Some(1024), None));
        for big in ["1025", "2000", "99999999999999999999999999"] {
            let (n, warning) = threads_from_env(Some(big));
            assert_eq!(n, Some(MAX_THREADS), "{big}");
            assert!(warning.unwrap().contains("maximum"));
        }
        for bad in ["0", "000", "-3", "1.5", "abc", "", "+4", "4x"] {
            let (n, warning) = threads_from_env(Some(bad));
            assert_eq!(n, None, "{bad:?}");
            assert!(warning.unwrap().contains("ignored"));
        }
        assert!(configure(MAX_THREADS + 1).is_err());
        assert!(configure(0).is_err());
    }

    #[test]
    fn configure_changes_thread_count() {
        configure(3).unwrap();
        assert_eq!(current_threads(), 3);
        configure(1).unwrap();
        assert_eq!(current_threads(), 1);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn kernel_threads_run_below_normal_priority() {
        let pool = build(2).unwrap();
        let nice = pool.install(|| {
            // SAFETY: plain syscalls about the calling thread.
            unsafe {
                *libc::__errno_location() = 0;
                libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t)
            }
        });
        assert_eq!(nice, kernel_nice());
    }
}
