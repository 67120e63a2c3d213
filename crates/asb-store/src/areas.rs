//! The imported area boundaries as an index for placing points, kept in memory: rebuilt from
//! `area_boundaries` at most once a minute (or at once after an import in this process), so
//! placing a new report costs a lock, not a query.

use crate::{Result, Store};
use asb_domain::areas::{self, AreaIndex};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Boundaries imported by another process are seen within this long.
const FRESH_FOR: Duration = Duration::from_secs(60);

/// When the index was built, and the index.
type Built = (Instant, Arc<AreaIndex>);

/// Shared by every clone of the store.
#[derive(Default, Clone)]
pub(crate) struct AreaCache(Arc<Mutex<Option<Built>>>);

impl AreaCache {
    pub(crate) fn clear(&self) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

impl Store {
    /// The imported boundaries, ready for point-in-polygon (empty when none are imported).
    pub async fn area_index(&self) -> Result<Arc<AreaIndex>> {
        if let Some((at, index)) = self.areas.0.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            if at.elapsed() < FRESH_FOR {
                return Ok(Arc::clone(index));
            }
        }
        let features: Vec<serde_json::Value> = self
            .boundaries()
            .await?
            .into_iter()
            .map(|(code, name, geometry)| {
                serde_json::json!({"type": "Feature", "properties": {"code": code, "name": name}, "geometry": geometry})
            })
            .collect();
        let collection = serde_json::json!({"type": "FeatureCollection", "features": features}).to_string();
        // Every stored boundary was checked by the same parser when it was imported.
        let parsed = areas::parse_geojson(&collection, Some("code"), Some("name"))
            .map_err(|e| crate::StoreError::Other(format!("the stored boundaries no longer read: {e}")))?;
        let index = Arc::new(AreaIndex::new(parsed));
        *self.areas.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), Arc::clone(&index)));
        Ok(index)
    }
}
