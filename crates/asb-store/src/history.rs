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

/// Every incident involving any of the people, newest first, with the person each row is for.
pub(crate) async fn for_people(conn: &mut SqliteConnection, people: &[i64]) -> Result<Vec<(i64, HistoryEntry)>> {
    if people.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "{SELECT} ip.person_id FROM incident_people ip
         JOIN incidents i ON i.id = ip.incident_id JOIN organisations o ON o.id = i.organisation_id
         WHERE ip.person_id IN ({}) ORDER BY i.received_at DESC LIMIT ?",
        vec!["?"; people.len()].join(", ")
    );
    let mut q = sqlx::query_as::<_, Row>(&sql);
    for p in people {
        q = q.bind(p);
    }
    let rows = q.bind(MAX_ROWS).fetch_all(conn).await?;
    Ok(rows.into_iter().map(|r| entry(r, None)).map(|(e, k)| (k.unwrap_or_default(), e)).collect())
}

/// Incidents at any of the places since `since` (epoch seconds), newest first.
pub(crate) async fn for_places(
    conn: &mut SqliteConnection,
    places: &[(i64, f64)],
    since: i64,
) -> Result<Vec<HistoryEntry>> {
    if places.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "{SELECT} i.place_id FROM incidents i JOIN organisations o ON o.id = i.organisation_id
         LEFT JOIN (SELECT NULL AS role) ip
         WHERE i.place_id IN ({}) AND i.received_at >= ? ORDER BY i.received_at DESC LIMIT ?",
        vec!["?"; places.len()].join(", ")
    );
    let mut q = sqlx::query_as::<_, Row>(&sql);
    for (p, _) in places {
        q = q.bind(p);
    }
    let rows = q.bind(since).bind(MAX_ROWS).fetch_all(conn).await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let place = r.11;
            let d = places.iter().find(|(p, _)| Some(*p) == place).map(|(_, d)| *d);
            entry(r, d).0
        })
        .collect())
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
