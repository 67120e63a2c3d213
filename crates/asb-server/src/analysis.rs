//! Analysis over HTTP, for analysts and senior officers: monthly trends with the year-on-year
//! change, hotspots (H3 cells at a chosen resolution) with the emerging-hotspot rule and a
//! borough map, repeat locations, and repeat and acute victims — as pages with SVG charts and
//! under `/api/v1/analysis` as JSON, CSV (`?format=csv` or `Accept: text/csv`) and, for places,
//! GeoJSON (`?format=geojson` or `Accept: application/geo+json`). The people list is personal
//! data: its own action in the permission table, and every look logged by the store.

use crate::analysis_charts::{borough_map, category_chart, trend_chart, MapCell, StackedBar, TrendBar};
use crate::auth::{ApiUser, Frame, PageUser};
use crate::error::ApiError;
use crate::pages::{london, render_form};
use crate::slow_cache::SlowCache;
use crate::AppState;
use asb_domain::access::Action;
use asb_domain::analysis::{month_range, Month, CATEGORIES};
use asb_domain::matching::GeoPoint;
use asb_domain::{areas, hotspots, police_uk, FieldError};
use asb_store::{HotspotCell, Hotspots, RepeatLocations, StoreError, Trends, User, VictimList, VictimSummary};
use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/analysis/trends", get(api_trends))
        .route("/api/v1/analysis/hotspots", get(api_hotspots))
        .route("/api/v1/analysis/repeat-locations", get(api_repeat_locations))
        .route("/api/v1/analysis/victims", get(api_victims))
        .route("/api/v1/analysis/victims/people", get(api_victim_people))
        .route("/analysis", get(trends_page))
        .route("/analysis/hotspots", get(hotspots_page))
        .route("/analysis/repeat", get(repeat_page))
        .route("/analysis/victims", get(victims_page))
}

/// Every query parameter the analysis routes read; each route reads the ones it needs.
#[derive(Debug, Clone, Default, Deserialize)]
struct AnalysisQuery {
    from: Option<String>,
    to: Option<String>,
    borough: Option<String>,
    resolution: Option<String>,
    limit: Option<String>,
    format: Option<String>,
    /// `acute=yes` (or true, 1, on): the victims list holds acute victims only.
    acute: Option<String>,
}

/// What each kind of figure asks for by default, and at most.
#[derive(Clone, Copy)]
struct Shape {
    default_months: u32,
    max_months: u32,
    default_limit: i64,
    max_limit: i64,
    /// Whether `from` and `to` are read (the victim rules count back from now instead).
    months: bool,
    resolution: bool,
}

const TRENDS: Shape =
    Shape { default_months: 12, max_months: 60, default_limit: 0, max_limit: 0, months: true, resolution: false };
const HOTSPOTS: Shape =
    Shape { default_months: 3, max_months: 36, default_limit: 50, max_limit: 500, months: true, resolution: true };
const LOCATIONS: Shape =
    Shape { default_months: 12, max_months: 36, default_limit: 20, max_limit: 500, months: true, resolution: false };
const VICTIMS: Shape =
    Shape { default_months: 12, max_months: 12, default_limit: 200, max_limit: 1000, months: false, resolution: false };

/// A query read and checked: every bad field named together.
struct Asked {
    from: Month,
    to: Month,
    borough: Option<String>,
    resolution: u8,
    limit: i64,
    acute: bool,
}

fn asked(now: DateTime<Utc>, q: &AnalysisQuery, shape: Shape) -> Result<Asked, Vec<FieldError>> {
    let mut errors = Vec::new();
    let months = if shape.months {
        month_range(q.from.as_deref(), q.to.as_deref(), now, shape.default_months, shape.max_months)
            .map_err(|e| errors.extend(e))
            .ok()
    } else {
        Some((Month::of(now).plus(1 - shape.default_months as i32), Month::of(now)))
    };
    let resolution = if shape.resolution {
        hotspots::resolution(q.resolution.as_deref()).map_err(|e| errors.push(FieldError::new("resolution", e))).ok()
    } else {
        Some(hotspots::DEFAULT_RESOLUTION)
    };
    let limit = match q.limit.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Some(shape.default_limit),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if (1..=shape.max_limit).contains(&n) => Some(n),
            _ => {
                errors.push(FieldError::new(
                    "limit",
                    format!("'{s}' is not a number of rows asb lists: give 1 to {}", shape.max_limit),
                ));
                None
            }
        },
    };
    let acute = match q.acute.as_deref().map(|s| s.trim().to_ascii_lowercase()) {
        None => false,
        Some(s) if s.is_empty() || ["no", "false", "0", "off"].contains(&s.as_str()) => false,
        Some(s) if ["yes", "true", "1", "on"].contains(&s.as_str()) => true,
        Some(s) => {
            errors.push(FieldError::new("acute", format!("'{s}' is not yes or no")));
            false
        }
    };
    match (months, resolution, limit) {
        (Some((from, to)), Some(resolution), Some(limit)) if errors.is_empty() => Ok(Asked {
            from,
            to,
            borough: q.borough.as_deref().map(str::trim).filter(|b| !b.is_empty()).map(str::to_string),
            resolution,
            limit,
            acute,
        }),
        _ => Err(errors),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Csv,
    GeoJson,
}

