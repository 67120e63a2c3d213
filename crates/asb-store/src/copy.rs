//! Copying a whole deployment from one database into another (SQLite into PostgreSQL, and back):
//! `asb migrate-data`. The source is read in one snapshot, a page at a time in key order; the
//! target is written in one transaction, so a failed copy leaves it as empty as it was. The copy
//! is verified before it commits: every table's row count, and the audit chain, which must come
//! out with the same length and the same head hash it had in the source.

use crate::audit::ChainReport;
use crate::bulk::sync_sequences;
use crate::engine::{exec, on, Db, Engine, Json, Ts};
use crate::{Result, Store, StoreError};
use chrono::NaiveDate;
use serde::Serialize;
use sqlx::{Decode, QueryBuilder, Row, Type};

#[derive(Debug, Clone, Copy)]
enum Kind {
    Int,
    Int32,
    Real,
    Text,
    Time,
    Bool,
    Json,
    Date,
}

/// How a table is read in pages: by its id, by a composite key, or (for a table with no id of
/// its own) by the engine's insertion order.
#[derive(Debug, Clone, Copy)]
enum Key {
    Columns(&'static [&'static str]),
    InsertionOrder,
}

struct Table {
    name: &'static str,
    key: Key,
    columns: &'static [(&'static str, Kind)],
}

use Kind::*;

const ID: Key = Key::Columns(&["id"]);

