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

/// The default thread count: `SPINDLE_THREADS` if it is a positive integer,
/// else the available parallelism.
pub fn default_threads() -> usize {
    std::env::var("SPINDLE_THREADS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        })
}

fn build(threads: usize) -> Result<Arc<ThreadPool>, String> {
    ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("spindle-kernel-{i}"))
        // Kernels catch their own panics; this only keeps a stray one from
        // aborting the process.
        .panic_handler(|_| {})
        .build()
        .map(Arc::new)
        .map_err(|e| e.to_string())
}

/// The current pool, built on first use.
pub fn pool() -> Arc<ThreadPool> {
    if let Some(p) = POOL.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        return p.clone();
    }
    let mut slot = POOL.write().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = slot.as_ref() {
        return p.clone();
    }
    let p = build(default_threads())
        .or_else(|_| build(1))
        .expect("spindle: cannot start even one kernel thread");
    *slot = Some(p.clone());
    p
}

/// Replaces the pool with one of `threads` threads.
pub fn configure(threads: usize) -> Result<(), String> {
    let p = build(threads)?;
    *POOL.write().unwrap_or_else(|e| e.into_inner()) = Some(p);
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
    fn configure_changes_thread_count() {
        configure(3).unwrap();
        assert_eq!(current_threads(), 3);
        configure(1).unwrap();
        assert_eq!(current_threads(), 1);
    }
}
