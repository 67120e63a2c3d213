//! Hotspots: H3 cells ranked by how many ASB reports fall in them, and the rule that says which
//! cells are *emerging* — busier in the last few months than their own past makes likely by
//! chance. Pure: the store counts (deriving coarser cells from the stored resolution-11 cells in
//! SQL), this module judges and describes.
//!
//! The emerging rule (`policies/emerging-hotspot.toml`, an asb default): the cell's reports in
//! the `recent_months` ending with the month asked about are compared with its reports in the
//! `baseline_months` before them. Expected = baseline × recent ÷ baseline months, at least
//! `expected_floor` (so a cell with no past can still emerge). The cell is emerging when it has
//! at least `min_observed` recent reports and P(X ≥ observed) < `significance` for X a Poisson
//! count with that expectation (a one-sided test: a fall is never "emerging").

use crate::policy::PolicyMeta;
use h3o::{CellIndex, LatLng, Resolution};
use serde::{Deserialize, Serialize};

/// The coarsest and finest resolutions hotspots are counted at (about 36 km² down to 0.015 km²
/// a cell), and the default (about 0.74 km², a few streets).
pub const MIN_RESOLUTION: u8 = 6;
pub const MAX_RESOLUTION: u8 = 10;
pub const DEFAULT_RESOLUTION: u8 = 8;

/// A resolution as asked for (`resolution=8`); `None` is the default. Errors are sentences.
pub fn resolution(given: Option<&str>) -> Result<u8, String> {
    let Some(s) = given.map(str::trim).filter(|s| !s.is_empty()) else { return Ok(DEFAULT_RESOLUTION) };
    match s.parse::<u8>() {
        Ok(r) if (MIN_RESOLUTION..=MAX_RESOLUTION).contains(&r) => Ok(r),
        _ => Err(format!(
            "'{s}' is not a resolution asb counts hotspots at: give a whole number from {MIN_RESOLUTION} (large cells, about 36 km²) to {MAX_RESOLUTION} (small cells, about 0.015 km²); the default is {DEFAULT_RESOLUTION}"
        )),
    }
}

fn cell(h3: i64) -> Option<CellIndex> {
    CellIndex::try_from(h3 as u64).ok()
}

/// The cell's parent at `resolution`, by h3o (what the store's SQL arithmetic must agree with).
/// `None` when `h3` is not a cell or is coarser than `resolution`.
pub fn parent(h3: i64, resolution: u8) -> Option<i64> {
    let r = Resolution::try_from(resolution).ok()?;
    cell(h3)?.parent(r).map(|p| u64::from(p) as i64)
}

/// A cell's usual name: its index in hexadecimal, as H3 tools write it (`881950c91bfffff`).
pub fn cell_name(h3: i64) -> String {
    format!("{:x}", h3 as u64)
}

/// A cell from its hexadecimal name.
pub fn cell_from_name(name: &str) -> Option<i64> {
    let v = u64::from_str_radix(name.trim(), 16).ok()?;
    CellIndex::try_from(v).ok().map(|c| u64::from(c) as i64)
}

/// The cell's resolution, when `h3` is a cell.
pub fn cell_resolution(h3: i64) -> Option<u8> {
    cell(h3).map(|c| u8::from(c.resolution()))
}

/// The cell's centre as (lat, lon).
pub fn centre(h3: i64) -> Option<(f64, f64)> {
    cell(h3).map(|c| {
        let ll = LatLng::from(c);
        (ll.lat(), ll.lng())
    })
}

/// The cell's boundary as (lat, lon) vertices, in order, not closed (six, or up to ten where a
/// cell's edges cross an icosahedron face).
pub fn outline(h3: i64) -> Option<Vec<(f64, f64)>> {
    cell(h3).map(|c| c.boundary().iter().map(|ll| (ll.lat(), ll.lng())).collect())
}

/// The emerging-hotspot rule's settings, as the force sets them in `emerging-hotspot.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EmergingPolicy {
    #[serde(flatten)]
    pub meta: PolicyMeta,
    pub recent_months: u32,
    pub baseline_months: u32,
    pub expected_floor: f64,
    pub min_observed: i64,
    pub significance: f64,
}

