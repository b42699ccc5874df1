//! One backend call per question per interval, however many people ask: concurrent askers share
//! the call in flight (single-flight), and its answer — an error too — serves everyone who asks
//! within the interval. The panels of a migration watched by a hundred people cost what one costs.
//! Each call runs in a task of its own, so an asker who stops waiting (a page that will not wait
//! for a slow source) leaves it to finish for the next.

use std::{
    collections::HashMap,
    future::Future,
    hash::Hash,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use futures_util::future::{BoxFuture, FutureExt, Shared};

pub struct Coalesce<K, V> {
    fresh_for: Duration,
    entries: Mutex<HashMap<K, Arc<Entry<V>>>>,
}

struct Entry<V> {
    asked_at: Instant,
    answer: Shared<BoxFuture<'static, V>>,
}

/// Past this many remembered questions, stale ones are forgotten when a new one comes.
const PRUNE_ABOVE: usize = 1024;

impl<K: Eq + Hash + Clone, V: Clone + Send + Sync + 'static> Coalesce<K, V> {
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
        Fut: Future<Output = V> + Send + 'static,
    {
        let answer = {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if entries.len() > PRUNE_ABOVE {
                entries.retain(|_, e| e.asked_at.elapsed() < self.fresh_for);
            }
            match entries.get(&key) {
                Some(entry) if entry.asked_at.elapsed() < self.fresh_for => entry.answer.clone(),
                _ => {
                    let call = tokio::spawn(fetch());
                    let answer = async move { call.await.expect("a backend call runs to its end") }
                        .boxed()
                        .shared();
                    entries.insert(
                        key,
                        Arc::new(Entry {
                            asked_at: Instant::now(),
                            answer: answer.clone(),
                        }),
                    );
                    answer
                }
            }
        };
        answer.await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    async fn ask(coalesce: &Coalesce<&'static str, u32>, calls: &Arc<AtomicUsize>) -> u32 {
        let calls = Arc::clone(calls);
        coalesce
            .get("find_commit:call_rate", || async move {
                calls.fetch_add(1, Ordering::SeqCst);
                // Long enough that all hundred ask while the first call is in flight.
                tokio::time::sleep(Duration::from_millis(100)).await;
                42
            })
            .await
    }

    #[tokio::test]
    async fn an_asker_who_stops_waiting_leaves_the_call_to_finish_for_the_next() {
        let coalesce = Coalesce::new(Duration::from_secs(60));
        let calls = Arc::new(AtomicUsize::new(0));
        // The backend answers only once the gate opens.
        let gate = Arc::new(tokio::sync::Notify::new());
        let ask = || {
            let (calls, gate) = (Arc::clone(&calls), Arc::clone(&gate));
            coalesce.get("find_commit:cpu", move || async move {
                calls.fetch_add(1, Ordering::SeqCst);
                gate.notified().await;
                42
            })
        };
        let gave_up = tokio::time::timeout(Duration::from_millis(10), ask()).await;
        assert!(gave_up.is_err(), "the gate is shut: no answer yet");
        gate.notify_one();
        assert_eq!(ask().await, 42);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "the next asker got the first call's answer"
        );
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
