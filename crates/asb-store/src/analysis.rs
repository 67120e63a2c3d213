//! Analysis for analysts and senior officers, over asb's own incidents and the published
//! police.uk records (`historical_incidents`) together: monthly trends by area and category with
//! the year-on-year change, hotspots (H3 cells at a chosen resolution, derived in SQL from the
//! stored resolution-11 cells) with the emerging-hotspot rule, repeat locations, and repeat and
//! acute victims. Each figure is one set-based statement per request (no per-row round trips);
//! the rules are the domain's (`asb_domain::analysis`, `asb_domain::hotspots`).
//!
//! Own incidents are placed in an area by their place's borough (`places.borough_id` →
//! `organisations.ons_code`), published ones by `area_code`; both are counted, side by side.

use crate::engine::{on, Db, IdList, Ts};
use crate::supervision::{scope_of, Scope};
use crate::{read_only, AuditEvent, Result, Store, StoreError, User};
use asb_domain::analysis::{
    area_code, category_key, year_on_year, Month, RuleText, VictimCounts, VictimRules, VictimVerdict, YearOnYear,
    CATEGORIES,
};
use asb_domain::boroughs::MPS_BOROUGHS;
use asb_domain::hotspots::{self, Emerging};
use asb_domain::{FieldError, Policies};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// The H3 cell containing the stored cell `h3` (resolution 11) at the resolution bound at `$n`.
/// An H3 index holds its resolution in bits 52–55 and one 3-bit digit per finer resolution
/// below; the digits a resolution does not use are all ones. So the parent at r keeps the
/// index, writes r into the resolution bits and sets every digit finer than r to 7:
/// `(h & ~(15 << 52)) | (r << 52) | ((1 << 3 (15 − r)) − 1)`. The one place the formula is
/// written; both engines have 64-bit `& | ~ <<` (the casts keep PostgreSQL in `bigint`).
pub(crate) fn h3_parent(h3: &str, n: usize) -> String {
    format!(
        "((({h3}) & ~(CAST(15 AS BIGINT) << 52)) | (CAST(${n} AS BIGINT) << 52) \
         | ((CAST(1 AS BIGINT) << CAST(3 * (15 - ${n}) AS INTEGER)) - 1))"
    )
}

/// Published records that are anti-social behaviour (`import police-uk --all-crime` keeps the
/// rest too). Written as a literal, as the partial indexes of migration 0010 are, so that both
/// engines' planners (PostgreSQL's generic plans included) match them.
const PUBLISHED_ASB: &str = "h.crime_type = 'Anti-social behaviour'";

/// An area filter as resolved: its ONS code, its name, and the borough organisation own
/// incidents are placed in by, if any.
#[derive(Debug, Clone, Serialize)]
pub struct AreaRef {
    pub code: String,
    pub name: String,
    #[serde(skip)]
    pub borough_id: Option<i64>,
}

fn invalid(field: &str, message: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(vec![FieldError::new(field, message)])
}

/// Names of areas: the MPS boroughs, imported boundaries and the LSOA lookup's districts.
async fn area_names(db: &mut Db<'_>) -> Result<HashMap<String, String>> {
    let mut names: HashMap<String, String> =
        MPS_BOROUGHS.iter().map(|b| (b.ons_code.to_string(), b.name.to_string())).collect();
    let sql = "SELECT area_code, MIN(area_name) FROM lsoa_lookup GROUP BY area_code
               UNION ALL SELECT code, name FROM area_boundaries WHERE kind = 'borough'";
    let rows: Vec<(String, String)> = on!(db, c => sqlx::query_as(sql).fetch_all(c).await?);
    for (code, name) in rows {
        names.entry(code).or_insert(name);
    }
    Ok(names)
}

/// The area `given` names (field `borough`): a borough's, a boundary's, a district in the LSOA
/// lookup, or any area code published records carry. Unknown codes are refused.
async fn resolve_area(db: &mut Db<'_>, given: &str) -> Result<AreaRef> {
    let code = area_code(given).map_err(|e| invalid("borough", e))?;
    let sql = "SELECT id FROM organisations WHERE kind = 'borough' AND ons_code = $1 ORDER BY id LIMIT 1";
    let borough_id: Option<i64> = on!(db, c => sqlx::query_scalar(sql).bind(&code).fetch_optional(c).await?);
    let sql = "SELECT name FROM area_boundaries WHERE code = $1 AND kind = 'borough'
               UNION ALL SELECT area_name FROM lsoa_lookup WHERE area_code = $1
               UNION ALL SELECT area_code FROM historical_incidents WHERE area_code = $1
               LIMIT 1";
    let found: Option<String> = on!(db, c => sqlx::query_scalar(sql).bind(&code).fetch_optional(c).await?);
    let mps = MPS_BOROUGHS.iter().find(|b| b.ons_code == code).map(|b| b.name.to_string());
    match (borough_id, mps.or(found)) {
        (Some(id), name) => Ok(AreaRef { name: name.unwrap_or_else(|| code.clone()), code, borough_id: Some(id) }),
        (None, Some(name)) => Ok(AreaRef { code, name, borough_id: None }),
        (None, None) => Err(invalid(
            "borough",
            format!(
                "No borough, boundary or record has the area code {code}; check it, or import the area's records first"
            ),
        )),
    }
}

async fn area_of(db: &mut Db<'_>, given: Option<&str>) -> Result<Option<AreaRef>> {
    match given.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(g) => resolve_area(db, g).await.map(Some),
    }
}

// ---- trends -------------------------------------------------------------------------------

