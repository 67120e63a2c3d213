//! Figures kept while they are slow to compute — the inspection measures and the analysis: at a
//! large force's scale (a year of the MPS, 10 million incidents) they take seconds to aggregate,
//! so a result that took longer than `SLOW` is served again for `FRESH`, then refreshed in the
//! background while the last one is still served. Every result carries the moment it was
//! computed (`as_at`), which the pages and the API show. A result that was quick to compute (a
//! small deployment, every test) is computed afresh on every request and not kept. Nothing that
//! names people is kept here: each look at it is read and logged afresh.

use asb_store::StoreError;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SLOW: Duration = Duration::from_secs(2);
const FRESH: Duration = Duration::from_secs(10 * 60);
/// At most this many results of each kind are kept; the oldest goes first.
const KEEP: usize = 64;

struct Entry<V> {
    value: Arc<V>,
    at: Instant,
    /// Order of keeping, for putting out the oldest (instants can tie).
    order: u64,
    refreshing: bool,
}

static KEPT: AtomicU64 = AtomicU64::new(0);

/// Slow results by their question.
pub struct SlowCache<K, V>(Mutex<HashMap<K, Entry<V>>>);

impl<K, V> Default for SlowCache<K, V> {
    fn default() -> Self {
        SlowCache(Mutex::new(HashMap::new()))
    }
}

impl<K, V> SlowCache<K, V>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    V: Send + Sync + 'static,
{
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<K, Entry<V>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn keep(&self, key: K, value: Arc<V>) {
        let mut map = self.map();
        if map.len() >= KEEP && !map.contains_key(&key) {
            if let Some(oldest) = map.iter().min_by_key(|(_, e)| e.order).map(|(k, _)| k.clone()) {
                map.remove(&oldest);
            }
        }
        let order = KEPT.fetch_add(1, Ordering::Relaxed);
        map.insert(key, Entry { value, at: Instant::now(), order, refreshing: false });
    }

    /// The answer to `key`: kept, if it was slow and is fresh enough (refreshed in the
    /// background once it is not), else `compute`d now.
    pub async fn get<F, Fut>(self: &Arc<Self>, key: K, compute: F) -> Result<Arc<V>, StoreError>
    where
        F: FnOnce() -> Fut + Clone + Send + 'static,
        Fut: Future<Output = Result<V, StoreError>> + Send + 'static,
    {
        let kept = {
            let mut map = self.map();
            match map.get_mut(&key) {
                Some(e) => {
                    if e.at.elapsed() >= FRESH && !e.refreshing {
                        e.refreshing = true;
                        let (cache, key, compute) = (Arc::clone(self), key.clone(), compute.clone());
                        tokio::spawn(async move {
                            match compute().await {
                                Ok(v) => cache.keep(key, Arc::new(v)),
                                Err(e) => {
                                    tracing::warn!(error = %e, "refreshing slow figures failed; the last ones stay");
                                    if let Some(e) = cache.map().get_mut(&key) {
                                        e.refreshing = false;
                                    }
                                }
                            }
                        });
                    }
                    Some(Arc::clone(&e.value))
                }
                None => None,
            }
        };
        if let Some(v) = kept {
            return Ok(v);
        }
        let started = Instant::now();
        let value = Arc::new(compute().await?);
        if started.elapsed() >= SLOW {
            self.keep(key, Arc::clone(&value));
        }
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn quick_answers_are_not_kept() {
        let cache: Arc<SlowCache<u8, usize>> = Arc::default();
        let calls = Arc::new(AtomicUsize::new(0));
        for _ in 0..3 {
            let calls = Arc::clone(&calls);
            let v = cache.get(1, move || async move { Ok(calls.fetch_add(1, Ordering::SeqCst)) }).await.unwrap();
            assert!(*v < 3);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3, "computed each time");
        assert!(cache.map().is_empty());
    }

    #[tokio::test]
    async fn kept_answers_are_served_and_the_oldest_goes_first() {
        let cache: Arc<SlowCache<usize, usize>> = Arc::default();
        for k in 0..KEEP + 1 {
            cache.keep(k, Arc::new(k * 10));
        }
        assert_eq!(cache.map().len(), KEEP);
        assert!(!cache.map().contains_key(&0), "the oldest went");
        let v = cache.get(5, || async { Err(StoreError::Other("not asked".into())) }).await.unwrap();
        assert_eq!(*v, 50);
    }
}
