//! Finding the person and the place a caller describes, on the normalised matching keys. A person
//! matches on the same phone, or on a similar-sounding name when the date of birth or the address
//! also agrees; a name alone never matches.

use crate::engine::{on, Db, IdList};
use crate::Result;
use asb_domain::matching::{AddressLine, GeoPoint, PersonName, PhoneNumber, Postcode};
use chrono::NaiveDate;

pub(crate) const MAX_PEOPLE: usize = 20;
const MAX_PLACES: usize = 200;

/// What the panel shows of a matched person, read with the match itself.
#[derive(Debug, Clone)]
pub(crate) struct PersonCard {
    pub name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub postcode: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct PersonMatch {
    pub id: i64,
    pub card: PersonCard,
    pub reasons: Vec<String>,
    /// How many incidents the person has ever been part of (an index-only count).
    pub total: i64,
}

/// Which lookup found a row, in the order their reasons are listed.
const BY_PHONE: i32 = 1;
const BY_NAME_AND_DOB: i32 = 2;
const BY_NAME_AT_HOME: i32 = 3;

type CardRow = (
    i32,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<NaiveDate>,
    Option<String>,
    Option<String>,
    Option<String>,
    i64,
);

/// Everyone matching the caller's keys, with their all-time incident totals, in one statement
/// (one round trip to a database server): the lookups are `UNION ALL`ed, each tagged with which
/// one it was.
pub(crate) async fn find_people(
    db: &mut Db<'_>,
    phone: Option<&PhoneNumber>,
    name: Option<&PersonName>,
    dob: Option<NaiveDate>,
    home_places: &[i64],
) -> Result<Vec<PersonMatch>> {
    let by_home = name.filter(|_| !home_places.is_empty());
    let mut lookups = Vec::new();
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    let select = |how: i32| {
        format!(
            "SELECT {how} AS how, p.id, p.name_key, p.name_norm, p.name, p.date_of_birth, p.phone, p.address, p.postcode,
               (SELECT COUNT(*) FROM incident_people x WHERE x.person_id = p.id) AS total"
        )
    };
    if phone.is_some() {
        let (ph, lim) = (next(), next());
        lookups.push(format!("{} FROM people p WHERE p.phone = ${ph} LIMIT ${lim}", select(BY_PHONE)));
    }
    if let (Some(_), Some(_)) = (name, dob) {
        let (key, d, lim) = (next(), next(), next());
        lookups.push(format!(
            "{} FROM people p WHERE p.name_key = ${key} AND p.date_of_birth = ${d} LIMIT ${lim}",
            select(BY_NAME_AND_DOB)
        ));
    }
    if by_home.is_some() {
        // Driven from the few places, never from everyone sharing a common name's key.
        let (ids, key, lim) = (next(), next(), next());
        lookups.push(format!(
            "{} FROM {} CROSS JOIN people AS p WHERE p.home_place_id = j.value AND p.name_key = ${key} LIMIT ${lim}",
            select(BY_NAME_AT_HOME),
            db.engine().ids_table(ids, "j")
        ));
    }
    if lookups.is_empty() {
        return Ok(Vec::new());
    }
    // Each lookup keeps its own LIMIT inside a subquery, as both engines require in a compound.
    let sql = lookups
        .iter()
        .enumerate()
        .map(|(i, l)| format!("SELECT * FROM ({l}) AS l{i}"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let limit = MAX_PEOPLE as i64;
    let ids = IdList::new(home_places.iter().copied());
    let mut rows: Vec<CardRow> = on!(db, c => {
        let mut q = sqlx::query_as(&sql);
        if let Some(phone) = phone {
            q = q.bind(phone.as_e164()).bind(limit);
        }
        if let (Some(name), Some(dob)) = (name, dob) {
            q = q.bind(name.phonetic_key()).bind(dob).bind(limit);
        }
        if let Some(name) = by_home {
            q = q.bind(&ids).bind(name.phonetic_key()).bind(limit);
        }
        q.fetch_all(c).await?
    });
    rows.sort_by_key(|r| r.0);

    let name_word = |norm: &Option<String>| match (name, norm) {
        (Some(n), Some(m)) if n.normalised() == m => "same name",
        _ => "similar-sounding name",
    };
    let mut out: Vec<PersonMatch> = Vec::new();
    for (how, id, name_key, name_norm, display, date_of_birth, phone, address, postcode, total) in rows {
        let reason = match how {
            BY_PHONE if name.is_some_and(|n| name_key.as_deref() == Some(n.phonetic_key())) => {
                format!("same phone number and {}", name_word(&name_norm))
            }
            BY_PHONE => "same phone number".to_string(),
            BY_NAME_AND_DOB => format!("{} and same date of birth", name_word(&name_norm)),
            _ => format!("{} at the same address", name_word(&name_norm)),
        };
        match out.iter_mut().find(|m| m.id == id) {
            Some(m) if !m.reasons.contains(&reason) => m.reasons.push(reason),
            Some(_) => {}
            None => {
                let card = PersonCard { name: display, date_of_birth, phone, address, postcode };
                out.push(PersonMatch { id, card, reasons: vec![reason], total });
            }
        }
    }
    out.truncate(MAX_PEOPLE);
    Ok(out)
}

/// `$from, $from+1, …` for `n` parameters.
fn placeholders(from: usize, n: usize) -> String {
    (from..from + n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

#[derive(Debug, Clone, Default)]
pub(crate) struct PlaceMatch {
    /// Places at the address itself (or the postcode, when only a postcode is given).
    pub exact: Vec<i64>,
    /// Every place at the address or within the radius of the centre, with its distance in
    /// metres (the exact ones at 0 when they have no coordinates).
    pub near: Vec<(i64, f64)>,
    pub centre: Option<GeoPoint>,
}

type PlaceRow = (i64, Option<f64>, Option<f64>);

/// Places recorded at this address (and postcode), or in this postcode when no address is given.
pub(crate) async fn exact_places(
    db: &mut Db<'_>,
    address: Option<&AddressLine>,
    postcode: Option<&Postcode>,
) -> Result<Vec<PlaceRow>> {
    let limit = MAX_PLACES as i64;
    Ok(match (address, postcode) {
        (Some(a), Some(p)) => {
            let sql = "SELECT id, lat, lon FROM places WHERE postcode = $1 AND address_norm = $2 LIMIT $3";
            on!(db, c => sqlx::query_as(sql).bind(p.as_str()).bind(a.normalised()).bind(limit).fetch_all(c).await?)
        }
        (None, Some(p)) => {
            let sql = "SELECT id, lat, lon FROM places WHERE postcode = $1 LIMIT $2";
            on!(db, c => sqlx::query_as(sql).bind(p.as_str()).bind(limit).fetch_all(c).await?)
        }
        (Some(a), None) => {
            let sql = "SELECT id, lat, lon FROM places WHERE address_norm = $1 LIMIT $2";
            on!(db, c => sqlx::query_as(sql).bind(a.normalised()).bind(limit).fetch_all(c).await?)
        }
        (None, None) => Vec::new(),
    })
}

/// The place asked about and everything within `radius_m` of it.
pub(crate) async fn find_places(
    db: &mut Db<'_>,
    address: Option<&AddressLine>,
    postcode: Option<&Postcode>,
    point: Option<GeoPoint>,
    radius_m: f64,
) -> Result<PlaceMatch> {
    let rows = exact_places(db, address, postcode).await?;
    let centre = point.or_else(|| rows.iter().find_map(|(_, la, lo)| GeoPoint::new((*la)?, (*lo)?).ok()));
    let mut m = PlaceMatch { exact: rows.iter().map(|r| r.0).collect(), near: Vec::new(), centre };
    if let Some(c) = centre {
        let cells: Vec<i64> = c.cells_within(radius_m).into_iter().map(asb_domain::matching::geo::to_i64).collect();
        // The cells cover more than the circle; a bounding box (1% wider) trims the rows sent
        // back to about those within the radius, and the exact distance decides below.
        let dlat = radius_m * 1.01 / 111_320.0;
        let dlon = radius_m * 1.01 / (111_320.0 * c.lat().to_radians().cos().max(0.01));
        let sql = format!(
            "SELECT id, lat, lon FROM places WHERE lat BETWEEN $1 AND $2 AND lon BETWEEN $3 AND $4 AND h3 IN ({}) LIMIT 2000",
            placeholders(5, cells.len())
        );
        let bbox = [c.lat() - dlat, c.lat() + dlat, c.lon() - dlon, c.lon() + dlon];
        let rows: Vec<PlaceRow> = on!(db, conn => {
            let mut q = sqlx::query_as(&sql);
            for edge in bbox {
                q = q.bind(edge);
            }
            for cell in &cells {
                q = q.bind(*cell);
            }
            q.fetch_all(conn).await?
        });
        for (id, la, lo) in rows {
            if let (Some(la), Some(lo)) = (la, lo) {
                if let Ok(p) = GeoPoint::new(la, lo) {
                    let d = c.distance_m(&p);
                    if d <= radius_m {
                        m.near.push((id, d));
                    }
                }
            }
        }
    }
    for id in &m.exact {
        if !m.near.iter().any(|(p, _)| p == id) {
            m.near.push((*id, 0.0));
        }
    }
    Ok(m)
}