/// One month's count for one area and category, with the year-on-year change.
#[derive(Debug, Clone, Serialize)]
pub struct TrendRow {
    pub month: Month,
    /// The area's ONS code; `None` when the record could not be placed.
    pub area_code: Option<String>,
    pub area_name: String,
    pub category: &'static str,
    /// asb's own incidents.
    pub own: i64,
    /// Published police.uk records.
    pub published: i64,
    pub total: i64,
    /// The total in the same month a year earlier, and the change.
    #[serde(flatten)]
    pub year_on_year: YearOnYear,
}

/// One month over every area asked for.
#[derive(Debug, Clone, Serialize)]
pub struct TrendMonth {
    pub month: Month,
    pub own: i64,
    pub published: i64,
    pub total: i64,
    #[serde(flatten)]
    pub year_on_year: YearOnYear,
    /// Category → (total, same month a year earlier).
    pub categories: BTreeMap<&'static str, CategoryCount>,
}

#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CategoryCount {
    pub total: i64,
    pub previous: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Trends {
    pub from: Month,
    pub to: Month,
    pub as_at: DateTime<Utc>,
    /// The area asked for, or every area when `None`.
    pub borough: Option<AreaRef>,
    pub months: Vec<TrendMonth>,
    /// Each (month, area, category) with any reports that month or a year before.
    pub rows: Vec<TrendRow>,
    pub categories: Vec<(&'static str, &'static str)>,
    pub definitions: BTreeMap<&'static str, &'static str>,
}

pub const TREND_DEFINITIONS: [(&str, &str); 4] = [
    ("own", "ASB incidents recorded in asb (any agency), by the month received (UTC) and the borough of their place."),
    ("published", "Published police.uk ASB records imported into asb, by their published month and the local authority they were placed in. They carry no NSIR category (\"unknown\"). Where both cover the same force and months, a police record may be counted in both."),
    ("year_on_year", "This month's total against the same month a year earlier: the change in reports, and as a percentage of the year-earlier count (none when that was 0)."),
    ("categories", "NSIR 2011 categories: personal, nuisance, environmental; unknown where the source gives none."),
];

type TrendKey = (Month, Option<String>, &'static str);

async fn trend_counts(
    db: &mut Db<'_>,
    from: Month,
    to: Month,
    area: Option<&AreaRef>,
) -> Result<BTreeMap<TrendKey, (i64, i64)>> {
    let first = from.year_before();
    let borough = area.map(|a| a.borough_id.unwrap_or(-1));
    // Own incidents from the counts kept as they are written (analysis_counts.rs).
    let own_filter = if area.is_some() { "AND c.borough_id = $3" } else { "AND $3 IS NULL" };
    let sql = format!(
        "SELECT c.month, b.ons_code, c.category, CAST(SUM(c.n) AS BIGINT)
         FROM analysis_month_counts c LEFT JOIN organisations b ON b.id = c.borough_id
         WHERE c.month >= $1 AND c.month <= $2 {own_filter}
         GROUP BY 1, 2, 3"
    );
    let own: Vec<(i64, Option<String>, String, i64)> = on!(db, c => sqlx::query_as(&sql)
        .bind(first.number())
        .bind(to.number())
        .bind(borough)
        .fetch_all(c)
        .await?);
    let pub_filter = if area.is_some() { "AND h.area_code = $3" } else { "AND $3 IS NULL" };
    let sql = format!(
        "SELECT h.month, h.area_code, COALESCE(h.category, 'unknown'), COUNT(*)
         FROM historical_incidents h
         WHERE h.month >= $1 AND h.month <= $2 AND {PUBLISHED_ASB} {pub_filter}
         GROUP BY 1, 2, 3"
    );
    let published: Vec<(String, Option<String>, String, i64)> = on!(db, c => sqlx::query_as(&sql)
        .bind(first.to_string())
        .bind(to.to_string())
        .bind(area.map(|a| a.code.clone()))
        .fetch_all(c)
        .await?);
    let mut out: BTreeMap<TrendKey, (i64, i64)> = BTreeMap::new();
    for (m, area, cat, n) in own {
        let Some(m) = Month::from_number(m) else { continue };
        out.entry((m, area, category_key(Some(&cat)))).or_default().0 += n;
    }
    for (m, area, cat, n) in published {
        let Ok(m) = m.parse::<Month>() else { continue };
        out.entry((m, area, category_key(Some(&cat)))).or_default().1 += n;
    }
    Ok(out)
}

impl Store {
    /// Monthly trends for the months `from` to `to`, over every area or the one `borough` names
    /// (an ONS code), with each month's change on the same month a year earlier.
    pub async fn trends(&self, now: DateTime<Utc>, from: Month, to: Month, borough: Option<&str>) -> Result<Trends> {
        let (area, counts, names) = read_only!(self, |db| async {
            let area = area_of(db, borough).await?;
            let counts = trend_counts(db, from, to, area.as_ref()).await?;
            let names = area_names(db).await?;
            Ok::<_, StoreError>((area, counts, names))
        }
        .await)?;
        let total = |k: &TrendKey| counts.get(k).map_or(0, |(o, p)| o + p);
        let mut rows = Vec::new();
        let mut months: BTreeMap<Month, TrendMonth> = from
            .through(to)
            .into_iter()
            .map(|m| {
                let categories = CATEGORIES.iter().map(|(k, _)| (*k, CategoryCount::default())).collect();
                (
                    m,
                    TrendMonth {
                        month: m,
                        own: 0,
                        published: 0,
                        total: 0,
                        year_on_year: year_on_year(0, 0),
                        categories,
                    },
                )
            })
            .collect();
        // Every key in the period, and every key of a year before it (a fall to none is a trend too).
        let mut keys: Vec<TrendKey> = counts
            .keys()
            .filter_map(|(m, a, c)| {
                if (from..=to).contains(m) {
                    Some((*m, a.clone(), *c))
                } else {
                    let later = m.plus(12);
                    (from..=to).contains(&later).then(|| (later, a.clone(), *c))
                }
            })
            .collect();
        keys.sort();
        keys.dedup();
        let mut previous_by_month: BTreeMap<Month, i64> = BTreeMap::new();
        for key in keys {
            let (m, area_code, category) = key.clone();
            let (own, published) = counts.get(&key).copied().unwrap_or_default();
            let previous = total(&(m.year_before(), area_code.clone(), category));
            if let Some(slot) = months.get_mut(&m) {
                slot.own += own;
                slot.published += published;
                slot.total += own + published;
                if let Some(c) = slot.categories.get_mut(category) {
                    c.total += own + published;
                    c.previous += previous;
                }
            }
            *previous_by_month.entry(m).or_default() += previous;
            let area_name = match &area_code {
                Some(c) => names.get(c).cloned().unwrap_or_else(|| c.clone()),
                None => "Not placed".to_string(),
            };
            rows.push(TrendRow {
                month: m,
                area_code,
                area_name,
                category,
                own,
                published,
                total: own + published,
                year_on_year: year_on_year(own + published, previous),
            });
        }
        for (m, slot) in months.iter_mut() {
            slot.year_on_year = year_on_year(slot.total, previous_by_month.get(m).copied().unwrap_or(0));
        }
        Ok(Trends {
            from,
            to,
            as_at: now,
            borough: area,
            months: months.into_values().collect(),
            rows,
            categories: CATEGORIES.to_vec(),
            definitions: TREND_DEFINITIONS.into_iter().collect(),
        })
    }
}

// ---- hotspots ------------------------------------------------------------------------------

/// One cell with its counts and the emerging rule's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct HotspotCell {
    /// Its place by reports in the period (1 = most); `None` for an emerging cell outside the
    /// ranked list.
    pub rank: Option<usize>,
    /// The H3 index in hexadecimal.
    pub cell: String,
    #[serde(skip)]
    pub h3: i64,
    pub resolution: u8,
    /// Reports in the period: own, published and both.
    pub own: i64,
    pub published: i64,
    pub count: i64,
    /// The cell's centre.
    pub lat: f64,
    pub lon: f64,
    pub emerging: Emerging,
}