/// Every table, parents before children; the same columns on both engines.
const TABLES: &[Table] = &[
    Table {
        name: "organisations",
        key: ID,
        columns: &[
            ("id", Int),
            ("code", Text),
            ("name", Text),
            ("kind", Text),
            ("parent_id", Int),
            ("ons_code", Text),
            ("lat", Real),
            ("lon", Real),
        ],
    },
    Table {
        name: "users",
        key: ID,
        columns: &[
            ("id", Int),
            ("username", Text),
            ("display_name", Text),
            ("organisation_id", Int),
            ("roles", Text),
            ("password_hash", Text),
            ("created_at", Time),
            ("disabled_at", Time),
            ("totp_secret", Text),
        ],
    },
    Table {
        name: "login_attempts",
        key: ID,
        columns: &[("id", Int), ("username", Text), ("at", Time), ("succeeded", Bool)],
    },
    Table {
        name: "api_tokens",
        key: ID,
        columns: &[
            ("id", Int),
            ("user_id", Int),
            ("token_hash", Text),
            ("kind", Text),
            ("created_at", Time),
            ("expires_at", Time),
            ("revoked_at", Time),
        ],
    },
    Table {
        name: "places",
        key: ID,
        columns: &[
            ("id", Int),
            ("address", Text),
            ("address_norm", Text),
            ("postcode", Text),
            ("lat", Real),
            ("lon", Real),
            ("h3", Int),
            ("borough_id", Int),
            ("created_at", Time),
        ],
    },
    Table {
        name: "people",
        key: ID,
        columns: &[
            ("id", Int),
            ("name", Text),
            ("name_norm", Text),
            ("name_key", Text),
            ("date_of_birth", Date),
            ("phone", Text),
            ("address", Text),
            ("postcode", Text),
            ("home_place_id", Int),
            ("description", Text),
            ("created_at", Time),
        ],
    },
    Table {
        name: "reference_counters",
        key: Key::Columns(&["year"]),
        columns: &[("year", Int32), ("next_value", Int)],
    },
    Table {
        name: "incidents",
        key: ID,
        columns: &[
            ("id", Int),
            ("reference", Text),
            ("organisation_id", Int),
            ("received_at", Time),
            ("place_id", Int),
            ("opening_category", Text),
            ("opening_type_code", Int32),
            ("category", Text),
            ("type_code", Int32),
            ("narrative", Text),
            ("status", Text),
            ("closed_at", Time),
            ("risk_score", Int32),
            ("risk_level", Text),
            ("risk_assessed_level", Text),
            ("risk_questionnaire", Text),
            ("risk_answers", Json),
            ("risk_override_reason", Text),
            ("self_reported_repeat", Bool),
            ("verdicts", Json),
            ("created_by", Int),
            ("created_at", Time),
        ],
    },
    Table {
        name: "incident_qualifiers",
        key: Key::Columns(&["incident_id", "code"]),
        columns: &[("incident_id", Int), ("code", Int32), ("applied_by", Text), ("reason", Text)],
    },
    Table {
        name: "incident_people",
        key: Key::InsertionOrder,
        columns: &[("incident_id", Int), ("person_id", Int), ("role", Text), ("description", Text)],
    },
    Table {
        name: "contacts",
        key: ID,
        columns: &[
            ("id", Int),
            ("incident_id", Int),
            ("person_id", Int),
            ("organisation_id", Int),
            ("channel", Text),
            ("received_at", Time),
            ("taken_by", Int),
        ],
    },
    Table {
        name: "review_schedule",
        key: ID,
        columns: &[
            ("id", Int),
            ("incident_id", Int),
            ("received_at", Time),
            ("reference", Text),
            ("borough_id", Int),
            ("role", Text),
            ("kind", Text),
            ("due_at", Time),
        ],
    },
    Table {
        name: "reviews",
        key: ID,
        columns: &[
            ("id", Int),
            ("incident_id", Int),
            ("received_at", Time),
            ("borough_id", Int),
            ("reviewer_id", Int),
            ("role", Text),
            ("kind", Text),
            ("reviewed_at", Time),
            ("due_at", Time),
            ("on_time", Bool),
            ("outcome", Text),
            ("risk_level", Text),
            ("reason", Text),
        ],
    },
    Table {
        name: "incident_changes",
        key: ID,
        columns: &[
            ("id", Int),
            ("incident_id", Int),
            ("field", Text),
            ("old_value", Text),
            ("new_value", Text),
            ("reason", Text),
            ("changed_by", Int),
            ("changed_at", Time),
            ("review_id", Int),
        ],
    },
    Table {
        name: "dip_samples",
        key: ID,
        columns: &[
            ("id", Int),
            ("borough_id", Int),
            ("week", Text),
            ("incident_id", Int),
            ("received_at", Time),
            ("reference", Text),
            ("sample_order", Int32),
            ("drawn_at", Time),
            ("checked_by", Int),
            ("checked_at", Time),
            ("answers", Json),
            ("note", Text),
            ("passed", Bool),
        ],
    },
    Table {
        name: "victim_updates",
        key: ID,
        columns: &[
            ("id", Int),
            ("incident_id", Int),
            ("received_at", Time),
            ("borough_id", Int),
            ("user_id", Int),
            ("at", Time),
            ("channel", Text),
            ("note", Text),
        ],
    },
    Table {
        name: "audit_events",
        key: ID,
        columns: &[
            ("id", Int),
            ("at", Time),
            ("user_id", Int),
            ("action", Text),
            ("subject_type", Text),
            ("subject_id", Text),
            ("purpose", Text),
            ("detail", Json),
            ("hash", Text),
        ],
    },
    Table {
        name: "police_uk_imports",
        key: ID,
        columns: &[
            ("id", Int),
            ("source", Text),
            ("started_at", Time),
            ("finished_at", Time),
            ("rows_read", Int),
            ("imported", Int),
            ("duplicates", Int),
            ("quarantined", Int),
            ("skipped_other_crime", Int),
        ],
    },
    Table {
        name: "historical_incidents",
        key: ID,
        columns: &[
            ("id", Int),
            ("key_hi", Int),
            ("key_lo", Int),
            ("import_id", Int),
            ("month", Text),
            ("force", Text),
            ("reported_by", Text),
            ("crime_type", Text),
            ("crime_id", Text),
            ("category", Text),
            ("lat", Real),
            ("lon", Real),
            ("location", Text),
            ("lsoa_code", Text),
            ("lsoa_name", Text),
            ("outcome", Text),
            ("context", Text),
            ("h3", Int),
            ("area_code", Text),
        ],
    },
    Table {
        name: "import_quarantine",
        key: ID,
        columns: &[
            ("id", Int),
            ("import_id", Int),
            ("source", Text),
            ("line", Int),
            ("reason", Text),
            ("raw", Text),
            ("quarantined_at", Time),
            ("resolved_at", Time),
        ],
    },
    Table {
        name: "lsoa_lookup",
        key: Key::InsertionOrder,
        columns: &[
            ("lsoa_code", Text),
            ("lsoa_name", Text),
            ("msoa_code", Text),
            ("msoa_name", Text),
            ("area_code", Text),
            ("area_name", Text),
        ],
    },
    Table {
        name: "area_boundaries",
        key: Key::InsertionOrder,
        columns: &[("code", Text), ("name", Text), ("kind", Text), ("geometry", Json), ("imported_at", Time)],
    },
];

