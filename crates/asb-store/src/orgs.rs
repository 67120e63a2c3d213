//! Organisations: the force, its boroughs (basic command units) and partner bodies.

use crate::{Result, Store};
use asb_domain::boroughs::MPS_BOROUGHS;
use serde::Serialize;
use sqlx::SqliteConnection;

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

/// The council's code: `LBC-` and the ONS code.
pub fn council_code(ons: &str) -> String {
    format!("LBC-{ons}")
}

impl Store {
    /// The MPS, its 32 boroughs, each borough's council, a housing provider and victim support.
    /// Idempotent.
    pub async fn seed_organisations(&self) -> Result<()> {
        let mut tx = self.write.begin().await?;
        upsert(&mut tx, FORCE_CODE, "Metropolitan Police Service", "force", None, None, None).await?;
        let force: i64 = sqlx::query_scalar("SELECT id FROM organisations WHERE code = ?")
            .bind(FORCE_CODE)
            .fetch_one(&mut *tx)
            .await?;
        for b in MPS_BOROUGHS.iter() {
            upsert(
                &mut tx,
                &borough_code(b.ons_code),
                &format!("{} (MPS)", b.name),
                "borough",
                Some(force),
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
                &mut tx,
                &council_code(b.ons_code),
                &council_name,
                "council",
                None,
                Some(b.ons_code),
                Some((b.lat, b.lon)),
            )
            .await?;
        }
        upsert(&mut tx, "HOUSING-DEMO", "Capital Homes (demo housing provider)", "housing", None, None, None).await?;
        upsert(&mut tx, "VS-LONDON", "Victim Support London", "victim_support", None, None, None).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn organisations(&self) -> Result<Vec<Organisation>> {
        Ok(sqlx::query_as("SELECT id, code, name, kind, parent_id, ons_code FROM organisations ORDER BY id")
            .fetch_all(&self.read)
            .await?)
    }
}

async fn upsert(
    conn: &mut SqliteConnection,
    code: &str,
    name: &str,
    kind: &str,
    parent: Option<i64>,
    ons: Option<&str>,
    centre: Option<(f64, f64)>,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO organisations (code, name, kind, parent_id, ons_code, lat, lon) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (code) DO UPDATE SET name = excluded.name, kind = excluded.kind, parent_id = excluded.parent_id,
           ons_code = excluded.ons_code, lat = excluded.lat, lon = excluded.lon",
    )
    .bind(code)
    .bind(name)
    .bind(kind)
    .bind(parent)
    .bind(ons)
    .bind(centre.map(|c| c.0))
    .bind(centre.map(|c| c.1))
    .execute(conn)
    .await?;
    Ok(())
}

/// An organisation by code, for recording a contact.
pub(crate) async fn by_code(conn: &mut SqliteConnection, code: &str) -> Result<Option<Organisation>> {
    Ok(sqlx::query_as(
        "SELECT id, code, name, kind, parent_id, ons_code FROM organisations WHERE code = ? COLLATE NOCASE",
    )
    .bind(code)
    .fetch_optional(conn)
    .await?)
}

/// The organisation a user belongs to.
pub(crate) async fn of_user(conn: &mut SqliteConnection, user_id: i64) -> Result<Option<Organisation>> {
    Ok(sqlx::query_as(
        "SELECT o.id, o.code, o.name, o.kind, o.parent_id, o.ons_code
         FROM organisations o JOIN users u ON u.organisation_id = o.id WHERE u.id = ?",
    )
    .bind(user_id)
    .fetch_optional(conn)
    .await?)
}