#[derive(Debug, Clone, Serialize)]
pub struct MonthSpan {
    pub from: Month,
    pub to: Month,
}

#[derive(Debug, Clone, Serialize)]
pub struct Hotspots {
    pub from: Month,
    pub to: Month,
    pub resolution: u8,
    pub as_at: DateTime<Utc>,
    pub borough: Option<AreaRef>,
    /// The months the emerging rule compares: the recent months, and the baseline before them.
    pub recent: MonthSpan,
    pub baseline: MonthSpan,
    pub rule: RuleText,
    /// The busiest cells in the period, busiest first.
    pub cells: Vec<HotspotCell>,
    /// The cells the emerging rule flags, least likely by chance first.
    pub emerging: Vec<HotspotCell>,
}

/// Cells considered for emerging beyond the ranked ones, at most: the busiest recent ones.
const EMERGING_CANDIDATES: i64 = 2_000;

type CellRow = (i64, i64, i64, i64, i64);

#[allow(clippy::too_many_arguments)]
async fn cell_counts(
    db: &mut Db<'_>,
    resolution: u8,
    first: Month,
    from: Month,
    recent: Month,
    baseline: Month,
    to: Month,
    area: Option<&AreaRef>,
    limit: i64,
    min_observed: i64,
) -> Result<Vec<CellRow>> {
    let (own_filter, pub_filter) = if area.is_some() {
        ("AND k.borough_id = $12", "AND h.area_code = $13")
    } else {
        ("AND $12 IS NULL", "AND $13 IS NULL")
    };
    // Own incidents from the counts kept per cell at each resolution (analysis_counts.rs);
    // published records derive their cell from the stored resolution-11 one. Each cell's counts
    // in the three spans the figures need (the period, the recent months, the baseline).
    let sql = format!(
        "WITH u (cell, own, published, recent, baseline) AS (
            SELECT k.cell, CAST(SUM(CASE WHEN k.month >= $14 THEN k.n ELSE 0 END) AS BIGINT), 0,
                   CAST(SUM(CASE WHEN k.month >= $15 THEN k.n ELSE 0 END) AS BIGINT),
                   CAST(SUM(CASE WHEN k.month >= $16 AND k.month < $15 THEN k.n ELSE 0 END) AS BIGINT)
            FROM analysis_cell_counts k
            WHERE k.resolution = $1 AND k.month >= $2 AND k.month <= $3 {own_filter}
            GROUP BY k.cell
            UNION ALL
            SELECT {pub_cell}, 0,
                   SUM(CASE WHEN h.month >= $6 THEN 1 ELSE 0 END),
                   SUM(CASE WHEN h.month >= $7 THEN 1 ELSE 0 END),
                   SUM(CASE WHEN h.month >= $8 AND h.month < $7 THEN 1 ELSE 0 END)
            FROM historical_incidents h
            WHERE h.month >= $4 AND h.month <= $5 AND h.h3 IS NOT NULL AND {PUBLISHED_ASB} {pub_filter}
            GROUP BY 1
         ),
         c (cell, own, published, recent, baseline) AS (
            SELECT cell, CAST(SUM(own) AS BIGINT), CAST(SUM(published) AS BIGINT), CAST(SUM(recent) AS BIGINT),
                   CAST(SUM(baseline) AS BIGINT)
            FROM u GROUP BY cell
         )
         SELECT cell, own, published, recent, baseline FROM
            (SELECT * FROM c WHERE own + published > 0 ORDER BY own + published DESC, cell LIMIT $9) busiest
         UNION
         SELECT cell, own, published, recent, baseline FROM
            (SELECT * FROM c WHERE recent >= $10 ORDER BY recent DESC, cell LIMIT $11) rising",
        pub_cell = h3_parent("h.h3", 1),
    );
    Ok(on!(db, c => sqlx::query_as(&sql)
        .bind(i64::from(resolution))
        .bind(first.number())
        .bind(to.number())
        .bind(first.to_string())
        .bind(to.to_string())
        .bind(from.to_string())
        .bind(recent.to_string())
        .bind(baseline.to_string())
        .bind(limit)
        .bind(min_observed)
        .bind(EMERGING_CANDIDATES)
        .bind(area.map(|a| a.borough_id.unwrap_or(-1)))
        .bind(area.map(|a| a.code.clone()))
        .bind(from.number())
        .bind(recent.number())
        .bind(baseline.number())
        .fetch_all(c)
        .await?))
}