#[derive(Debug, Clone)]
enum Val {
    Int(Option<i64>),
    Int32(Option<i32>),
    Real(Option<f64>),
    Text(Option<String>),
    Time(Option<Ts>),
    Bool(Option<bool>),
    Json(Option<Json>),
    Date(Option<NaiveDate>),
}

/// A page of rows: each row's key values (for the next page) and its column values.
type Page = Vec<(Vec<i64>, Vec<Val>)>;

fn decode_row<'r, R: Row>(row: &'r R, keys: usize, columns: &[(&str, Kind)]) -> Result<(Vec<i64>, Vec<Val>)>
where
    usize: sqlx::ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    i32: Decode<'r, R::Database> + Type<R::Database>,
    f64: Decode<'r, R::Database> + Type<R::Database>,
    String: Decode<'r, R::Database> + Type<R::Database>,
    Ts: Decode<'r, R::Database> + Type<R::Database>,
    bool: Decode<'r, R::Database> + Type<R::Database>,
    Json: Decode<'r, R::Database> + Type<R::Database>,
    NaiveDate: Decode<'r, R::Database> + Type<R::Database>,
{
    let key = (0..keys).map(|i| row.try_get::<i64, _>(i)).collect::<Result<Vec<_>, _>>()?;
    let mut vals = Vec::with_capacity(columns.len());
    for (i, (_, kind)) in columns.iter().enumerate() {
        let i = keys + i;
        vals.push(match kind {
            Int => Val::Int(row.try_get(i)?),
            Int32 => Val::Int32(row.try_get(i)?),
            Real => Val::Real(row.try_get(i)?),
            Text => Val::Text(row.try_get(i)?),
            Time => Val::Time(row.try_get(i)?),
            Bool => Val::Bool(row.try_get(i)?),
            Json => Val::Json(row.try_get(i)?),
            Date => Val::Date(row.try_get(i)?),
        });
    }
    Ok((key, vals))
}

fn key_columns(t: &Table, engine: Engine) -> Vec<String> {
    match t.key {
        Key::Columns(cols) => cols.iter().map(|c| format!("{}.{c}", t.name)).collect(),
        Key::InsertionOrder => vec![engine.insertion_order(t.name)],
    }
}

/// Rows after `after` (the last page's last key), in key order.
async fn read_page(db: &mut Db<'_>, t: &Table, after: Option<&[i64]>, limit: usize) -> Result<Page> {
    let keys = key_columns(t, db.engine());
    let cols: Vec<&str> = t.columns.iter().map(|c| c.0).collect();
    let key_values: Vec<String> =
        keys.iter().enumerate().map(|(i, k)| format!("CAST({k} AS BIGINT) AS key{i}")).collect();
    let mut sql = format!("SELECT {}, {} FROM {}", key_values.join(", "), cols.join(", "), t.name);
    if after.is_some() {
        let params: Vec<String> = (1..=keys.len()).map(|i| format!("${i}")).collect();
        sql.push_str(&format!(" WHERE ({}) > ({})", keys.join(", "), params.join(", ")));
    }
    sql.push_str(&format!(" ORDER BY {} LIMIT {limit}", keys.join(", ")));
    on!(db, c => {
        let mut q = sqlx::query(&sql);
        for k in after.unwrap_or_default() {
            q = q.bind(*k);
        }
        let rows = q.fetch_all(c).await?;
        rows.iter().map(|r| decode_row(r, keys.len(), t.columns)).collect()
    })
}