/// The format asked for: `?format=` first, else the Accept header, else JSON.
fn format_of(q: &AnalysisQuery, headers: &HeaderMap, geojson: bool) -> Result<Format, FieldError> {
    let offered = if geojson { "json, csv or geojson" } else { "json or csv" };
    match q.format.as_deref().map(|f| f.trim().to_ascii_lowercase()) {
        Some(f) if f == "json" => Ok(Format::Json),
        Some(f) if f == "csv" => Ok(Format::Csv),
        Some(f) if f == "geojson" && geojson => Ok(Format::GeoJson),
        Some(f) if !f.is_empty() => {
            Err(FieldError::new("format", format!("'{f}' is not a format this gives: ask for {offered}")))
        }
        _ => {
            let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
            Ok(if accept.contains("text/csv") {
                Format::Csv
            } else if geojson && accept.contains("application/geo+json") {
                Format::GeoJson
            } else {
                Format::Json
            })
        }
    }
}

fn query(q: Result<Query<AnalysisQuery>, QueryRejection>) -> Result<AnalysisQuery, ApiError> {
    q.map(|Query(q)| q).map_err(|e| ApiError::BadRequest { detail: e.body_text(), errors: vec![] })
}

/// The query and format, or a 422 naming every bad field.
fn read(
    state: &AppState,
    q: Result<Query<AnalysisQuery>, QueryRejection>,
    headers: &HeaderMap,
    shape: Shape,
    geojson: bool,
) -> Result<(Asked, Format), ApiError> {
    let q = query(q)?;
    let format = format_of(&q, headers, geojson);
    match (asked(state.now(), &q, shape), format) {
        (Ok(a), Ok(f)) => Ok((a, f)),
        (a, f) => {
            let mut errors = a.err().unwrap_or_default();
            errors.extend(f.err());
            Err(ApiError::Invalid(errors))
        }
    }
}

// ---- CSV and GeoJSON -------------------------------------------------------------------------

/// One CSV field: quoted when it must be, and text that a spreadsheet would run as a formula
/// (=, +, -, @) led by an apostrophe. Numbers go in as they are.
fn csv_text(s: &str) -> String {
    let guarded = if s.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{s}") } else { s.to_string() };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn csv(name: &str, header: &str, rows: Vec<Vec<String>>) -> Response {
    let mut body = String::from(header);
    body.push_str("\r\n");
    for r in rows {
        body.push_str(&r.join(","));
        body.push_str("\r\n");
    }
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}.csv\"")),
        ],
        body,
    )
        .into_response()
}

fn geojson(v: Value) -> Response {
    ([(header::CONTENT_TYPE, "application/geo+json")], v.to_string()).into_response()
}

pub const TRENDS_CSV: &str =
    "month,area_code,area_name,category,own,published,total,same_month_last_year,change,change_pct";
pub const HOTSPOTS_CSV: &str =
    "rank,cell,resolution,lat,lon,own,published,count,recent,baseline,expected,p_value,emerging,reason";
pub const LOCATIONS_CSV: &str = "source,rank,place_id,location,postcode,lat,lon,area,count";
pub const VICTIMS_CSV: &str =
    "person_id,name,reports,reports_in_acute_window,last_report_at,repeat,vulnerable,acute,reason";

fn trends_csv(t: &Trends) -> Response {
    let rows = t
        .rows
        .iter()
        .map(|r| {
            vec![
                r.month.to_string(),
                csv_text(r.area_code.as_deref().unwrap_or("")),
                csv_text(&r.area_name),
                r.category.to_string(),
                r.own.to_string(),
                r.published.to_string(),
                r.total.to_string(),
                r.year_on_year.previous.to_string(),
                r.year_on_year.change.to_string(),
                opt(r.year_on_year.change_pct),
            ]
        })
        .collect();
    csv(&format!("asb-trends-{}-{}", t.from, t.to), TRENDS_CSV, rows)
}

/// The ranked cells, then the emerging cells outside the ranking.
fn all_cells(h: &Hotspots) -> Vec<&HotspotCell> {
    h.cells.iter().chain(h.emerging.iter().filter(|c| c.rank.is_none())).collect()
}

