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

/// Reports at the places in the rule's window and in 12 months, and the newest open ones.
pub(crate) struct PlaceCounts {
    pub recent: usize,
    pub since: usize,
    pub open: Vec<String>,
}

type PlaceRow = (
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
);

/// A place's history in one round trip: index-only counts since `recent` (the repeat-location
/// window) and since `since` (12 months), the ten newest open references, and the newest `limit`
/// incidents since `recent` in full. Busy places have hundreds of reports a year; only the
/// newest are read from the table.
pub(crate) async fn for_places(
    conn: &mut SqliteConnection,
    places: &[(i64, f64)],
    recent: i64,
    since: i64,
    limit: i64,
) -> Result<(Vec<HistoryEntry>, PlaceCounts)> {
    if places.is_empty() {
        return Ok((Vec::new(), PlaceCounts { recent: 0, since: 0, open: Vec::new() }));
    }
    let sql = "WITH near(id) AS (SELECT value FROM json_each(?)),
         counts AS (
           SELECT COUNT(*) AS n, COALESCE(SUM(received_at >= ?), 0) AS r,
             (SELECT group_concat(reference, ',' ORDER BY received_at DESC) FROM (
                SELECT reference, received_at FROM incidents INDEXED BY incidents_place
                WHERE place_id IN near AND received_at >= ? AND status = 'open' ORDER BY received_at DESC LIMIT 10)) AS open
           FROM incidents INDEXED BY incidents_place WHERE place_id IN near AND received_at >= ?),
         newest AS (
           SELECT i.reference, i.received_at, i.category, i.type_code, i.risk_level, i.status, o.name, o.kind, i.place_id
           FROM incidents i INDEXED BY incidents_place JOIN organisations o ON o.id = i.organisation_id
           WHERE i.place_id IN near AND i.received_at >= ? ORDER BY i.received_at DESC LIMIT ?)
         SELECT counts.n, counts.r, counts.open, newest.* FROM counts LEFT JOIN newest ON 1
         ORDER BY newest.received_at DESC";
    let rows: Vec<PlaceRow> = sqlx::query_as(sql)
        .bind(id_array(places.iter().map(|p| p.0)))
        .bind(recent)
        .bind(since)
        .bind(since)
        .bind(recent)
        .bind(limit)
        .fetch_all(conn)
        .await?;
    let counts = rows.first().map_or(PlaceCounts { recent: 0, since: 0, open: Vec::new() }, |r| PlaceCounts {
        recent: r.1 as usize,
        since: r.0 as usize,
        open: r.2.as_deref().map(|o| o.split(',').map(str::to_string).collect()).unwrap_or_default(),
    });
    let entries = rows
        .into_iter()
        .filter_map(|(_, _, _, reference, at, category, type_code, risk, status, org, kind, place)| {
            let row: Row = (0, reference?, at?, category?, type_code?, risk, status?, org?, kind?, None, None, place);
            let d = places.iter().find(|(p, _)| Some(*p) == place).map(|(_, d)| *d);
            Some(entry(row, d).0)
        })
        .collect();
    Ok((entries, counts))
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
