//! Points in the British Isles and the H3 cells used to index them, so
//! "incidents near here" is an indexed `cell IN (...)` lookup followed by an
//! exact distance filter.

use std::fmt;

use h3o::{CellIndex, LatLng, Resolution};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// H3 resolution for stored cells: about 29 m edges, 2,100 m² per cell.
pub const CELL_RESOLUTION: Resolution = Resolution::Eleven;

/// `cells_within` treats larger radii as this, keeping the answer bounded
/// (about 16,000 cells). Beyond it, use a coarser search.
pub const MAX_CELLS_RADIUS_M: f64 = 2_000.0;

/// Mean earth radius (IUGG), as used by H3.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

const LAT_RANGE: (f64, f64) = (49.0, 61.5);
const LON_RANGE: (f64, f64) = (-8.7, 2.0);

/// Real H3 cell sizes differ from the resolution's average edge length; over
/// the whole globe hexagon edges stay within a factor of about 1.4 of it
/// (far less across the UK). 1.5 keeps `cells_within` a superset.
const EDGE_SLACK: f64 = 1.5;

/// A WGS84 point inside the British Isles.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawPoint")]
pub struct GeoPoint {
    lat: f64,
    lon: f64,
}

#[derive(Deserialize)]
struct RawPoint {
    lat: f64,
    lon: f64,
}