fn hotspots_csv(h: &Hotspots) -> Response {
    let rows = all_cells(h)
        .into_iter()
        .map(|c| {
            vec![
                opt(c.rank),
                c.cell.clone(),
                c.resolution.to_string(),
                format!("{:.6}", c.lat),
                format!("{:.6}", c.lon),
                c.own.to_string(),
                c.published.to_string(),
                c.count.to_string(),
                c.emerging.observed.to_string(),
                c.emerging.baseline.to_string(),
                format!("{:.2}", c.emerging.expected),
                format!("{:.6}", c.emerging.p_value),
                if c.emerging.flag { "yes" } else { "no" }.to_string(),
                csv_text(&c.emerging.reason),
            ]
        })
        .collect();
    csv(&format!("asb-hotspots-r{}-{}-{}", h.resolution, h.from, h.to), HOTSPOTS_CSV, rows)
}

fn ring(outline: &[(f64, f64)]) -> Vec<[f64; 2]> {
    let mut r: Vec<[f64; 2]> = outline.iter().map(|(lat, lon)| [*lon, *lat]).collect();
    if let Some(first) = r.first().copied() {
        r.push(first);
    }
    r
}

fn hotspots_geojson(h: &Hotspots) -> Response {
    let features: Vec<Value> = all_cells(h)
        .into_iter()
        .filter_map(|c| {
            let outline = hotspots::outline(c.h3)?;
            Some(json!({
                "type": "Feature",
                "id": c.cell,
                "geometry": {"type": "Polygon", "coordinates": [ring(&outline)]},
                "properties": {
                    "cell": c.cell, "rank": c.rank, "resolution": c.resolution,
                    "count": c.count, "own": c.own, "published": c.published,
                    "emerging": c.emerging.flag, "recent": c.emerging.observed, "baseline": c.emerging.baseline,
                    "expected": c.emerging.expected, "p_value": c.emerging.p_value, "reason": c.emerging.reason,
                }
            }))
        })
        .collect();
    geojson(json!({
        "type": "FeatureCollection",
        "features": features,
        "from": h.from, "to": h.to, "resolution": h.resolution, "borough": h.borough,
        "recent": h.recent, "baseline": h.baseline, "rule": h.rule,
    }))
}

fn locations_csv(r: &RepeatLocations) -> Response {
    let mut rows: Vec<Vec<String>> = r
        .places
        .iter()
        .map(|p| {
            vec![
                "own".into(),
                p.rank.to_string(),
                p.place_id.to_string(),
                csv_text(p.address.as_deref().unwrap_or("")),
                csv_text(p.postcode.as_deref().unwrap_or("")),
                opt(p.lat),
                opt(p.lon),
                csv_text(p.borough.as_deref().unwrap_or("")),
                p.count.to_string(),
            ]
        })
        .collect();
    rows.extend(r.points.iter().map(|p| {
        vec![
            "published".into(),
            p.rank.to_string(),
            String::new(),
            csv_text(p.location.as_deref().unwrap_or("")),
            String::new(),
            p.lat.to_string(),
            p.lon.to_string(),
            csv_text(p.area_code.as_deref().unwrap_or("")),
            p.count.to_string(),
        ]
    }));
    csv(&format!("asb-repeat-locations-{}-{}", r.from, r.to), LOCATIONS_CSV, rows)
}

fn locations_geojson(r: &RepeatLocations) -> Response {
    let point = |lat: f64, lon: f64| json!({"type": "Point", "coordinates": [lon, lat]});
    let mut features: Vec<Value> = r
        .places
        .iter()
        .filter_map(|p| {
            Some(json!({"type": "Feature", "geometry": point(p.lat?, p.lon?), "properties": {
                "source": "own", "rank": p.rank, "place_id": p.place_id, "address": p.address,
                "postcode": p.postcode, "borough": p.borough, "count": p.count}}))
        })
        .collect();
    features.extend(r.points.iter().map(|p| {
        json!({"type": "Feature", "geometry": point(p.lat, p.lon), "properties": {
            "source": "published", "rank": p.rank, "location": p.location, "area_code": p.area_code, "count": p.count}})
    }));
    geojson(json!({"type": "FeatureCollection", "features": features, "from": r.from, "to": r.to}))
}

fn victims_csv(l: &VictimList) -> Response {
    let rows = l
        .people
        .iter()
        .map(|p| {
            vec![
                p.person_id.to_string(),
                csv_text(p.name.as_deref().unwrap_or("")),
                p.reports.to_string(),
                p.reports_in_acute_window.to_string(),
                opt(p.last_report_at.map(|t| t.to_rfc3339())),
                p.verdict.repeat.to_string(),
                p.verdict.vulnerable.to_string(),
                p.verdict.acute.to_string(),
                csv_text(&p.verdict.reason),
            ]
        })
        .collect();
    csv("asb-victims", VICTIMS_CSV, rows)
}