impl Store {
    /// The busiest H3 cells at `resolution` over the months `from` to `to` (at most `limit`),
    /// and the cells the emerging-hotspot rule flags for the months ending with `to`.
    #[allow(clippy::too_many_arguments)]
    pub async fn hotspots(
        &self,
        policies: &Policies,
        now: DateTime<Utc>,
        from: Month,
        to: Month,
        resolution: u8,
        borough: Option<&str>,
        limit: i64,
    ) -> Result<Hotspots> {
        let rule = &policies.emerging_hotspot;
        let recent = to.plus(1 - rule.recent_months as i32);
        let baseline = recent.plus(-(rule.baseline_months as i32));
        let first = from.min(baseline);
        let (area, rows) = read_only!(self, |db| async {
            let area = area_of(db, borough).await?;
            let rows =
                cell_counts(db, resolution, first, from, recent, baseline, to, area.as_ref(), limit, rule.min_observed)
                    .await?;
            Ok::<_, StoreError>((area, rows))
        }
        .await)?;
        let mut all: Vec<HotspotCell> = rows
            .into_iter()
            .map(|(h3, own, published, observed, base)| {
                let (lat, lon) = hotspots::centre(h3).unwrap_or_default();
                HotspotCell {
                    rank: None,
                    cell: hotspots::cell_name(h3),
                    h3,
                    resolution,
                    own,
                    published,
                    count: own + published,
                    lat,
                    lon,
                    emerging: rule.assess(observed, base),
                }
            })
            .collect();
        all.sort_by(|a, b| b.count.cmp(&a.count).then(a.h3.cmp(&b.h3)));
        let mut cells: Vec<HotspotCell> = all.iter().filter(|c| c.count > 0).take(limit as usize).cloned().collect();
        for (i, c) in cells.iter_mut().enumerate() {
            c.rank = Some(i + 1);
        }
        let ranks: HashMap<i64, usize> = cells.iter().filter_map(|c| c.rank.map(|r| (c.h3, r))).collect();
        let mut emerging: Vec<HotspotCell> = all
            .into_iter()
            .filter(|c| c.emerging.flag)
            .map(|mut c| {
                c.rank = ranks.get(&c.h3).copied();
                c
            })
            .collect();
        emerging.sort_by(|a, b| {
            a.emerging
                .p_value
                .total_cmp(&b.emerging.p_value)
                .then(b.emerging.observed.cmp(&a.emerging.observed))
                .then(a.h3.cmp(&b.h3))
        });
        Ok(Hotspots {
            from,
            to,
            resolution,
            as_at: now,
            borough: area,
            recent: MonthSpan { from: recent, to },
            baseline: MonthSpan { from: baseline, to: recent.plus(-1) },
            rule: RuleText { rule: rule.meta.id.clone(), version: rule.meta.version, text: rule.describe() },
            cells,
            emerging,
        })
    }

    /// The imported boundary of the borough `code`: its name and GeoJSON geometry, if imported.
    pub async fn boundary(&self, code: &str) -> Result<Option<(String, serde_json::Value)>> {
        let sql = "SELECT name, geometry FROM area_boundaries WHERE code = $1 AND kind = 'borough'";
        let row: Option<(String, crate::engine::Json)> = read_only!(self, |db| on!(db, c => sqlx::query_as(sql)
            .bind(code)
            .fetch_optional(c)
            .await
            .map_err(StoreError::from)))?;
        Ok(row.map(|(n, g)| (n, g.0)))
    }
}

// ---- repeat locations ----------------------------------------------------------------------

/// A place of asb's own records, by reports in the period.
#[derive(Debug, Clone, Serialize)]
pub struct RepeatPlace {
    pub rank: usize,
    pub place_id: i64,
    pub address: Option<String>,
    pub postcode: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub borough: Option<String>,
    pub count: i64,
}