/// Push one value as a bind (a macro, so each engine's arm binds its own types).
macro_rules! push_val {
    ($s:expr, $v:expr) => {
        match $v {
            Val::Int(x) => $s.push_bind(*x),
            Val::Int32(x) => $s.push_bind(*x),
            Val::Real(x) => $s.push_bind(*x),
            Val::Text(x) => $s.push_bind(x.clone()),
            Val::Time(x) => $s.push_bind(*x),
            Val::Bool(x) => $s.push_bind(*x),
            Val::Json(x) => $s.push_bind(x.clone()),
            Val::Date(x) => $s.push_bind(*x),
        }
    };
}

/// Write a page: COPY on PostgreSQL (several times faster than multi-row INSERTs), multi-row
/// INSERTs on SQLite (inside one transaction they are as fast as SQLite writes).
async fn write_page(db: &mut Db<'_>, t: &Table, rows: &Page) -> Result<()> {
    let cols: Vec<&str> = t.columns.iter().map(|c| c.0).collect();
    match db {
        Db::Pg(c) => {
            let mut data = String::with_capacity(rows.len() * 16 * cols.len());
            for (_, vals) in rows {
                copy_row(&mut data, vals);
            }
            let mut copy = c.copy_in_raw(&format!("COPY {} ({}) FROM STDIN", t.name, cols.join(", "))).await?;
            copy.send(data.into_bytes()).await?;
            copy.finish().await?;
        }
        Db::Sqlite(c) => {
            let mut qb = QueryBuilder::new(format!("INSERT INTO {} ({}) ", t.name, cols.join(", ")));
            qb.push_values(rows, |mut s, (_, vals)| {
                for v in vals {
                    push_val!(s, v);
                }
            });
            qb.build().execute(&mut **c).await?;
        }
    }
    Ok(())
}

/// One row in COPY's text format: tab-separated, `\N` for NULL, backslash escapes.
fn copy_row(out: &mut String, vals: &[Val]) {
    use std::fmt::Write;
    for (i, v) in vals.iter().enumerate() {
        if i > 0 {
            out.push('\t');
        }
        // Writing to a String cannot fail.
        let _ = match v {
            Val::Int(Some(x)) => write!(out, "{x}"),
            Val::Int32(Some(x)) => write!(out, "{x}"),
            Val::Real(Some(x)) if x.is_nan() => write!(out, "NaN"),
            Val::Real(Some(x)) if x.is_infinite() => write!(out, "{}Infinity", if *x < 0.0 { "-" } else { "" }),
            Val::Real(Some(x)) => write!(out, "{x}"),
            Val::Text(Some(x)) => {
                escape(out, x);
                Ok(())
            }
            Val::Time(Some(x)) => write!(out, "{}", x.0.format("%Y-%m-%d %H:%M:%S%.f+00")),
            Val::Bool(Some(x)) => write!(out, "{}", if *x { 't' } else { 'f' }),
            Val::Json(Some(x)) => {
                escape(out, &x.0.to_string());
                Ok(())
            }
            Val::Date(Some(x)) => write!(out, "{}", x.format("%Y-%m-%d")),
            _ => write!(out, "\\N"),
        };
    }
    out.push('\n');
}

fn escape(out: &mut String, text: &str) {
    for ch in text.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
}

async fn count(db: &mut Db<'_>, table: &str) -> Result<i64> {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    Ok(on!(db, c => sqlx::query_scalar(&sql).fetch_one(c).await?))
}

async fn head(db: &mut Db<'_>) -> Result<(i64, String)> {
    let sql = "SELECT events, hash FROM audit_head WHERE id = 1";
    Ok(on!(db, c => sqlx::query_as(sql).fetch_one(c).await?))
}