// ---- the figures, kept while slow to compute (slow_cache) ---------------------------------------

/// The questions, as keys: months, the area's code, and (hotspots) resolution and rows.
type TrendsKey = (Month, Month, Option<String>);
type HotspotsKey = (Month, Month, u8, Option<String>, i64);
type LocationsKey = (Month, Month, Option<String>, i64);

/// The analysis results kept, by kind and question.
#[derive(Default)]
pub struct AnalysisCache {
    pub trends: Arc<SlowCache<TrendsKey, Trends>>,
    pub hotspots: Arc<SlowCache<HotspotsKey, Hotspots>>,
    pub locations: Arc<SlowCache<LocationsKey, RepeatLocations>>,
    pub victims: Arc<SlowCache<Option<String>, VictimSummary>>,
}

/// The area as a key: the same borough asked for in either form, or either case, is one question.
fn area_key(a: &Asked) -> Option<String> {
    a.borough.as_deref().map(|b| asb_domain::analysis::area_code(b).unwrap_or_else(|_| b.to_string()))
}

async fn trends_of(state: &AppState, a: &Asked) -> Result<Trends, StoreError> {
    let (st, from, to, borough) = (state.clone(), a.from, a.to, a.borough.clone());
    let compute = move || async move { st.store.trends(st.now(), from, to, borough.as_deref()).await };
    Ok(state.analysis.trends.get((from, to, area_key(a)), compute).await?.as_ref().clone())
}

async fn hotspots_of(state: &AppState, a: &Asked) -> Result<Hotspots, StoreError> {
    let (st, from, to, resolution, limit, borough) =
        (state.clone(), a.from, a.to, a.resolution, a.limit, a.borough.clone());
    let compute = move || async move {
        st.store.hotspots(&st.policies, st.now(), from, to, resolution, borough.as_deref(), limit).await
    };
    Ok(state.analysis.hotspots.get((from, to, resolution, area_key(a), limit), compute).await?.as_ref().clone())
}

/// Repeat locations as this user may see them: an address can identify the person who lives
/// there, so only the roles that may list victims by name (casework and supervision) see it. The
/// rest (the analyst's aggregates) see the street and the centre of the ~0.1 km² cell around it,
/// generalised as the police.uk export generalises (`police_uk::public_location`/`public_point`).
async fn locations_of(state: &AppState, a: &Asked, user: &User) -> Result<RepeatLocations, StoreError> {
    let (st, from, to, limit, borough) = (state.clone(), a.from, a.to, a.limit, a.borough.clone());
    let compute = move || async move { st.store.repeat_locations(st.now(), from, to, borough.as_deref(), limit).await };
    let mut r = state.analysis.locations.get((from, to, area_key(a), limit), compute).await?.as_ref().clone();
    if user.can(Action::ViewVictimList) {
        state.store.log_addresses_shown(user, &r).await?;
    } else {
        for p in &mut r.places {
            p.address = Some(police_uk::public_location(p.address.as_deref(), true));
            p.postcode = p
                .postcode
                .as_deref()
                .and_then(|pc| asb_domain::matching::Postcode::parse(pc).ok())
                .map(|pc| pc.district().to_string());
            if let Some(point) = p.lat.zip(p.lon).and_then(|(la, lo)| GeoPoint::new(la, lo).ok()) {
                let ((la, lo), _) = police_uk::public_point(police_uk::public_cell(&point).0, police_uk::MIN_ADDRESSES);
                (p.lat, p.lon) = (Some(la), Some(lo));
            }
        }
    }
    Ok(r)
}

async fn victims_of(state: &AppState, a: &Asked) -> Result<VictimSummary, StoreError> {
    let (st, borough) = (state.clone(), a.borough.clone());
    let compute = move || async move { st.store.victim_summary(&st.policies, st.now(), borough.as_deref()).await };
    Ok(state.analysis.victims.get(area_key(a), compute).await?.as_ref().clone())
}

// ---- API -------------------------------------------------------------------------------------

async fn api_trends(
    State(state): State<AppState>,
    ApiUser(_): ApiUser,
    headers: HeaderMap,
    q: Result<Query<AnalysisQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (a, format) = read(&state, q, &headers, TRENDS, false)?;
    let t = trends_of(&state, &a).await?;
    Ok(match format {
        Format::Csv => trends_csv(&t),
        _ => Json(t).into_response(),
    })
}

async fn api_hotspots(
    State(state): State<AppState>,
    ApiUser(_): ApiUser,
    headers: HeaderMap,
    q: Result<Query<AnalysisQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (a, format) = read(&state, q, &headers, HOTSPOTS, true)?;
    let h = hotspots_of(&state, &a).await?;
    Ok(match format {
        Format::Csv => hotspots_csv(&h),
        Format::GeoJson => hotspots_geojson(&h),
        Format::Json => Json(h).into_response(),
    })
}