/// A cell judged by the emerging rule: the verdict with its rule, version and reason, and the
/// figures behind it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Emerging {
    pub flag: bool,
    pub rule: String,
    pub version: u32,
    pub reason: String,
    /// Reports in the last `recent_months`.
    pub observed: i64,
    /// Reports in the `baseline_months` before them.
    pub baseline: i64,
    /// What the baseline leads one to expect over the recent months (at least the floor).
    pub expected: f64,
    /// P(X ≥ observed) for X ~ Poisson(expected).
    pub p_value: f64,
}

impl EmergingPolicy {
    pub fn check(&self) -> Result<(), String> {
        if self.recent_months == 0 || self.recent_months > 12 {
            return Err("recent_months must be between 1 and 12".into());
        }
        if self.baseline_months < self.recent_months || self.baseline_months > 36 {
            return Err("baseline_months must be at least recent_months and at most 36".into());
        }
        if !(self.expected_floor > 0.0 && self.expected_floor <= 10.0) {
            return Err(
                "expected_floor must be above 0 and at most 10: with 0, any single report would be infinitely unlikely"
                    .into(),
            );
        }
        if self.min_observed < 1 {
            return Err("min_observed must be at least 1".into());
        }
        if !(self.significance > 0.0 && self.significance <= 0.2) {
            return Err("significance must be above 0 and at most 0.2".into());
        }
        Ok(())
    }

    /// The recent count a cell with `baseline` reports in the baseline months is expected to
    /// have, never below the floor.
    pub fn expected(&self, baseline: i64) -> f64 {
        let scaled = baseline.max(0) as f64 * f64::from(self.recent_months) / f64::from(self.baseline_months);
        scaled.max(self.expected_floor)
    }

    /// The rule in plain words, for the page and the API.
    pub fn describe(&self) -> String {
        format!(
            "A cell is an emerging hotspot when it had at least {min} reports in the last {r} and that many or more \
             would happen by chance {chance} if it went on as in the {b} before. The expected number is the cell's \
             reports in those {b} × {rn} ÷ {bn}, and at least {floor} (so a cell with no past can emerge); \
             \"by chance\" is a Poisson count with that expectation (a one-sided test: falls are not flagged). \
             {cite}.",
            min = self.min_observed,
            r = months(self.recent_months),
            chance = chance_words(self.significance),
            b = months(self.baseline_months),
            rn = self.recent_months,
            bn = self.baseline_months,
            floor = self.expected_floor,
            cite = capital(&self.meta.cite()),
        )
    }

    /// Judge a cell with `observed` reports in the recent months and `baseline` in the months
    /// before them.
    pub fn assess(&self, observed: i64, baseline: i64) -> Emerging {
        let (observed, baseline) = (observed.max(0), baseline.max(0));
        let expected = self.expected(baseline);
        let p_value = poisson_upper_tail(observed as u64, expected);
        let flag = observed >= self.min_observed && p_value < self.significance;
        let recent = format!("{} in the last {}", plural(observed, "report", "reports"), months(self.recent_months));
        let against = if expected > self.expected_floor {
            format!("against {expected:.1} expected from {baseline} in the {} before", months(self.baseline_months))
        } else {
            format!(
                "against {expected:.1} expected (the floor: {baseline} in the {} before)",
                months(self.baseline_months)
            )
        };
        let reason = if observed < self.min_observed {
            format!("{recent}: fewer than the {} the rule needs", self.min_observed)
        } else if flag {
            format!(
                "{recent} {against}: so many would happen by chance with probability {}, below {}",
                p_words(p_value),
                self.significance
            )
        } else {
            format!(
                "{recent} {against}: as many would happen by chance with probability {}, not below {}",
                p_words(p_value),
                self.significance
            )
        };
        Emerging {
            flag,
            rule: self.meta.id.clone(),
            version: self.meta.version,
            reason: format!("{} — {}", capital(&reason), self.meta.cite()),
            observed,
            baseline,
            expected,
            p_value,
        }
    }
}

