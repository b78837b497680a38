//! A model loaded on first use and shared by every caller after it. A failed load is not kept
//! for the life of the process: it is answered for a pause (so that a burst of jobs does not
//! retry it each), then tried again, so a long-running service recovers once its models are
//! installed or fixed, without a restart.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a failed load is answered before it is tried again, by default.
pub const RETRY_AFTER: Duration = Duration::from_secs(30);

enum State<T> {
    Empty,
    Loaded(T),
    Failed { message: String, at: Instant },
}

/// A value (typically an `Arc` of loaded models) loaded on first use; see the module doc.
pub struct LazyModel<T> {
    state: Mutex<State<T>>,
    retry_after: Duration,
}

impl<T> std::fmt::Debug for LazyModel<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `try_lock`: printing never waits for (or deadlocks with) a load in progress.
        let state = match self.state.try_lock().as_deref() {
            Ok(State::Empty) => "empty",
            Ok(State::Loaded(_)) => "loaded",
            Ok(State::Failed { .. }) => "failed",
            Err(_) => "busy",
        };
        f.debug_struct("LazyModel").field("state", &state).finish()
    }
}

impl<T: Clone> Default for LazyModel<T> {
    fn default() -> Self {
        Self::new(RETRY_AFTER)
    }
}

impl<T: Clone> LazyModel<T> {
    /// Nothing loaded yet; a failed load is retried `retry_after` after it failed.
    pub fn new(retry_after: Duration) -> Self {
        Self {
            state: Mutex::new(State::Empty),
            retry_after,
        }
    }

    /// The loaded value, loading it with `load` if there is none yet or the last failure is
    /// older than the pause. Concurrent first callers wait for one load instead of each
    /// loading. The error is the load's message.
    pub fn get_or_load(&self, load: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
        let mut state = self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*state {
            State::Loaded(v) => return Ok(v.clone()),
            State::Failed { message, at } if at.elapsed() < self.retry_after => {
                return Err(message.clone())
            }
            _ => {}
        }
        match load() {
            Ok(v) => {
                *state = State::Loaded(v.clone());
                Ok(v)
            }
            Err(message) => {
                *state = State::Failed {
                    message: message.clone(),
                    at: Instant::now(),
                };
                Err(message)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn a_value_is_loaded_once_and_shared() {
        let cell = LazyModel::<Arc<u32>>::default();
        let loads = AtomicUsize::new(0);
        let load = || {
            loads.fetch_add(1, Ordering::SeqCst);
            Ok(Arc::new(7))
        };
        assert_eq!(*cell.get_or_load(load).unwrap(), 7);
        assert_eq!(*cell.get_or_load(|| Err("not called".into())).unwrap(), 7);
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_failure_is_answered_for_the_pause_then_retried() {
        let cell = LazyModel::<u32>::new(Duration::from_millis(50));
        assert_eq!(
            cell.get_or_load(|| Err("missing".into())),
            Err("missing".into())
        );
        // Within the pause: the failure is answered, the loader not called.
        assert_eq!(cell.get_or_load(|| Ok(1)), Err("missing".into()));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cell.get_or_load(|| Ok(2)), Ok(2));
        assert_eq!(cell.get_or_load(|| Ok(3)), Ok(2));
    }

    #[test]
    fn concurrent_first_callers_wait_for_one_load() {
        let cell = Arc::new(LazyModel::<u32>::default());
        let loads = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (cell, loads) = (cell.clone(), loads.clone());
                std::thread::spawn(move || {
                    cell.get_or_load(|| {
                        loads.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        Ok(5)
                    })
                })
            })
            .collect();
        for t in threads {
            assert_eq!(t.join().unwrap(), Ok(5));
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }
}