async fn api_repeat_locations(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    headers: HeaderMap,
    q: Result<Query<AnalysisQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (a, format) = read(&state, q, &headers, LOCATIONS, true)?;
    let r = locations_of(&state, &a, &user).await?;
    Ok(match format {
        Format::Csv => locations_csv(&r),
        Format::GeoJson => locations_geojson(&r),
        Format::Json => Json(r).into_response(),
    })
}

async fn api_victims(
    State(state): State<AppState>,
    ApiUser(_): ApiUser,
    headers: HeaderMap,
    q: Result<Query<AnalysisQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (a, format) = read(&state, q, &headers, VICTIMS, false)?;
    let s = victims_of(&state, &a).await?;
    Ok(match format {
        Format::Csv => csv(
            "asb-victim-counts",
            "measure,count",
            vec![
                vec!["repeat_victims".into(), s.repeat_victims.to_string()],
                vec!["vulnerable_repeat_victims".into(), s.vulnerable_repeat_victims.to_string()],
                vec!["acute_victims".into(), s.acute_victims.to_string()],
            ],
        ),
        _ => Json(s).into_response(),
    })
}

async fn api_victim_people(
    State(state): State<AppState>,
    ApiUser(user): ApiUser,
    headers: HeaderMap,
    q: Result<Query<AnalysisQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let (a, format) = read(&state, q, &headers, VICTIMS, false)?;
    let l =
        state.store.victim_list(&state.policies, state.now(), &user, a.borough.as_deref(), a.acute, a.limit).await?;
    Ok(match format {
        Format::Csv => victims_csv(&l),
        _ => Json(l).into_response(),
    })
}

// ---- pages -----------------------------------------------------------------------------------

/// The filter form as sent back: the values as typed, so a mistake can be corrected, and the
/// errors to show beside them.
struct Filter {
    action: &'static str,
    months: bool,
    from: String,
    to: String,
    borough: String,
    resolution: Option<String>,
    limit: String,
    acute: Option<bool>,
    errors: Vec<(String, String)>,
}

impl Filter {
    fn err(&self, field: &str) -> Option<&str> {
        self.errors.iter().find(|(f, _)| f == field).map(|(_, m)| m.as_str())
    }
}

fn filter(
    action: &'static str,
    q: &AnalysisQuery,
    a: Option<&Asked>,
    shape: Shape,
    errors: &[(String, String)],
) -> Filter {
    let pick =
        |given: &Option<String>, asked: Option<String>| asked.unwrap_or_else(|| given.clone().unwrap_or_default());
    Filter {
        action,
        months: shape.months,
        from: pick(&q.from, a.map(|a| a.from.to_string())),
        to: pick(&q.to, a.map(|a| a.to.to_string())),
        borough: q.borough.clone().unwrap_or_default().trim().to_string(),
        resolution: shape.resolution.then(|| pick(&q.resolution, a.map(|a| a.resolution.to_string()))),
        limit: pick(&q.limit, a.map(|a| a.limit.to_string())),
        acute: (action == "/analysis/victims").then(|| a.is_some_and(|a| a.acute)),
        errors: errors.to_vec(),
    }
}