impl TryFrom<RawPoint> for GeoPoint {
    type Error = GeoError;
    fn try_from(raw: RawPoint) -> Result<Self, Self::Error> {
        GeoPoint::new(raw.lat, raw.lon)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum GeoError {
    #[error("The location is not a valid number. Enter the latitude and longitude as decimal degrees, like 51.5014, -0.1419")]
    NotANumber,
    #[error("The location is not on Earth: latitude must be between -90 and 90, and longitude between -180 and 180")]
    OutOfRange,
    #[error("The location is outside the British Isles (latitude 49.0 to 61.5, longitude -8.7 to 2.0). Check the latitude and longitude have not been swapped or mistyped")]
    OutsideBritishIsles,
}

impl GeoPoint {
    pub fn new(lat: f64, lon: f64) -> Result<GeoPoint, GeoError> {
        if !lat.is_finite() || !lon.is_finite() {
            return Err(GeoError::NotANumber);
        }
        if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
            return Err(GeoError::OutOfRange);
        }
        if !(LAT_RANGE.0..=LAT_RANGE.1).contains(&lat) || !(LON_RANGE.0..=LON_RANGE.1).contains(&lon) {
            return Err(GeoError::OutsideBritishIsles);
        }
        Ok(GeoPoint { lat, lon })
    }

    pub fn lat(&self) -> f64 {
        self.lat
    }

    pub fn lon(&self) -> f64 {
        self.lon
    }

    /// Great-circle (haversine) distance in metres.
    pub fn distance_m(&self, other: &GeoPoint) -> f64 {
        let (phi1, phi2) = (self.lat.to_radians(), other.lat.to_radians());
        let dphi = phi2 - phi1;
        let dlambda = (other.lon - self.lon).to_radians();
        let a = (dphi / 2.0).sin().powi(2) + phi1.cos() * phi2.cos() * (dlambda / 2.0).sin().powi(2);
        // Clamp: rounding can push `a` fractionally above 1 for antipodes.
        2.0 * EARTH_RADIUS_M * a.sqrt().min(1.0).asin()
    }

    fn h3_cell(&self) -> CellIndex {
        latlng(self.lat, self.lon).to_cell(CELL_RESOLUTION)
    }

    /// H3 cell index containing this point at [`CELL_RESOLUTION`].
    pub fn cell(&self) -> u64 {
        u64::from(self.h3_cell())
    }

    /// Cells at [`CELL_RESOLUTION`] that together cover every point within
    /// `metres` of this one (a superset: filter by `distance_m` afterwards).
    /// Negative or NaN radii count as 0; radii above [`MAX_CELLS_RADIUS_M`]
    /// are capped.
    pub fn cells_within(&self, metres: f64) -> Vec<u64> {
        self.h3_cell().grid_disk::<Vec<_>>(ring_count(metres)).into_iter().map(u64::from).collect()
    }
}

/// Only called with coordinates `GeoPoint::new` has checked are finite and
/// in range, which is all `LatLng::new` requires.
fn latlng(lat: f64, lon: f64) -> LatLng {
    LatLng::new(lat, lon).expect("GeoPoint coordinates are finite")
}

/// Grid distance k such that the k-disk round the centre cell covers a
/// `metres` circle round any point in that cell.
///
/// With edge e, the point is at most e from its cell centre, so the circle
/// lies within `metres + e` of the centre. Cells k+1 rings out have centres
/// at least 1.5·(k+1)·e away (the ring's flat sides) and reach at most e
/// back, so `1.5(k+1)e − e > metres + e` suffices. Using the largest plausible
/// edge for reach and the smallest for spacing: k = ceil(metres/e_avg) + 3.
fn ring_count(metres: f64) -> u32 {
    let r = if metres.is_nan() { 0.0 } else { metres.clamp(0.0, MAX_CELLS_RADIUS_M) };
    let e = CELL_RESOLUTION.edge_length_m();
    let (e_max, e_min) = (e * EDGE_SLACK, e / EDGE_SLACK);
    let k = ((r + 2.0 * e_max) / (1.5 * e_min)).ceil();
    // r is capped, so k is small and positive; the cast cannot truncate.
    k as u32
}

/// Bit-for-bit conversion for storing a cell in a signed SQL BIGINT.
pub fn to_i64(cell: u64) -> i64 {
    i64::from_ne_bytes(cell.to_ne_bytes())
}

/// Inverse of [`to_i64`].
pub fn from_i64(stored: i64) -> u64 {
    u64::from_ne_bytes(stored.to_ne_bytes())
}

impl fmt::Display for GeoPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.6}, {:.6}", self.lat, self.lon)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pt(lat: f64, lon: f64) -> GeoPoint {
        match GeoPoint::new(lat, lon) {
            Ok(p) => p,
            Err(e) => panic!("({lat}, {lon}) should be valid: {e}"),
        }
    }

    /// Point `dist` metres from `p` on initial `bearing` (radians), on the
    /// same sphere as `distance_m`.
    fn destination(p: GeoPoint, bearing: f64, dist: f64) -> (f64, f64) {
        let delta = dist / EARTH_RADIUS_M;
        let (phi1, lambda1) = (p.lat.to_radians(), p.lon.to_radians());
        let phi2 = (phi1.sin() * delta.cos() + phi1.cos() * delta.sin() * bearing.cos()).asin();
        let lambda2 = lambda1 + (bearing.sin() * delta.sin() * phi1.cos()).atan2(delta.cos() - phi1.sin() * phi2.sin());
        (phi2.to_degrees(), lambda2.to_degrees())
    }

    #[test]
    fn validates_coordinates() {
        assert!(GeoPoint::new(51.5014, -0.1419).is_ok());
        assert!(GeoPoint::new(60.8, -0.8).is_ok()); // Shetland
        assert!(GeoPoint::new(49.2, -2.1).is_ok()); // Jersey
        assert!(GeoPoint::new(54.6, -8.1).is_ok()); // Co. Fermanagh
        assert!(GeoPoint::new(49.0, -8.7).is_ok()); // box corner, inclusive
        assert_eq!(GeoPoint::new(f64::NAN, 0.0), Err(GeoError::NotANumber));
        assert_eq!(GeoPoint::new(51.5, f64::INFINITY), Err(GeoError::NotANumber));
        assert_eq!(GeoPoint::new(91.0, 0.0), Err(GeoError::OutOfRange));
        assert_eq!(GeoPoint::new(51.5, -181.0), Err(GeoError::OutOfRange));
        assert_eq!(GeoPoint::new(48.85, 2.35), Err(GeoError::OutsideBritishIsles)); // Paris
        assert_eq!(GeoPoint::new(-0.1419, 51.5014), Err(GeoError::OutsideBritishIsles)); // swapped
        assert_eq!(GeoPoint::new(61.6, 0.0), Err(GeoError::OutsideBritishIsles));
        assert_eq!(GeoPoint::new(55.0, 2.1), Err(GeoError::OutsideBritishIsles));
        assert!(GeoError::OutsideBritishIsles.to_string().contains("British Isles"));
    }

    #[test]
    fn known_distances() {
        let london = pt(51.5074, -0.1278);
        let edinburgh = pt(55.9533, -3.1883);
        let d = london.distance_m(&edinburgh);
        assert!((d - 534_000.0).abs() < 2_000.0, "London-Edinburgh {d}");
        assert_eq!(london.distance_m(&london), 0.0);
        // One arc-minute of latitude is about 1,853 m on this sphere.
        let d = pt(52.0, -1.0).distance_m(&pt(52.0 + 1.0 / 60.0, -1.0));
        assert!((d - 1853.25).abs() < 0.5, "{d}");
    }

    #[test]
    fn cell_matches_h3_reference() {
        // Same value h3o gives directly; checks the resolution too.
        let p = pt(51.5014, -0.1419);
        let want = u64::from(latlng(51.5014, -0.1419).to_cell(Resolution::Eleven));
        assert_eq!(p.cell(), want);
        assert_eq!(CellIndex::try_from(p.cell()).map(CellIndex::resolution), Ok(Resolution::Eleven));
    }

    #[test]
    fn cells_within_is_bounded_and_contains_own_cell() {
        let p = pt(53.4808, -2.2426);
        for r in [f64::NAN, -5.0, 0.0, 50.0, 500.0, f64::INFINITY] {
            let cells = p.cells_within(r);
            assert!(cells.contains(&p.cell()), "radius {r}");
            assert!(cells.len() <= 3 * 80 * 81 + 1, "radius {r}: {}", cells.len());
        }
        // Conservative, not wasteful: 50 m needs only a handful of rings.
        assert!(p.cells_within(50.0).len() <= 127);
    }

    #[test]
    fn i64_round_trip() {
        let cell = pt(51.5014, -0.1419).cell();
        assert_eq!(from_i64(to_i64(cell)), cell);
        assert_eq!(to_i64(cell), i64::try_from(cell).unwrap_or(-1)); // H3 leaves the top bit clear
        assert_eq!(to_i64(u64::MAX), -1);
        assert_eq!(from_i64(i64::MIN), 1 << 63);
    }

    #[test]
    fn edge_slack_holds_across_the_uk() {
        // The covering proof assumes every cell's vertices are within
        // EDGE_SLACK·e of its centre and neighbour centres at least
        // √3·e/EDGE_SLACK apart. Check on a grid over the whole box.
        let e = CELL_RESOLUTION.edge_length_m();
        for i in 0..=25 {
            for j in 0..=21 {
                let p = pt(49.0 + 0.5 * f64::from(i), -8.7 + 0.5 * f64::from(j));
                let cell = p.h3_cell();
                let centre = LatLng::from(cell);
                for v in cell.boundary().iter() {
                    assert!(centre.distance_m(*v) <= EDGE_SLACK * e);
                }
                for n in cell.grid_disk::<Vec<_>>(1) {
                    if n != cell {
                        let spacing = centre.distance_m(LatLng::from(n));
                        assert!(spacing >= 3f64.sqrt() * e / EDGE_SLACK);
                    }
                }
            }
        }
    }

    proptest! {
        #[test]
        fn cells_within_covers_every_nearby_point(
            lat in 49.01f64..61.49,
            lon in -8.69f64..1.99,
            bearing in 0.0f64..std::f64::consts::TAU,
            frac in 0.0f64..=1.0,
            radius in prop::sample::select(vec![50.0, 50.0, 50.0, 10.0, 120.0]),
        ) {
            let origin = pt(lat, lon);
            // Stay just inside the radius so rounding cannot take the point out.
            let dist = radius * frac * 0.999;
            let (lat2, lon2) = destination(origin, bearing, dist);
            let target = LatLng::new(lat2, lon2).map(|ll| u64::from(ll.to_cell(CELL_RESOLUTION)));
            prop_assert!(target.is_ok());
            if let (Ok(target), Ok(near)) = (target, GeoPoint::new(lat2, lon2)) {
                prop_assert!(origin.distance_m(&near) <= radius);
                prop_assert!(origin.cells_within(radius).contains(&target));
            }
        }

        #[test]
        fn distance_is_symmetric(
            a in (49.0f64..=61.5, -8.7f64..=2.0),
            b in (49.0f64..=61.5, -8.7f64..=2.0),
        ) {
            let (p, q) = (pt(a.0, a.1), pt(b.0, b.1));
            let (pq, qp) = (p.distance_m(&q), q.distance_m(&p));
            prop_assert!((pq - qp).abs() <= 1e-9 * pq.max(1.0));
            prop_assert!(pq >= 0.0);
            prop_assert!(pq < 1_500_000.0);
        }

        #[test]
        fn new_never_panics(lat in any::<f64>(), lon in any::<f64>()) {
            if let Ok(p) = GeoPoint::new(lat, lon) {
                prop_assert_eq!((p.lat(), p.lon()), (lat, lon));
                let _ = p.cell();
            }
        }
    }
}