/// A published police.uk map point (an anonymised location), by records in the period.
#[derive(Debug, Clone, Serialize)]
pub struct RepeatPoint {
    pub rank: usize,
    pub location: Option<String>,
    pub lat: f64,
    pub lon: f64,
    pub area_code: Option<String>,
    pub count: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RepeatLocations {
    pub from: Month,
    pub to: Month,
    pub as_at: DateTime<Utc>,
    pub borough: Option<AreaRef>,
    pub places: Vec<RepeatPlace>,
    pub points: Vec<RepeatPoint>,
}

type PlaceRow = (i64, Option<String>, Option<String>, Option<f64>, Option<f64>, Option<String>);

/// The `limit` places with the most own reports in the months `from` to `to` (in the borough
/// `borough`, if given), busiest first then by id, with their counts: exactly those a count of
/// every place would rank first, read from each month's busiest places (the threshold
/// algorithm). Any place outside every month's first `depth` has at most the sum of those
/// months' `depth`-th counts; once the `limit`-th candidate has strictly more, no unseen place
/// can rank with it. Otherwise the depth grows, and past `MAX_DEPTH` every place is counted.
async fn busiest_places(
    db: &mut Db<'_>,
    from: Month,
    to: Month,
    borough: Option<i64>,
    limit: i64,
) -> Result<Vec<(i64, i64)>> {
    const MAX_DEPTH: i64 = 50_000;
    if limit <= 0 {
        return Ok(Vec::new());
    }
    let months: Vec<i64> = from.through(to).into_iter().map(Month::number).collect();
    let (index, filter) = match borough {
        Some(_) => ("analysis_place_counts_area_top", "AND borough_id = $2"),
        None => ("analysis_place_counts_top", "AND $2 IS NULL"),
    };
    let e = db.engine();
    let mut depth = (limit * 2).max(100);
    while depth <= MAX_DEPTH {
        // Each month's first `depth` places by count, in one statement.
        let heads: Vec<String> = (0..months.len())
            .map(|i| {
                format!(
                    "SELECT * FROM (SELECT month, place_id, n FROM analysis_place_counts {by} WHERE month = ${m} {filter}
                     ORDER BY n DESC, place_id LIMIT $1) AS h{i}",
                    by = e.indexed_by(index),
                    m = i + 3,
                )
            })
            .collect();
        let sql = heads.join(" UNION ALL ");
        let rows: Vec<(i64, i64, i64)> = on!(db, c => {
            let mut q = sqlx::query_as(&sql).bind(depth).bind(borough);
            for m in &months {
                q = q.bind(*m);
            }
            q.fetch_all(c).await?
        });
        // The most an unseen place can have: the sum of each full month's least count seen (a
        // month with fewer than `depth` places showed them all).
        let mut heads: HashMap<i64, (i64, i64)> = HashMap::new();
        for &(m, _, n) in &rows {
            let h = heads.entry(m).or_insert((0, i64::MAX));
            *h = (h.0 + 1, h.1.min(n));
        }
        let bound: i64 = heads.values().filter(|h| h.0 == depth).map(|h| h.1).sum();
        let mut ids: Vec<i64> = rows.iter().map(|r| r.1).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut ranked = place_totals(db, from, to, Places::These(&ids)).await?;
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let decided = bound == 0 || ranked.get(limit as usize - 1).is_some_and(|r| r.1 > bound);
        if decided {
            ranked.truncate(limit as usize);
            return Ok(ranked);
        }
        depth *= 8;
    }
    // Too deep: count every place (in the borough, if one is asked for).
    let mut ranked = place_totals(db, from, to, Places::InBorough(borough)).await?;
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    ranked.truncate(limit as usize);
    Ok(ranked)
}

/// Which places `place_totals` counts.
enum Places<'a> {
    These(&'a [i64]),
    /// Every place, or every place in the borough.
    InBorough(Option<i64>),
}

/// Own reports per place in the months `from` to `to`.
async fn place_totals(db: &mut Db<'_>, from: Month, to: Month, places: Places<'_>) -> Result<Vec<(i64, i64)>> {
    let which = match places {
        Places::These(_) => format!("AND place_id IN {}", db.engine().ids_in(3)),
        Places::InBorough(Some(_)) => "AND borough_id = $3".to_string(),
        Places::InBorough(None) => "AND $3 IS NULL".to_string(),
    };
    let sql = format!(
        "SELECT place_id, CAST(SUM(n) AS BIGINT) FROM analysis_place_counts
         WHERE month >= $1 AND month <= $2 {which} GROUP BY place_id"
    );
    Ok(on!(db, c => {
        let q = sqlx::query_as(&sql).bind(from.number()).bind(to.number());
        match places {
            Places::These(ids) => q.bind(IdList::new(ids.iter().copied())).fetch_all(c).await?,
            Places::InBorough(b) => q.bind(b).fetch_all(c).await?,
        }
    }))
}

type PointRow = (f64, f64, Option<String>, Option<String>, i64);