/// The boroughs to choose from: (ONS code, name).
async fn borough_options(state: &AppState) -> Vec<(String, String)> {
    let orgs = state.store.organisations().await.unwrap_or_default();
    let mut out: Vec<(String, String)> = orgs
        .into_iter()
        .filter(|o| o.kind == "borough")
        .filter_map(|o| o.ons_code.map(|c| (c, o.name.trim_end_matches(" (MPS)").to_string())))
        .collect();
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

/// The query string that asks for the same figures elsewhere (another page, CSV, GeoJSON).
fn same(a: &Asked, extra: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.append_pair("from", &a.from.to_string()).append_pair("to", &a.to.to_string());
    if let Some(b) = &a.borough {
        s.append_pair("borough", b);
    }
    for (k, v) in extra {
        s.append_pair(k, v);
    }
    s.finish()
}

/// A page's figures, or its errors for the summary (422); other failures are answered at once.
fn split<T>(r: Result<T, StoreError>) -> Result<Result<T, Vec<(String, String)>>, StoreError> {
    match r {
        Ok(t) => Ok(Ok(t)),
        Err(StoreError::Invalid(e)) => Ok(Err(e.into_iter().map(|e| (e.field, e.message)).collect())),
        Err(e) => Err(e),
    }
}

fn page_query(q: Result<Query<AnalysisQuery>, QueryRejection>) -> AnalysisQuery {
    q.map(|Query(q)| q).unwrap_or_default()
}

fn field_errors(e: Vec<FieldError>) -> Vec<(String, String)> {
    e.into_iter().map(|e| (e.field, e.message)).collect()
}

/// One row of the trends table.
struct TrendTableRow {
    month: String,
    categories: Vec<i64>,
    total: i64,
    previous: i64,
    change: String,
}

#[derive(Template)]
#[template(path = "analysis.html")]
struct TrendsPage {
    frame: Frame,
    errors: Vec<(String, String)>,
    f: Filter,
    boroughs: Vec<(String, String)>,
    t: Option<Trends>,
    area: String,
    chart: String,
    category_chart: String,
    category_labels: Vec<&'static str>,
    table: Vec<TrendTableRow>,
    links: String,
    as_at: String,
}

async fn trends_page(
    State(state): State<AppState>,
    PageUser(_): PageUser,
    frame: Frame,
    q: Result<Query<AnalysisQuery>, QueryRejection>,
) -> Response {
    let q = page_query(q);
    let boroughs = borough_options(&state).await;
    let a = asked(state.now(), &q, TRENDS);
    let (t, errors) = match &a {
        Err(e) => (None, field_errors(e.clone())),
        Ok(a) => match split(trends_of(&state, a).await) {
            Ok(Ok(t)) => (Some(t), vec![]),
            Ok(Err(e)) => (None, e),
            Err(e) => return ApiError::from(e).into_response(),
        },
    };
    let category_labels: Vec<&'static str> = CATEGORIES.iter().map(|(_, l)| *l).collect();
    let mut page = TrendsPage {
        f: filter("/analysis", &q, a.as_ref().ok(), TRENDS, &errors),
        frame,
        errors,
        boroughs,
        t: None,
        area: String::new(),
        chart: String::new(),
        category_chart: String::new(),
        category_labels: category_labels.clone(),
        table: vec![],
        links: String::new(),
        as_at: String::new(),
    };
    if let (Some(t), Ok(a)) = (t, &a) {
        page.area = t.borough.as_ref().map_or("All areas".to_string(), |b| format!("{} ({})", b.name, b.code));
        let bars: Vec<TrendBar> = t
            .months
            .iter()
            .map(|m| TrendBar {
                label: m.month.label(),
                total: m.total,
                change: format!("{} on {}", m.year_on_year.words(), m.month.year_before().label()),
            })
            .collect();
        page.chart = trend_chart("trend", &format!("ASB reports by month, {}", page.area), &bars);
        let stacked: Vec<StackedBar> = t
            .months
            .iter()
            .map(|m| StackedBar {
                label: m.month.label(),
                counts: CATEGORIES.iter().map(|(k, _)| m.categories.get(k).map_or(0, |c| c.total)).collect(),
            })
            .collect();
        page.category_chart =
            category_chart("categories", "ASB reports by month and NSIR category", &category_labels, &stacked);
        page.table = t
            .months
            .iter()
            .map(|m| TrendTableRow {
                month: m.month.label(),
                categories: CATEGORIES.iter().map(|(k, _)| m.categories.get(k).map_or(0, |c| c.total)).collect(),
                total: m.total,
                previous: m.year_on_year.previous,
                change: m.year_on_year.words(),
            })
            .collect();
        page.links = same(a, &[]);
        page.as_at = london(t.as_at);
        page.t = Some(t);
    }
    let has_errors = !page.errors.is_empty();
    render_form(&page, has_errors)
}

struct CellView {
    rank: String,
    cell: String,
    count: i64,
    own: i64,
    published: i64,
    emerging: bool,
    reason: String,
}

fn cell_view(c: &HotspotCell) -> CellView {
    CellView {
        rank: c.rank.map_or("–".into(), |r| r.to_string()),
        cell: c.cell.clone(),
        count: c.count,
        own: c.own,
        published: c.published,
        emerging: c.emerging.flag,
        reason: c.emerging.reason.clone(),
    }
}

/// The emerging cells a page lists and maps, the least likely by chance first.
const PAGE_EMERGING: usize = 50;

#[derive(Template)]
#[template(path = "analysis_hotspots.html")]
struct HotspotsPage {
    frame: Frame,
    errors: Vec<(String, String)>,
    f: Filter,
    boroughs: Vec<(String, String)>,
    h: Option<Hotspots>,
    area: String,
    cells: Vec<CellView>,
    emerging: Vec<CellView>,
    /// Emerging cells beyond those shown (the CSV and GeoJSON have every one).
    emerging_more: usize,
    map: Option<String>,
    map_note: String,
    links: String,
    as_at: String,
}

/// The rings of the area's imported boundary, read as every boundary is (`asb_domain::areas`).
async fn boundary_rings(state: &AppState, code: &str) -> Vec<Vec<(f64, f64)>> {
    let Ok(Some((name, geometry))) = state.store.boundary(code).await else { return vec![] };
    let feature = json!({"type": "Feature", "properties": {"code": code, "name": name}, "geometry": geometry});
    let collection = json!({"type": "FeatureCollection", "features": [feature]}).to_string();
    match areas::parse_geojson(&collection, Some("code"), Some("name")) {
        Ok(parsed) => parsed.iter().flat_map(|a| a.rings().map(<[(f64, f64)]>::to_vec).collect::<Vec<_>>()).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "a stored boundary no longer reads; the map is drawn without it");
            vec![]
        }
    }
}

