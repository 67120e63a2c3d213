//! Organisations: the force, its boroughs (basic command units) and partner bodies.

use crate::engine::{exec, on, Db};
use crate::{read_only, Result, Store, StoreError};
use asb_domain::boroughs::MPS_BOROUGHS;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Organisation {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub kind: String,
    pub parent_id: Option<i64>,
    pub ons_code: Option<String>,
}

pub const FORCE_CODE: &str = "MPS";

/// The borough's short code: `MPS-` and the ONS code.
pub fn borough_code(ons: &str) -> String {
    format!("MPS-{ons}")
}

/// The borough's neighbourhood team: the borough's code and `-SNT`.
pub fn team_code(ons: &str) -> String {
    format!("MPS-{ons}-SNT")
}

/// The council's code: `LBC-` and the ONS code.
pub fn council_code(ons: &str) -> String {
    format!("LBC-{ons}")
}

impl Store {
    /// The MPS, its 32 boroughs with a neighbourhood team each, each borough's council, a housing
    /// provider and victim support. Idempotent.
    pub async fn seed_organisations(&self) -> Result<()> {
        let mut tx = self.begin().await?;
        let db = &mut tx.db();
        upsert(db, FORCE_CODE, "Metropolitan Police Service", "force", None, None, None).await?;
        let sql = "SELECT id FROM organisations WHERE code = $1";
        let force: i64 = on!(db, c => sqlx::query_scalar(sql).bind(FORCE_CODE).fetch_one(c).await?);
        for b in MPS_BOROUGHS.iter() {
            upsert(
                db,
                &borough_code(b.ons_code),
                &format!("{} (MPS)", b.name),
                "borough",
                Some(force),
                Some(b.ons_code),
                Some((b.lat, b.lon)),
            )
            .await?;
            let sql = "SELECT id FROM organisations WHERE code = $1";
            let borough: i64 = on!(db, c => sqlx::query_scalar(sql).bind(borough_code(b.ons_code)).fetch_one(c).await?);
            upsert(
                db,
                &team_code(b.ons_code),
                &format!("{} Safer Neighbourhoods Team (MPS)", b.name),
                "neighbourhood_team",
                Some(borough),
                Some(b.ons_code),
                Some((b.lat, b.lon)),
            )
            .await?;
            let council_name = if b.name == "Westminster" {
                "Westminster City Council".to_string()
            } else {
                format!("London Borough of {}", b.name)
            };
            upsert(
                db,
                &council_code(b.ons_code),
                &council_name,
                "council",
                None,
                Some(b.ons_code),
                Some((b.lat, b.lon)),
            )
            .await?;
        }
        upsert(db, "HOUSING-DEMO", "Capital Homes (demo housing provider)", "housing", None, None, None).await?;
        upsert(db, "VS-LONDON", "Victim Support London", "victim_support", None, None, None).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn organisations(&self) -> Result<Vec<Organisation>> {
        let sql = "SELECT id, code, name, kind, parent_id, ons_code FROM organisations ORDER BY id";
        read_only!(self, |db| on!(db, c => sqlx::query_as(sql).fetch_all(c).await.map_err(StoreError::from)))
    }
}

async fn upsert(
    db: &mut Db<'_>,
    code: &str,
    name: &str,
    kind: &str,
    parent: Option<i64>,
    ons: Option<&str>,
    centre: Option<(f64, f64)>,
) -> Result<()> {
    let sql = "INSERT INTO organisations (code, name, kind, parent_id, ons_code, lat, lon) VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (code) DO UPDATE SET name = excluded.name, kind = excluded.kind, parent_id = excluded.parent_id,
           ons_code = excluded.ons_code, lat = excluded.lat, lon = excluded.lon";
    exec!(db, c => sqlx::query(sql)
        .bind(code)
        .bind(name)
        .bind(kind)
        .bind(parent)
        .bind(ons)
        .bind(centre.map(|c| c.0))
        .bind(centre.map(|c| c.1))
        .execute(c)
        .await?);
    Ok(())
}

/// An organisation by code, for recording a contact.
pub(crate) async fn by_code(db: &mut Db<'_>, code: &str) -> Result<Option<Organisation>> {
    let sql = "SELECT id, code, name, kind, parent_id, ons_code FROM organisations WHERE upper(code) = upper($1)";
    Ok(on!(db, c => sqlx::query_as(sql).bind(code).fetch_optional(c).await?))
}

/// The organisation a user belongs to.
pub(crate) async fn of_user(db: &mut Db<'_>, user_id: i64) -> Result<Option<Organisation>> {
    let sql = "SELECT o.id, o.code, o.name, o.kind, o.parent_id, o.ons_code
         FROM organisations o JOIN users u ON u.organisation_id = o.id WHERE u.id = $1";
    Ok(on!(db, c => sqlx::query_as(sql).bind(user_id).fetch_optional(c).await?))
}