impl Store {
    /// The places (asb's own) and published points with the most reports in the months `from`
    /// to `to`, at most `limit` of each.
    pub async fn repeat_locations(
        &self,
        now: DateTime<Utc>,
        from: Month,
        to: Month,
        borough: Option<&str>,
        limit: i64,
    ) -> Result<RepeatLocations> {
        let (area, places, points) = read_only!(self, |db| {
            async {
            let area = area_of(db, borough).await?;
            let busiest =
                busiest_places(db, from, to, area.as_ref().map(|a| a.borough_id.unwrap_or(-1)), limit).await?;
            let sql = format!(
                "SELECT p.id, p.address, p.postcode, p.lat, p.lon, b.name
                 FROM places p LEFT JOIN organisations b ON b.id = p.borough_id WHERE p.id IN {}",
                db.engine().ids_in(1)
            );
            let found: Vec<PlaceRow> = on!(db, c => sqlx::query_as(&sql)
                .bind(IdList::new(busiest.iter().map(|b| b.0)))
                .fetch_all(c)
                .await?);
            let mut found: HashMap<i64, PlaceRow> = found.into_iter().map(|r| (r.0, r)).collect();
            let places: Vec<(i64, PlaceRow)> =
                busiest.into_iter().filter_map(|(id, n)| found.remove(&id).map(|r| (n, r))).collect();
            let filter = if area.is_some() { "AND h.area_code = $4" } else { "AND $4 IS NULL" };
            let sql = format!(
                "SELECT h.lat, h.lon, MIN(h.location), MIN(h.area_code), COUNT(*) AS n FROM historical_incidents h
                 WHERE h.month >= $1 AND h.month <= $2 AND h.lat IS NOT NULL AND h.lon IS NOT NULL AND {PUBLISHED_ASB} {filter}
                 GROUP BY h.lat, h.lon ORDER BY n DESC, h.lat, h.lon LIMIT $3"
            );
            let points: Vec<PointRow> = on!(db, c => sqlx::query_as(&sql)
                .bind(from.to_string())
                .bind(to.to_string())
                .bind(limit)
                .bind(area.as_ref().map(|a| a.code.clone()))
                .fetch_all(c)
                .await?);
            Ok::<_, StoreError>((area, places, points))
        }
        .await
        })?;
        Ok(RepeatLocations {
            from,
            to,
            as_at: now,
            borough: area,
            places: places
                .into_iter()
                .enumerate()
                .map(|(i, (count, (place_id, address, postcode, lat, lon, borough)))| RepeatPlace {
                    rank: i + 1,
                    place_id,
                    address,
                    postcode,
                    lat,
                    lon,
                    borough,
                    count,
                })
                .collect(),
            points: points
                .into_iter()
                .enumerate()
                .map(|(i, (lat, lon, location, area_code, count))| RepeatPoint {
                    rank: i + 1,
                    location,
                    lat,
                    lon,
                    area_code,
                    count,
                })
                .collect(),
        })
    }
}

impl Store {
    /// Log that `user` was shown the addresses of the repeat locations `r` (an address can
    /// identify who lives there; those shown only streets and generalised points are not logged).
    pub async fn log_addresses_shown(&self, user: &User, r: &RepeatLocations) -> Result<()> {
        let places: Vec<i64> = r.places.iter().map(|p| p.place_id).collect();
        let detail = serde_json::json!({
            "borough": r.borough.as_ref().map(|a| a.code.clone()),
            "from": r.from, "to": r.to, "places": places,
        });
        self.audit(
            &AuditEvent::new(
                Some(user.id),
                "consultation",
                "analysis",
                Some("repeat-locations".into()),
                "repeat locations with their addresses",
            )
            .with_detail(detail),
        )
        .await
    }
}

// ---- repeat and acute victims --------------------------------------------------------------

/// How many people the victim rules pick out (no one named).
#[derive(Debug, Clone, Serialize)]
pub struct VictimSummary {
    pub as_at: DateTime<Utc>,
    pub borough: Option<AreaRef>,
    pub repeat_victims: i64,
    pub vulnerable_repeat_victims: i64,
    pub acute_victims: i64,
    pub rules: Vec<RuleText>,
}

/// One person on the victims list.
#[derive(Debug, Clone, Serialize)]
pub struct ListedVictim {
    pub person_id: i64,
    pub name: Option<String>,
    /// Reports with the person as the victim in the repeat-victim window.
    pub reports: i64,
    /// …and in the acute window.
    pub reports_in_acute_window: i64,
    pub last_report_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    pub verdict: VictimVerdict,
}

#[derive(Debug, Clone, Serialize)]
pub struct VictimList {
    #[serde(flatten)]
    pub summary: VictimSummary,
    /// Whose records the reader may list: every borough, or their own.
    pub scope: String,
    pub acute_only: bool,
    pub limit: i64,
    pub people: Vec<ListedVictim>,
}

/// The per-person counts the victim rules read, as a subquery `v` (person, repeat-window and
/// acute-window reports as victim, the latest report assessed at a vulnerable level and the
/// latest given the vulnerable qualifier, the last report as victim, reports as victim in the
/// area), keeping only people whom the counts could make repeat or acute.
/// Binds: $1 repeat since, $2 acute since, $3 vulnerable since, $4 earliest, $5 now,
/// $6–$8 vulnerable levels, $9 qualifier, $10 repeat minimum, $11 acute minimum, $12 borough.
fn per_person(area: bool) -> String {
    let (join, in_area, filter) = if area {
        (
            "LEFT JOIN places p ON p.id = i.place_id",
            "SUM(CASE WHEN ip.role = 'victim' AND p.borough_id = $12 THEN 1 ELSE 0 END)",
            "AND v.in_area > 0",
        )
    } else {
        ("", "0", "AND $12 IS NULL")
    };
    format!(
        "(SELECT * FROM (
            SELECT ip.person_id,
                   COUNT(DISTINCT CASE WHEN ip.role = 'victim' AND i.received_at >= $1 THEN i.id END) AS repeat_n,
                   COUNT(DISTINCT CASE WHEN ip.role = 'victim' AND i.received_at >= $2 THEN i.id END) AS acute_n,
                   MAX(CASE WHEN i.received_at >= $3 AND i.risk_level IN ($6, $7, $8) THEN i.reference END) AS assessed,
                   MAX(CASE WHEN i.received_at >= $3 AND q.code IS NOT NULL THEN i.reference END) AS qualified,
                   MAX(CASE WHEN ip.role = 'victim' THEN i.received_at END) AS last_at,
                   {in_area} AS in_area
            FROM incidents i JOIN incident_people ip ON ip.incident_id = i.id
            LEFT JOIN incident_qualifiers q ON q.incident_id = i.id AND q.code = $9 {join}
            WHERE i.received_at >= $4 AND i.received_at <= $5
              AND ip.person_id IS NOT NULL AND ip.role <> 'subject'
            GROUP BY ip.person_id) v
         WHERE (v.repeat_n >= $10 OR v.acute_n >= $11) {filter})"
    )
}