async fn hotspots_page(
    State(state): State<AppState>,
    PageUser(_): PageUser,
    frame: Frame,
    q: Result<Query<AnalysisQuery>, QueryRejection>,
) -> Response {
    let q = page_query(q);
    let boroughs = borough_options(&state).await;
    let a = asked(state.now(), &q, HOTSPOTS);
    let (h, errors) = match &a {
        Err(e) => (None, field_errors(e.clone())),
        Ok(a) => {
            let r = hotspots_of(&state, a).await;
            match split(r) {
                Ok(Ok(h)) => (Some(h), vec![]),
                Ok(Err(e)) => (None, e),
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
    };
    let mut page = HotspotsPage {
        f: filter("/analysis/hotspots", &q, a.as_ref().ok(), HOTSPOTS, &errors),
        frame,
        errors,
        boroughs,
        h: None,
        area: String::new(),
        cells: vec![],
        emerging: vec![],
        emerging_more: 0,
        map: None,
        map_note: String::new(),
        links: String::new(),
        as_at: String::new(),
    };
    if let (Some(h), Ok(a)) = (h, &a) {
        page.area = h.borough.as_ref().map_or("All areas".to_string(), |b| format!("{} ({})", b.name, b.code));
        page.cells = h.cells.iter().map(cell_view).collect();
        page.emerging = h.emerging.iter().take(PAGE_EMERGING).map(cell_view).collect();
        page.emerging_more = h.emerging.len().saturating_sub(PAGE_EMERGING);
        page.links = same(a, &[("resolution", &h.resolution.to_string())]);
        page.as_at = london(h.as_at);
        match &h.borough {
            None => page.map_note = "Choose a borough to see its map.".into(),
            Some(b) => {
                let rings = boundary_rings(&state, &b.code).await;
                let ranked = h.cells.iter();
                let rising = h.emerging.iter().filter(|c| c.rank.is_none()).take(PAGE_EMERGING);
                let cells: Vec<MapCell> = ranked
                    .chain(rising)
                    .filter_map(|c| {
                        Some(MapCell {
                            rank: c.rank,
                            name: c.cell.clone(),
                            outline: hotspots::outline(c.h3)?,
                            count: c.count,
                            emerging: c.emerging.flag,
                        })
                    })
                    .collect();
                page.map_note = if rings.is_empty() {
                    "No boundary has been imported for this borough (asb import boundaries), so the map shows the cells alone.".into()
                } else {
                    "The outline is the borough's imported boundary.".into()
                };
                page.map = borough_map(
                    "map",
                    &format!(
                        "Hotspots in {}, {} to {}, resolution {}",
                        b.name,
                        h.from.label(),
                        h.to.label(),
                        h.resolution
                    ),
                    &rings,
                    &cells,
                );
                if page.map.is_none() {
                    page.map_note = "Nothing to draw: no reports with a location in this period.".into();
                }
            }
        }
        page.h = Some(h);
    }
    let has_errors = !page.errors.is_empty();
    render_form(&page, has_errors)
}

#[derive(Template)]
#[template(path = "analysis_repeat.html")]
struct RepeatPage {
    frame: Frame,
    errors: Vec<(String, String)>,
    f: Filter,
    boroughs: Vec<(String, String)>,
    r: Option<RepeatLocations>,
    v: Option<VictimSummary>,
    area: String,
    can_list: bool,
    links: String,
    as_at: String,
}

async fn repeat_page(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    frame: Frame,
    q: Result<Query<AnalysisQuery>, QueryRejection>,
) -> Response {
    let q = page_query(q);
    let boroughs = borough_options(&state).await;
    let a = asked(state.now(), &q, LOCATIONS);
    let (found, errors) = match &a {
        Err(e) => (None, field_errors(e.clone())),
        Ok(a) => {
            let r = locations_of(&state, a, &user).await;
            let v = victims_of(&state, a).await;
            match split(r.and_then(|r| v.map(|v| (r, v)))) {
                Ok(Ok(found)) => (Some(found), vec![]),
                Ok(Err(e)) => (None, e),
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
    };
    let mut page = RepeatPage {
        f: filter("/analysis/repeat", &q, a.as_ref().ok(), LOCATIONS, &errors),
        frame,
        errors,
        boroughs,
        r: None,
        v: None,
        area: String::new(),
        can_list: user.can(Action::ViewVictimList),
        links: String::new(),
        as_at: String::new(),
    };
    if let (Some((r, v)), Ok(a)) = (found, &a) {
        page.area = r.borough.as_ref().map_or("All areas".to_string(), |b| format!("{} ({})", b.name, b.code));
        page.links = same(a, &[]);
        page.as_at = london(r.as_at);
        page.r = Some(r);
        page.v = Some(v);
    }
    let has_errors = !page.errors.is_empty();
    render_form(&page, has_errors)
}

struct VictimView {
    person_id: i64,
    name: String,
    reports: i64,
    last: String,
    tags: Vec<&'static str>,
    reason: String,
}

#[derive(Template)]
#[template(path = "analysis_victims.html")]
struct VictimsPage {
    frame: Frame,
    errors: Vec<(String, String)>,
    f: Filter,
    boroughs: Vec<(String, String)>,
    l: Option<VictimList>,
    people: Vec<VictimView>,
    area: String,
    links: String,
}

async fn victims_page(
    State(state): State<AppState>,
    PageUser(user): PageUser,
    frame: Frame,
    q: Result<Query<AnalysisQuery>, QueryRejection>,
) -> Response {
    let q = page_query(q);
    let boroughs = borough_options(&state).await;
    let a = asked(state.now(), &q, VICTIMS);
    let (l, errors) = match &a {
        Err(e) => (None, field_errors(e.clone())),
        Ok(a) => {
            let r = state
                .store
                .victim_list(&state.policies, state.now(), &user, a.borough.as_deref(), a.acute, a.limit)
                .await;
            match split(r) {
                Ok(Ok(l)) => (Some(l), vec![]),
                Ok(Err(e)) => (None, e),
                Err(e) => return ApiError::from(e).into_response(),
            }
        }
    };
    let mut page = VictimsPage {
        f: filter("/analysis/victims", &q, a.as_ref().ok(), VICTIMS, &errors),
        frame,
        errors,
        boroughs,
        l: None,
        people: vec![],
        area: String::new(),
        links: String::new(),
    };
    if let (Some(l), Ok(a)) = (l, &a) {
        page.area =
            l.summary.borough.as_ref().map_or("All boroughs".to_string(), |b| format!("{} ({})", b.name, b.code));
        page.people = l
            .people
            .iter()
            .map(|p| VictimView {
                person_id: p.person_id,
                name: p.name.clone().unwrap_or_else(|| "Name not recorded".into()),
                reports: p.reports,
                last: p.last_report_at.map(london).unwrap_or_default(),
                tags: [(p.verdict.acute, "Acute"), (p.verdict.vulnerable, "Vulnerable"), (p.verdict.repeat, "Repeat")]
                    .into_iter()
                    .filter_map(|(on, t)| on.then_some(t))
                    .collect(),
                reason: p.verdict.reason.clone(),
            })
            .collect();
        let mut b = form_urlencoded::Serializer::new(String::new());
        if let Some(code) = &a.borough {
            b.append_pair("borough", code);
        }
        if a.acute {
            b.append_pair("acute", "yes");
        }
        page.links = b.finish();
        page.l = Some(l);
    }
    let has_errors = !page.errors.is_empty();
    render_form(&page, has_errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        assert_eq!(csv_text("Camden"), "Camden");
        assert_eq!(csv_text("On or near High Street, Camden"), "\"On or near High Street, Camden\"");
        assert_eq!(csv_text("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_text("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_text("-5"), "'-5");
    }

    #[test]
    fn every_bad_field_is_named_together() {
        let now = chrono::Utc::now();
        let q = AnalysisQuery {
            from: Some("2026-13".into()),
            resolution: Some("12".into()),
            limit: Some("0".into()),
            ..Default::default()
        };
        let fields: Vec<String> = asked(now, &q, HOTSPOTS).err().unwrap().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["from", "resolution", "limit"]);
        let q = AnalysisQuery { format: Some("xml".into()), ..Default::default() };
        assert_eq!(format_of(&q, &HeaderMap::new(), false).unwrap_err().field, "format");
        let q = AnalysisQuery { format: Some("geojson".into()), ..Default::default() };
        assert!(format_of(&q, &HeaderMap::new(), false).is_err(), "no GeoJSON of trends");
        assert_eq!(format_of(&q, &HeaderMap::new(), true).unwrap(), Format::GeoJson);
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, "text/csv".parse().unwrap());
        assert_eq!(format_of(&AnalysisQuery::default(), &h, true).unwrap(), Format::Csv);
    }
}