#[derive(Debug, Clone, Serialize)]
pub struct TableCopy {
    pub table: &'static str,
    pub rows: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct CopyReport {
    pub from: Engine,
    pub to: Engine,
    pub tables: Vec<TableCopy>,
    pub audit_chain: ChainReport,
}

impl Store {
    /// Copy every row of this database into `target`, which must be empty, and verify the copy.
    /// `progress(table, rows_so_far)` is called after each page.
    pub async fn copy_into(&self, target: &Store, progress: &mut dyn FnMut(&str, i64)) -> Result<CopyReport> {
        let (from_v, to_v) = (self.schema_version().await?, target.schema_version().await?);
        if from_v != to_v {
            return Err(StoreError::Other(format!(
                "the source is at schema version {from_v} and the target at {to_v}: copy with the asb release that wrote the source, or upgrade both"
            )));
        }
        if let Err(broken) = self.verify_audit_chain().await? {
            return Err(StoreError::Other(format!("the source's audit chain is broken ({broken}); nothing copied")));
        }

        // One snapshot of the source, however long the copy takes.
        let mut src = self.current().await?;
        src.close_on_drop();
        let snapshot = match self.engine() {
            Engine::Sqlite => "BEGIN",
            Engine::Postgres => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
        };
        exec!(&mut src.db(), c => sqlx::raw_sql(snapshot).execute(c).await?);
        let src = &mut src.db();

        let mut tx = target.begin().await?;
        let dst = &mut tx.db();
        if let Db::Sqlite(c) = dst {
            // Checked at commit instead: a child may come before a parent with a higher id.
            sqlx::query("PRAGMA defer_foreign_keys = ON").execute(&mut **c).await?;
        }
        let mut occupied = Vec::new();
        for t in TABLES {
            if count(dst, t.name).await? > 0 {
                occupied.push(t.name);
            }
        }
        if !occupied.is_empty() || head(dst).await?.0 > 0 {
            return Err(StoreError::Other(format!(
                "the target database is not empty (rows in {}); migrate-data only writes into a new database",
                if occupied.is_empty() { "audit_head".to_string() } else { occupied.join(", ") }
            )));
        }

        let mut tables = Vec::new();
        for t in TABLES {
            // Pages as large as the parameter limit (32,000 on SQLite) allows.
            let limit = (30_000 / t.columns.len()).min(5_000);
            let (mut after, mut rows) = (None::<Vec<i64>>, 0i64);
            loop {
                let page = read_page(src, t, after.as_deref(), limit).await?;
                let Some(last) = page.last() else { break };
                after = Some(last.0.clone());
                write_page(dst, t, &page).await?;
                rows += page.len() as i64;
                progress(t.name, rows);
                if page.len() < limit {
                    break;
                }
            }
            let (had, has) = (count(src, t.name).await?, count(dst, t.name).await?);
            if had != rows || has != rows {
                return Err(StoreError::Other(format!(
                    "{}: the source has {had} rows, {rows} were read and the target has {has}; nothing copied",
                    t.name
                )));
            }
            tables.push(TableCopy { table: t.name, rows });
        }
        // The analysis counts are derived: counted again in the target, not copied.
        crate::analysis_counts::recount(dst).await?;
        let (events, hash) = head(src).await?;
        let sql = "UPDATE audit_head SET events = $1, hash = $2 WHERE id = 1";
        exec!(dst, c => sqlx::query(sql).bind(events).bind(&hash).execute(c).await?);
        sync_sequences(dst).await?;
        tx.commit().await?;

        // The chain must hold in the target, end to end, and end where the source's snapshot does.
        let source_chain = ChainReport { events, head: hash };
        match target.verify_audit_chain().await? {
            Ok(copied) if copied == source_chain => {}
            Ok(copied) => {
                return Err(StoreError::Other(format!(
                    "the copied audit chain ends at event {} ({}), the source's at {} ({})",
                    copied.events, copied.head, source_chain.events, source_chain.head
                )))
            }
            Err(broken) => return Err(StoreError::Other(format!("the copied audit chain is broken: {broken}"))),
        }
        Ok(CopyReport { from: self.engine(), to: target.engine(), tables, audit_chain: source_chain })
    }
}

#[cfg(test)]
mod tests {
    use super::{copy_row, Val};

    #[test]
    fn copy_rows_escape_what_copy_text_format_reads_specially() {
        let mut out = String::new();
        copy_row(
            &mut out,
            &[
                Val::Int(Some(7)),
                Val::Text(Some("two\tcolumns?\nno: one \\ row".into())),
                Val::Text(None),
                Val::Real(Some(-0.178)),
                Val::Bool(Some(true)),
                Val::Json(Some(sqlx::types::Json(serde_json::json!({"said": "line\nbreak"})))),
            ],
        );
        assert_eq!(out, "7\ttwo\\tcolumns?\\nno: one \\\\ row\t\\N\t-0.178\tt\t{\"said\":\"line\\\\nbreak\"}\n");
    }
}
