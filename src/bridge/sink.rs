//! What a producer sees of an environment's completion path: somewhere to
//! deliver completions, whether that environment is still there, and a way
//! to hear of its teardown. No napi types here.
//!
//! [`crate::bridge::port::PortInner`] is the real sink: it queues a
//! completion and wakes the environment's event loop (`port.rs`). Code that
//! only produces completions (the Pool's core, the reactor) is written
//! against this trait, so its unit tests run without Node, with a sink that
//! simply records what it is given.
//!
//! # Contract
//!
//! * `complete` may be called from any thread, any number of times, also
//!   after the environment is gone: completions for a closed sink are
//!   dropped, never an error.
//! * `is_closed` turns true once, when the environment is torn down, and
//!   stays true.
//! * `on_teardown` registers a weakly held [`Teardown`]: it is called once,
//!   on the environment's thread, before that environment's memory is freed;
//!   dropping the `Arc` behind it unregisters it.

use std::sync::Weak;

use super::value::Completion;

/// Something that holds pointers into an environment's memory and must let
/// go of them before that environment is torn down (a child's borrowed
/// stdin chunks, say). Called once, on the environment's thread.
pub trait Teardown: Send + Sync {
    fn teardown(&self);
}

/// The producer's side of one environment's completion path.
pub trait Sink: Send + Sync + 'static {
    /// Delivers a completion (from any thread); dropped once closed.
    fn complete(&self, completion: Completion);

    /// Whether the environment has been torn down.
    fn is_closed(&self) -> bool;

    /// Registers `t` to be told when the environment is torn down (it is
    /// held weakly: dropping it unregisters it).
    fn on_teardown(&self, t: Weak<dyn Teardown>);
}

/// A sink for unit tests: it records every completion and runs its
/// teardowns when told to close.
#[cfg(test)]
#[derive(Default)]
pub struct Recorder {
    state: std::sync::Mutex<RecorderState>,
}

#[cfg(test)]
#[derive(Default)]
struct RecorderState {
    completions: Vec<Completion>,
    closed: bool,
    teardowns: Vec<Weak<dyn Teardown>>,
}

#[cfg(test)]
impl Recorder {
    fn lock(&self) -> std::sync::MutexGuard<'_, RecorderState> {
        crate::lock::lock(&self.state)
    }

    /// Everything delivered so far, oldest first; the record is emptied.
    pub fn take(&self) -> Vec<Completion> {
        std::mem::take(&mut self.lock().completions)
    }

    /// Closes the sink as a teardown would: later completions are dropped
    /// and every live teardown runs.
    pub fn close(&self) {
        let list = {
            let mut s = self.lock();
            s.closed = true;
            s.completions.clear();
            std::mem::take(&mut s.teardowns)
        };
        for t in list.iter().filter_map(Weak::upgrade) {
            t.teardown();
        }
    }
}

#[cfg(test)]
impl Sink for Recorder {
    fn complete(&self, completion: Completion) {
        let mut s = self.lock();
        if !s.closed {
            s.completions.push(completion);
        }
    }

    fn is_closed(&self) -> bool {
        self.lock().closed
    }

    fn on_teardown(&self, t: Weak<dyn Teardown>) {
        self.lock().teardowns.push(t);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bridge::value::{Outcome, Value};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Counts its teardowns in a counter that outlives it.
    struct Count(Arc<AtomicUsize>);

    impl Teardown for Count {
        fn teardown(&self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn recorder_keeps_completions_until_closed_and_runs_live_teardowns() {
        let sink = Recorder::default();
        let kept = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let k: Arc<dyn Teardown> = Arc::new(Count(kept.clone()));
        let d: Arc<dyn Teardown> = Arc::new(Count(dropped.clone()));
        sink.on_teardown(Arc::downgrade(&k));
        sink.on_teardown(Arc::downgrade(&d));
        // Dropping the last strong reference unregisters it.
        drop(d);
        let done = |id| Completion {
            id,
            outcome: Outcome::Ok(Value::Null),
        };
        sink.complete(done(1));
        assert_eq!(sink.take(), vec![done(1)]);
        assert!(!sink.is_closed());
        sink.close();
        sink.complete(done(2));
        assert!(sink.is_closed());
        assert!(sink.take().is_empty());
        assert_eq!(kept.load(Ordering::Relaxed), 1);
        assert_eq!(dropped.load(Ordering::Relaxed), 0);
        drop(k);
    }
}