fn months(n: u32) -> String {
    if n == 1 {
        "month".into()
    } else {
        format!("{n} months")
    }
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// "less than 1 time in 100" for 0.01; the number itself when it is not one in a whole number.
fn chance_words(p: f64) -> String {
    let n = (1.0 / p).round();
    if (1.0 / n - p).abs() < 1e-12 {
        format!("less than 1 time in {n}")
    } else {
        format!("with probability below {p}")
    }
}

/// A probability as people read it: two significant figures, "below 0.000001" when tiny.
fn p_words(p: f64) -> String {
    if p < 1e-6 {
        "below 0.000001".into()
    } else if p >= 0.1 {
        format!("{p:.2}")
    } else {
        let digits = (-p.log10()).floor() as usize + 2;
        format!("{p:.digits$}")
    }
}

/// ln(n!): exact sums for small n, Stirling's series (error below 1e-15) beyond.
fn ln_factorial(n: u64) -> f64 {
    if n < 256 {
        return (2..=n).map(|i| (i as f64).ln()).sum();
    }
    let x = n as f64;
    x * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI * x).ln() + 1.0 / (12.0 * x) - 1.0 / (360.0 * x.powi(3))
        + 1.0 / (1260.0 * x.powi(5))
}

/// P(X ≥ k) for X ~ Poisson(lambda). Summed from whichever side has the small terms, in log
/// space, so neither a tiny tail nor a large lambda loses it to rounding or underflow.
pub fn poisson_upper_tail(k: u64, lambda: f64) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if lambda.is_nan() || lambda <= 0.0 {
        return 0.0;
    }
    let log_term = |i: u64| -lambda + i as f64 * lambda.ln() - ln_factorial(i);
    if k as f64 > lambda {
        // The tail itself: terms from k upward shrink by lambda / i < 1 each step.
        let mut term = log_term(k).exp();
        let mut sum = 0.0;
        let mut i = k;
        while term > 0.0 && term > sum * 1e-17 && i < k + 100_000 {
            sum += term;
            i += 1;
            term *= lambda / i as f64;
        }
        sum.min(1.0)
    } else {
        // One less the lower part: terms from k-1 downward shrink by i / lambda ≤ 1 each step.
        let mut term = log_term(k - 1).exp();
        let mut sum = 0.0;
        let mut i = k - 1;
        loop {
            sum += term;
            if i == 0 || term < sum * 1e-17 {
                break;
            }
            term *= i as f64 / lambda;
            i -= 1;
        }
        (1.0 - sum).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policies;

    fn rule() -> EmergingPolicy {
        Policies::defaults().emerging_hotspot
    }

    /// P(X ≥ k) the slow, obvious way, for small lambda and k.
    fn tail_by_definition(k: u64, lambda: f64) -> f64 {
        let mut cdf = 0.0;
        let mut term = (-lambda).exp();
        for i in 0..k {
            cdf += term;
            term *= lambda / (i + 1) as f64;
        }
        1.0 - cdf
    }

    #[test]
    fn poisson_tail_matches_the_definition_and_known_values() {
        for lambda in [0.1, 0.5, 1.0, 2.5, 6.0, 12.0] {
            for k in 0..30 {
                let (a, b) = (poisson_upper_tail(k, lambda), tail_by_definition(k, lambda));
                assert!((a - b).abs() < 1e-12, "k={k} lambda={lambda}: {a} vs {b}");
            }
        }
        // Tables: P(X ≥ 8 | 3) = 1 − 0.988095 and P(X ≥ 5 | 0.5) = 1.7212e-4.
        assert!((poisson_upper_tail(8, 3.0) - 0.011905).abs() < 1e-6);
        assert!((poisson_upper_tail(5, 0.5) - 1.7212e-4).abs() < 1e-8);
        assert_eq!(poisson_upper_tail(1, 0.0), 0.0);
        // Far tails keep their size instead of rounding to 0 or 1.
        let tiny = poisson_upper_tail(60, 2.0);
        assert!(tiny > 0.0 && tiny < 1e-50, "{tiny}");
        let big = poisson_upper_tail(1000, 1000.0);
        assert!((big - 0.5042).abs() < 0.001, "{big}");
        assert!(poisson_upper_tail(800, 1000.0) > 0.999_999);
    }

    #[test]
    fn the_shipped_rule_is_the_documented_one() {
        let r = rule();
        assert_eq!((r.meta.id.as_str(), r.meta.version), ("emerging-hotspot", 1));
        assert_eq!((r.recent_months, r.baseline_months, r.min_observed), (3, 12, 5));
        assert_eq!((r.expected_floor, r.significance), (0.5, 0.01));
        let words = r.describe();
        assert!(words.contains("at least 5 reports in the last 3 months"), "{words}");
        assert!(words.contains("less than 1 time in 100"), "{words}");
        assert!(words.contains("× 3 ÷ 12") && words.contains("at least 0.5"), "{words}");
        assert!(words.ends_with("Emerging hotspot rule v1."), "{words}");
    }

    #[test]
    fn a_new_cell_emerges_at_five_reports_not_four() {
        let r = rule();
        // No past: expected is the floor, 0.5. P(X ≥ 5 | 0.5) ≈ 0.00017 < 0.01.
        let e = r.assess(5, 0);
        assert!(e.flag, "{e:?}");
        assert_eq!(e.expected, 0.5);
        assert!(e.reason.starts_with("5 reports in the last 3 months against 0.5 expected (the floor"), "{}", e.reason);
        assert!(e.reason.ends_with("emerging hotspot rule v1"), "{}", e.reason);
        // Four is as unlikely, but below the minimum the rule needs.
        let e = r.assess(4, 0);
        assert!(!e.flag);
        assert!(e.reason.contains("fewer than the 5 the rule needs"), "{}", e.reason);
    }

    #[test]
    fn a_steady_cell_does_not_emerge_and_a_sharp_rise_does() {
        let r = rule();
        // Two a month for a year, then two a month: expected 6, observed 6.
        let steady = r.assess(6, 24);
        assert!(!steady.flag, "{steady:?}");
        assert_eq!(steady.expected, 6.0);
        assert!(steady.p_value > 0.3, "{steady:?}");
        assert!(steady.reason.contains("not below 0.01"), "{}", steady.reason);
        // The boundary for expected 6: P(X ≥ 13 | 6) ≈ 0.0088 < 0.01, P(X ≥ 12 | 6) ≈ 0.020.
        assert!(r.assess(13, 24).flag);
        assert!(!r.assess(12, 24).flag);
        // A fall is never emerging.
        assert!(!r.assess(0, 240).flag);
    }

    #[test]
    fn the_floor_and_the_scaling() {
        let r = rule();
        assert_eq!(r.expected(0), 0.5);
        assert_eq!(r.expected(1), 0.5, "1 × 3 ÷ 12 = 0.25, below the floor");
        assert_eq!(r.expected(12), 3.0);
        assert_eq!(r.expected(-3), 0.5);
    }

    #[test]
    fn a_bad_rule_file_is_refused() {
        let mut r = rule();
        r.expected_floor = 0.0;
        assert!(r.check().unwrap_err().contains("expected_floor"));
        let mut r = rule();
        r.baseline_months = 2;
        assert!(r.check().unwrap_err().contains("baseline_months"));
        let mut r = rule();
        r.significance = 0.5;
        assert!(r.check().unwrap_err().contains("significance"));
        assert!(rule().check().is_ok());
    }

    #[test]
    fn resolutions_in_range_only() {
        assert_eq!(resolution(None), Ok(8));
        assert_eq!(resolution(Some(" ")), Ok(8));
        assert_eq!(resolution(Some("6")), Ok(6));
        assert_eq!(resolution(Some("10")), Ok(10));
        for bad in ["5", "11", "x", "8.5", "-1"] {
            assert!(resolution(Some(bad)).unwrap_err().contains("from 6"), "{bad}");
        }
    }

    #[test]
    fn cells_name_centre_outline_and_parent() {
        let p = crate::matching::GeoPoint::new(51.5390, -0.1426).unwrap();
        let h = p.cell() as i64;
        assert_eq!(cell_resolution(h), Some(11));
        assert_eq!(cell_from_name(&cell_name(h)), Some(h));
        assert_eq!(cell_from_name("not a cell"), None);
        let parent8 = parent(h, 8).unwrap();
        assert_eq!(cell_resolution(parent8), Some(8));
        let (lat, lon) = centre(parent8).unwrap();
        assert!((lat - 51.539).abs() < 0.01 && (lon + 0.1426).abs() < 0.01);
        assert_eq!(outline(parent8).unwrap().len(), 6);
        assert_eq!(parent(parent8, 10), None, "no parent finer than the cell");
    }
}