struct VictimBinds {
    since: [Ts; 4],
    now: Ts,
    levels: [String; 3],
    qualifier: i64,
    repeat_min: i64,
    acute_min: i64,
    borough: Option<i64>,
}

fn victim_binds(policies: &Policies, now: DateTime<Utc>, area: Option<&AreaRef>) -> VictimBinds {
    let rules = VictimRules::of(policies);
    let since = |days: i64| now - Duration::days(days);
    let (r, a, v) =
        (since(rules.repeat.window_days), since(rules.acute.window_days), since(rules.vulnerable.window_days));
    let levels: Vec<String> = rules.vulnerable.levels.iter().map(|l| l.as_str().to_string()).collect();
    let level = |i: usize| levels.get(i).or(levels.first()).cloned().unwrap_or_default();
    VictimBinds {
        since: [Ts(r), Ts(a), Ts(v), Ts(r.min(a).min(v))],
        now: Ts(now),
        levels: [level(0), level(1), level(2)],
        qualifier: i64::from(rules.vulnerable.qualifier),
        repeat_min: rules.repeat_min_reports(),
        acute_min: rules.acute.min_reports,
        borough: area.map(|a| a.borough_id.unwrap_or(-1)),
    }
}

macro_rules! bind_victims {
    ($q:expr, $b:expr) => {
        $q.bind($b.since[0])
            .bind($b.since[1])
            .bind($b.since[2])
            .bind($b.since[3])
            .bind($b.now)
            .bind(&$b.levels[0])
            .bind(&$b.levels[1])
            .bind(&$b.levels[2])
            .bind($b.qualifier)
            .bind($b.repeat_min)
            .bind($b.acute_min)
            .bind($b.borough)
    };
}

type BucketRow = (i64, i64, bool, i64);
type VictimRow = (i64, i64, i64, Option<String>, Option<String>, Option<Ts>);

fn summary_of(policies: &Policies, now: DateTime<Utc>, area: Option<AreaRef>, buckets: &[BucketRow]) -> VictimSummary {
    let rules = VictimRules::of(policies);
    let (mut repeat, mut vulnerable, mut acute) = (0, 0, 0);
    for (repeat_n, acute_n, is_vulnerable, people) in buckets {
        // The counts are grouped; the domain judges each group once. Which report made the
        // person vulnerable does not change the verdict.
        let v = rules.judge(&VictimCounts {
            repeat_window_reports: *repeat_n,
            acute_window_reports: *acute_n,
            assessed_on: is_vulnerable.then(String::new),
            qualified_on: None,
        });
        if v.repeat {
            repeat += people;
            if v.vulnerable {
                vulnerable += people;
            }
        }
        if v.acute {
            acute += people;
        }
    }
    VictimSummary {
        as_at: now,
        borough: area,
        repeat_victims: repeat,
        vulnerable_repeat_victims: vulnerable,
        acute_victims: acute,
        rules: rules.describe(),
    }
}

async fn victim_buckets(db: &mut Db<'_>, b: &VictimBinds, area: bool) -> Result<Vec<BucketRow>> {
    let sql = format!(
        "SELECT v.repeat_n, v.acute_n, CASE WHEN v.assessed IS NOT NULL OR v.qualified IS NOT NULL THEN 1 ELSE 0 END,
                COUNT(*)
         FROM {} v GROUP BY 1, 2, 3",
        per_person(area)
    );
    let rows: Vec<(i64, i64, i32, i64)> = on!(db, c => bind_victims!(sqlx::query_as(&sql), b).fetch_all(c).await?);
    Ok(rows.into_iter().map(|(r, a, v, n)| (r, a, v == 1, n)).collect())
}

impl Store {
    /// How many repeat, vulnerable repeat and acute victims there are now (no one named): for
    /// analysts. With `borough`, people with a report as the victim there; their reports count
    /// wherever, and to whichever agency, they were made.
    pub async fn victim_summary(
        &self,
        policies: &Policies,
        now: DateTime<Utc>,
        borough: Option<&str>,
    ) -> Result<VictimSummary> {
        let (area, buckets) = read_only!(self, |db| async {
            let area = area_of(db, borough).await?;
            let b = victim_binds(policies, now, area.as_ref());
            let buckets = victim_buckets(db, &b, area.is_some()).await?;
            Ok::<_, StoreError>((area, buckets))
        }
        .await)?;
        Ok(summary_of(policies, now, area, &buckets))
    }

