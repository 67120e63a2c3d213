//! Loading the ASB history of people and places, from every organisation in the system.

use crate::{from_ts, Result};
use asb_domain::history::{HistoryEntry, Role};
use asb_domain::Category;
use sqlx::SqliteConnection;
use std::str::FromStr;

const MAX_ROWS: i64 = 500;

type Row = (
    i64,
    String,
    i64,
    String,
    i64,
    Option<String>,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
);

const SELECT: &str = "SELECT i.id, i.reference, i.received_at, i.category, i.type_code, i.risk_level, i.status,
        o.name, o.kind, ip.role,
        (SELECT group_concat(q.code) FROM incident_qualifiers q WHERE q.incident_id = i.id), ";

fn entry(r: Row, distance: Option<f64>) -> (HistoryEntry, Option<i64>) {
    let (_id, reference, at, category, type_code, risk, status, org, kind, role, quals, key) = r;
    (
        HistoryEntry {
            reference,
            received_at: from_ts(at),
            category: Category::from_str(&category).unwrap_or(Category::Nuisance),
            type_code: type_code as u16,
            risk_level: risk.and_then(|r| r.parse().ok()),
            qualifiers: quals.map(|q| q.split(',').filter_map(|c| c.parse().ok()).collect()).unwrap_or_default(),
            organisation: org,
            organisation_kind: kind,
            role: role.and_then(|r| Role::from_str(&r).ok()),
            status,
            distance_m: distance,
        },
        key,
    )
}

/// Ids as one JSON array parameter, read with `json_each`: the SQL text stays the same whatever
/// the count, so each connection prepares it once.
pub(crate) fn id_array(ids: impl IntoIterator<Item = i64>) -> String {
    let list: Vec<String> = ids.into_iter().map(|i| i.to_string()).collect();
    format!("[{}]", list.join(","))
}

const IDS: &str = "(SELECT value FROM json_each(?))";

/// Incidents involving any of the people since `since` (epoch seconds), newest first, with the
/// person each row is for.
pub(crate) async fn for_people(
    conn: &mut SqliteConnection,
    people: &[i64],
    since: i64,
) -> Result<Vec<(i64, HistoryEntry)>> {
    if people.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "{SELECT} ip.person_id FROM incident_people ip
         JOIN incidents i ON i.id = ip.incident_id JOIN organisations o ON o.id = i.organisation_id
         WHERE ip.person_id IN {IDS} AND i.received_at >= ? ORDER BY i.received_at DESC LIMIT ?"
    );
    let q = sqlx::query_as::<_, Row>(&sql).bind(id_array(people.iter().copied()));
    let rows = q.bind(since).bind(MAX_ROWS).fetch_all(conn).await?;
    Ok(rows.into_iter().map(|r| entry(r, None)).map(|(e, k)| (k.unwrap_or_default(), e)).collect())
}

/// How many incidents each person has ever been part of (an index-only count).
pub(crate) async fn totals_for_people(conn: &mut SqliteConnection, people: &[i64]) -> Result<Vec<(i64, i64)>> {
    if people.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT person_id, COUNT(*) FROM incident_people WHERE person_id IN {IDS} GROUP BY person_id");
    Ok(sqlx::query_as(&sql).bind(id_array(people.iter().copied())).fetch_all(conn).await?)
}

/// The newest `limit` incidents at any of the places since `since`. Places need no qualifiers,
/// and busy places have hundreds of reports a year: the counts come from `place_aggregate`.
pub(crate) async fn for_places(
    conn: &mut SqliteConnection,
    places: &[(i64, f64)],
    since: i64,
    limit: i64,
) -> Result<Vec<HistoryEntry>> {
    if places.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT i.id, i.reference, i.received_at, i.category, i.type_code, i.risk_level, i.status,
                o.name, o.kind, NULL, NULL, i.place_id
         FROM incidents i INDEXED BY incidents_place JOIN organisations o ON o.id = i.organisation_id
         WHERE i.place_id IN {IDS} AND i.received_at >= ? ORDER BY i.received_at DESC LIMIT ?"
    );
    let q = sqlx::query_as::<_, Row>(&sql).bind(id_array(places.iter().map(|p| p.0)));
    let rows = q.bind(since).bind(limit).fetch_all(conn).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let place = r.11;
            let d = places.iter().find(|(p, _)| Some(*p) == place).map(|(_, d)| *d);
            entry(r, d).0
        })
        .collect())
}

/// Reports at the places since `recent` and since `since` (`recent` >= `since`), and the newest
/// open ones since `since` — from the index alone.
pub(crate) struct PlaceCounts {
    pub recent: usize,
    pub since: usize,
    pub open: Vec<String>,
}

pub(crate) async fn place_aggregate(
    conn: &mut SqliteConnection,
    places: &[(i64, f64)],
    recent: i64,
    since: i64,
) -> Result<PlaceCounts> {
    if places.is_empty() {
        return Ok(PlaceCounts { recent: 0, since: 0, open: Vec::new() });
    }
    let ids = id_array(places.iter().map(|p| p.0));
    // One round trip: the counts, and the ten newest open references in date order.
    let sql = format!(
        "SELECT COUNT(*), COALESCE(SUM(received_at >= ?), 0),
           (SELECT group_concat(reference, ',' ORDER BY received_at DESC) FROM (
              SELECT reference, received_at FROM incidents INDEXED BY incidents_place
              WHERE place_id IN {IDS} AND received_at >= ? AND status = 'open' ORDER BY received_at DESC LIMIT 10))
         FROM incidents INDEXED BY incidents_place WHERE place_id IN {IDS} AND received_at >= ?"
    );
    let q = sqlx::query_as::<_, (i64, i64, Option<String>)>(&sql).bind(recent).bind(&ids).bind(since);
    let (total, in_recent, open) = q.bind(&ids).bind(since).fetch_one(conn).await?;
    let open = open.map(|o| o.split(',').map(str::to_string).collect()).unwrap_or_default();
    Ok(PlaceCounts { recent: in_recent as usize, since: total as usize, open })
}

/// Incidents in which someone with this normalised name was a subject.
pub(crate) async fn for_subject(conn: &mut SqliteConnection, name_norm: &str, since: i64) -> Result<Vec<HistoryEntry>> {
    let sql = format!(
        "{SELECT} ip.person_id FROM people p JOIN incident_people ip ON ip.person_id = p.id AND ip.role = 'subject'
         JOIN incidents i ON i.id = ip.incident_id JOIN organisations o ON o.id = i.organisation_id
         WHERE p.name_norm = ? AND i.received_at >= ? ORDER BY i.received_at DESC LIMIT ?"
    );
    let rows = sqlx::query_as::<_, Row>(&sql).bind(name_norm).bind(since).bind(MAX_ROWS).fetch_all(conn).await?;
    Ok(rows.into_iter().map(|r| entry(r, None).0).collect())
}
