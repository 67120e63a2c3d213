//! The inspection measures, kept while they are slow to compute. A year of an MPS-sized force
//! (1.3 million contacts) takes tens of seconds to aggregate, so a result that took longer than
//! `SLOW` is served again for `FRESH`, then refreshed in the background while the last one is
//! still served; the figures carry the moment they were computed (`as_at`). A result that was
//! quick to compute (a small deployment, every test) is computed afresh on every request.

use crate::AppState;
use asb_store::{Measures, StoreError};
use chrono::NaiveDate;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SLOW: Duration = Duration::from_secs(2);
const FRESH: Duration = Duration::from_secs(10 * 60);

type Key = (NaiveDate, NaiveDate, Option<String>);

struct Entry {
    measures: Arc<Measures>,
    at: Instant,
    took: Duration,
    refreshing: bool,
}

#[derive(Default)]
pub struct MeasuresCache(Mutex<HashMap<Key, Entry>>);

impl MeasuresCache {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The measures for the months `from` to `to`, for the force and every borough or one.
    pub async fn get(
        &self,
        state: &AppState,
        from: NaiveDate,
        to: NaiveDate,
        borough: Option<&str>,
    ) -> Result<Arc<Measures>, StoreError> {
        let key: Key = (from, to, borough.map(|b| b.trim().to_uppercase()));
        let kept = {
            let mut map = self.map();
            match map.get_mut(&key) {
                Some(e) if e.took >= SLOW => {
                    if e.at.elapsed() >= FRESH && !e.refreshing {
                        e.refreshing = true;
                        let state = state.clone();
                        let key = key.clone();
                        tokio::spawn(async move {
                            let done = compute(&state, &key).await;
                            let mut map = state.measures.map();
                            match done {
                                Ok(entry) => {
                                    map.insert(key, entry);
                                }
                                Err(e) => {
                                    tracing::warn!(error = %e, "refreshing the measures failed; the last figures stay");
                                    if let Some(e) = map.get_mut(&key) {
                                        e.refreshing = false;
                                    }
                                }
                            }
                        });
                    }
                    Some(e.measures.clone())
                }
                _ => None,
            }
        };
        if let Some(m) = kept {
            return Ok(m);
        }
        let entry = compute(state, &key).await?;
        let measures = entry.measures.clone();
        self.map().insert(key, entry);
        Ok(measures)
    }
}

async fn compute(state: &AppState, key: &Key) -> Result<Entry, StoreError> {
    let started = Instant::now();
    let (from, to, borough) = key;
    let m = state.store.measures(&state.policies, state.now(), *from, *to, borough.as_deref()).await?;
    Ok(Entry { measures: Arc::new(m), at: Instant::now(), took: started.elapsed(), refreshing: false })
}