    /// The repeat and acute victims by name, vulnerable first then by reports, at most `limit`:
    /// personal data, so the look is logged (who, why, and whose records were listed) before the
    /// list is returned. A user in a borough lists their borough's victims only.
    pub async fn victim_list(
        &self,
        policies: &Policies,
        now: DateTime<Utc>,
        user: &User,
        borough: Option<&str>,
        acute_only: bool,
        limit: i64,
    ) -> Result<VictimList> {
        let rules = VictimRules::of(policies);
        let (scope, area, rows) = read_only!(self, |db| async {
            let scope = scope_of(db, user).await?;
            let mut area = area_of(db, borough).await?;
            match &scope {
                Scope::Force { .. } => {}
                Scope::Borough { id, name } => match &area {
                    Some(a) if a.borough_id != Some(*id) => {
                        return Err(invalid(
                            "borough",
                            format!("You can list the victims of your own borough only ({name})"),
                        ))
                    }
                    Some(_) => {}
                    None => {
                        let sql = "SELECT ons_code FROM organisations WHERE id = $1";
                        let code: Option<String> = on!(db, c => sqlx::query_scalar(sql).bind(id).fetch_one(c).await?);
                        area = Some(AreaRef {
                            code: code.unwrap_or_default(),
                            name: name.trim_end_matches(" (MPS)").to_string(),
                            borough_id: Some(*id),
                        });
                    }
                },
                Scope::Nothing { .. } => return Ok((scope, area, vec![])),
            }
            // One pass gives every candidate's counts: the summary is grouped from them here, and
            // only the people listed are looked up by name.
            let b = victim_binds(policies, now, area.as_ref());
            let sql = format!(
                "SELECT v.person_id, v.repeat_n, v.acute_n, v.assessed, v.qualified, v.last_at FROM {} v",
                per_person(area.is_some())
            );
            let rows: Vec<VictimRow> = on!(db, c => bind_victims!(sqlx::query_as(&sql), b).fetch_all(c).await?);
            Ok::<_, StoreError>((scope, area, rows))
        }
        .await)?;
        let mut buckets: HashMap<(i64, i64, bool), i64> = HashMap::new();
        for (_, repeat_n, acute_n, assessed, qualified, _) in &rows {
            *buckets.entry((*repeat_n, *acute_n, assessed.is_some() || qualified.is_some())).or_default() += 1;
        }
        let buckets: Vec<BucketRow> = buckets.into_iter().map(|((r, a, v), n)| (r, a, v, n)).collect();
        let mut people: Vec<ListedVictim> = rows
            .into_iter()
            .map(|(person_id, repeat_n, acute_n, assessed, qualified, last_at)| ListedVictim {
                person_id,
                name: None,
                reports: repeat_n,
                reports_in_acute_window: acute_n,
                last_report_at: last_at.map(|t| t.0),
                verdict: rules.judge(&VictimCounts {
                    repeat_window_reports: repeat_n,
                    acute_window_reports: acute_n,
                    assessed_on: assessed,
                    qualified_on: qualified,
                }),
            })
            .filter(|p| !acute_only || p.verdict.acute)
            .collect();
        // Vulnerable people first, then by reports.
        people.sort_by(|a, b| {
            b.verdict
                .vulnerable
                .cmp(&a.verdict.vulnerable)
                .then(b.reports_in_acute_window.cmp(&a.reports_in_acute_window))
                .then(b.reports.cmp(&a.reports))
                .then(a.person_id.cmp(&b.person_id))
        });
        people.truncate(limit.max(0) as usize);
        let ids = IdList::new(people.iter().map(|p| p.person_id));
        let names: HashMap<i64, Option<String>> = read_only!(self, |db| {
            let sql = format!("SELECT id, name FROM people WHERE id IN {}", db.engine().ids_in(1));
            let rows: Result<Vec<(i64, Option<String>)>> =
                on!(db, c => sqlx::query_as(&sql).bind(&ids).fetch_all(c).await.map_err(StoreError::from));
            rows
        })?
        .into_iter()
        .collect();
        for p in &mut people {
            p.name = names.get(&p.person_id).cloned().flatten();
        }
        let listed: Vec<i64> = people.iter().map(|p| p.person_id).collect();
        let detail = serde_json::json!({
            "borough": area.as_ref().map(|a| a.code.clone()),
            "acute_only": acute_only,
            "people": listed,
        });
        self.audit(
            &AuditEvent::new(
                Some(user.id),
                "consultation",
                "analysis",
                Some("victims".into()),
                "repeat and acute victims list",
            )
            .with_detail(detail),
        )
        .await?;
        Ok(VictimList {
            summary: summary_of(policies, now, area, &buckets),
            scope: scope.name().to_string(),
            acute_only,
            limit,
            people,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use asb_domain::matching::GeoPoint;
    use rand::{Rng, SeedableRng};

    #[test]
    fn published_asb_is_the_crime_type_police_uk_writes() {
        assert_eq!(PUBLISHED_ASB, format!("h.crime_type = '{}'", asb_domain::police_uk::ASB));
    }

    /// The SQL arithmetic gives h3o's parent for thousands of random points across the British
    /// Isles at every resolution hotspots use (and the cell itself at 11), on the engine the
    /// tests run on (`ASB_TEST_DATABASE_URL` for PostgreSQL).
    #[tokio::test]
    async fn the_sql_parent_agrees_with_h3o() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::scratch::fresh_store(dir.path()).await.unwrap();
        let mut rng = rand::rngs::StdRng::seed_from_u64(20261126);
        let cells: Vec<i64> = (0..5_000)
            .map(|_| {
                let p = GeoPoint::new(rng.gen_range(49.9..60.9), rng.gen_range(-8.2..1.8)).unwrap();
                p.cell() as i64
            })
            .collect();
        let mut conn = store.current().await.unwrap();
        let db = &mut conn.db();
        let sql = format!(
            "SELECT value, {} FROM {} ORDER BY 1",
            h3_parent("CAST(value AS BIGINT)", 2),
            db.engine().ids_table(1, "c")
        );
        for resolution in 6..=11u8 {
            let list = IdList::new(cells.iter().copied());
            let rows: Vec<(i64, i64)> = on!(db, c => sqlx::query_as(&sql)
                .bind(&list)
                .bind(i64::from(resolution))
                .fetch_all(c)
                .await
                .unwrap());
            assert_eq!(rows.len(), cells.len());
            for (cell, parent) in rows {
                assert_eq!(
                    Some(parent),
                    hotspots::parent(cell, resolution),
                    "{} at resolution {resolution}",
                    hotspots::cell_name(cell)
                );
            }
        }
    }
}
