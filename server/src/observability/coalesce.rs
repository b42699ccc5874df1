//! One backend call per question per interval, however many people ask: concurrent askers share
//! the call in flight (single-flight), and its answer — an error too — serves everyone who asks
//! within the interval. The panels of a migration watched by a hundred people cost what one costs.

use std::{
    collections::HashMap,
    future::Future,
    hash::Hash,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use tokio::sync::OnceCell;

pub struct Coalesce<K, V> {
    fresh_for: Duration,
    entries: Mutex<HashMap<K, Arc<Entry<V>>>>,
}

struct Entry<V> {
    asked_at: Instant,
    answer: OnceCell<V>,
}

/// Past this many remembered questions, stale ones are forgotten when a new one comes.
const PRUNE_ABOVE: usize = 1024;

impl<K: Eq + Hash + Clone, V: Clone> Coalesce<K, V> {
    pub fn new(fresh_for: Duration) -> Self {
        Coalesce {
            fresh_for,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The answer to `key`: the one being fetched or fetched within the interval, or a new one
    /// from `fetch`.
    pub async fn get<F, Fut>(&self, key: K, fetch: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let entry = {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if entries.len() > PRUNE_ABOVE {
                entries.retain(|_, e| e.asked_at.elapsed() < self.fresh_for);
            }
            match entries.get(&key) {
                Some(entry) if entry.asked_at.elapsed() < self.fresh_for => Arc::clone(entry),
                _ => {
                    let entry = Arc::new(Entry {
                        asked_at: Instant::now(),
                        answer: OnceCell::new(),
                    });
                    entries.insert(key, Arc::clone(&entry));
                    entry
                }
            }
        };
        entry.answer.get_or_init(fetch).await.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    async fn ask(coalesce: &Coalesce<&'static str, u32>, calls: &AtomicUsize) -> u32 {
        coalesce
            .get("find_commit:call_rate", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                // Long enough that all hundred ask while the first call is in flight.
                tokio::time::sleep(Duration::from_millis(100)).await;
                42
            })
            .await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_hundred_askers_at_once_make_one_call_and_the_next_interval_another() {
        let coalesce = Arc::new(Coalesce::new(Duration::from_millis(500)));
        let calls = Arc::new(AtomicUsize::new(0));
        let askers: Vec<_> = (0..100)
            .map(|_| {
                let (coalesce, calls) = (Arc::clone(&coalesce), Arc::clone(&calls));
                tokio::spawn(async move { ask(&coalesce, &calls).await })
            })
            .collect();
        for asker in askers {
            assert_eq!(asker.await.unwrap(), 42);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one call for all");
        assert_eq!(ask(&coalesce, &calls).await, 42);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "still fresh");
        tokio::time::sleep(Duration::from_millis(550)).await;
        ask(&coalesce, &calls).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2, "asked again once stale");
        let other = coalesce.get("find_commit:error_rate", || async { 7 }).await;
        assert_eq!(other, 7, "another question is another call");
    }
}
