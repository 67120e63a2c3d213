//! The two engines behind one API. A query is written once, with `$n` placeholders (SQLite reads
//! `$n` as the n-th parameter too), and `on!` expands the code that runs it once per engine, so
//! the compiler checks every bind and every row type against both drivers. Where the engines'
//! SQL differs, `Engine` gives the fragment; where their types differ, the column types below
//! map one Rust value to each engine's proper type (epoch seconds on SQLite, `timestamptz` on
//! PostgreSQL; JSON text or `jsonb`; a JSON id list or an `int8[]`).

use chrono::{DateTime, SubsecRound, Utc};
use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArgumentBuffer, PgTypeInfo, PgValueRef};
use sqlx::sqlite::{SqliteArgumentValue, SqliteTypeInfo, SqliteValueRef};
use sqlx::{Decode, Encode, PgConnection, Postgres, Sqlite, SqliteConnection, Transaction, Type};

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn name(self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres => "postgres",
        }
    }

    /// A subquery of the ids in the `IdList` bound at `$n`.
    pub(crate) fn ids_in(self, n: usize) -> String {
        match self {
            Engine::Sqlite => format!("(SELECT value FROM json_each(${n}))"),
            Engine::Postgres => format!("(SELECT unnest(${n}::int8[]))"),
        }
    }

    /// The ids in the `IdList` bound at `$n` as a table `alias(value)`.
    pub(crate) fn ids_table(self, n: usize, alias: &str) -> String {
        match self {
            Engine::Sqlite => format!("json_each(${n}) AS {alias}"),
            Engine::Postgres => format!("unnest(${n}::int8[]) AS {alias}(value)"),
        }
    }

    /// SQLite's planner needs telling which index serves a query whose best plan depends on the
    /// data; PostgreSQL's statistics choose well on their own.
    pub(crate) fn indexed_by(self, index: &str) -> String {
        match self {
            Engine::Sqlite => format!("INDEXED BY {index}"),
            Engine::Postgres => String::new(),
        }
    }

    /// The calendar month (UTC) of the moment `expr`, as `YYYY-MM` text.
    pub(crate) fn month(self, expr: &str) -> String {
        match self {
            Engine::Sqlite => format!("strftime('%Y-%m', {expr}, 'unixepoch')"),
            Engine::Postgres => format!("to_char({expr} AT TIME ZONE 'UTC', 'YYYY-MM')"),
        }
    }

    /// The calendar month (UTC) of the moment `expr` as a number, `year * 100 + month`
    /// (`Month::number`).
    pub(crate) fn month_number(self, expr: &str) -> String {
        match self {
            Engine::Sqlite => format!("CAST(strftime('%Y%m', {expr}, 'unixepoch') AS INTEGER)"),
            Engine::Postgres => format!("CAST(to_char({expr} AT TIME ZONE 'UTC', 'YYYYMM') AS BIGINT)"),
        }
    }

    /// `AND {expr} < ${n}` on PostgreSQL, where the upper bound on an incident's receipt lets the
    /// planner prune later years' partitions before the statement runs; on SQLite (no partitions)
    /// a no-op, since its planner would take the bound as a reason to read incidents by time.
    pub(crate) fn received_before(self, expr: &str, n: usize) -> String {
        match self {
            Engine::Sqlite => format!("AND ${n} IS NOT NULL"),
            Engine::Postgres => format!("AND {expr} < ${n}"),
        }
    }

    /// The moment `expr` as whole seconds since the epoch (a BIGINT), for arithmetic on times.
    pub(crate) fn epoch(self, expr: &str) -> String {
        match self {
            Engine::Sqlite => format!("({expr})"),
            Engine::Postgres => format!("CAST(EXTRACT(EPOCH FROM {expr}) AS BIGINT)"),
        }
    }

    /// How many keys the JSON object `expr` holds.
    pub(crate) fn json_keys(self, expr: &str) -> String {
        match self {
            Engine::Sqlite => format!("(SELECT COUNT(*) FROM json_each({expr}))"),
            Engine::Postgres => format!("(SELECT COUNT(*) FROM jsonb_object_keys({expr}))"),
        }
    }

    /// The column that keeps insertion order in a table without an id of its own.
    pub(crate) fn insertion_order(self, alias: &str) -> String {
        match self {
            Engine::Sqlite => format!("{alias}.rowid"),
            Engine::Postgres => format!("{alias}.id"),
        }
    }
}

/// A connection (or transaction) on either engine.
pub enum Db<'c> {
    Sqlite(&'c mut SqliteConnection),
    Pg(&'c mut PgConnection),
}

impl Db<'_> {
    pub fn engine(&self) -> Engine {
        match self {
            Db::Sqlite(_) => Engine::Sqlite,
            Db::Pg(_) => Engine::Postgres,
        }
    }
}

/// Run `$body` with `$c` bound to the engine's own connection (`&mut SqliteConnection` or
/// `&mut PgConnection`). The body is compiled for each engine.
macro_rules! on {
    ($db:expr, $c:ident => $body:expr) => {
        match $db {
            $crate::engine::Db::Sqlite(conn) => {
                let $c: &mut sqlx::SqliteConnection = &mut **conn;
                $body
            }
            $crate::engine::Db::Pg(conn) => {
                let $c: &mut sqlx::PgConnection = &mut **conn;
                $body
            }
        }
    };
}
pub(crate) use on;

/// `on!` for statements run for their effect: the engines' results differ, and are dropped.
macro_rules! exec {
    ($db:expr, $c:ident => $body:expr) => {
        $crate::engine::on!($db, $c => {
            $body;
        })
    };
}
pub(crate) use exec;

/// A pooled connection on either engine.
pub enum Pooled {
    Sqlite(PoolConnection<Sqlite>),
    Pg(PoolConnection<Postgres>),
}

impl Pooled {
    /// Close the connection when dropped instead of returning it to the pool (after raw
    /// transaction statements the pool does not know about).
    pub fn close_on_drop(&mut self) {
        match self {
            Pooled::Sqlite(c) => c.close_on_drop(),
            Pooled::Pg(c) => c.close_on_drop(),
        }
    }

    pub fn db(&mut self) -> Db<'_> {
        match self {
            Pooled::Sqlite(c) => Db::Sqlite(c),
            Pooled::Pg(c) => Db::Pg(c),
        }
    }

    /// Whether the connection still answers (a round trip).
    pub async fn answers(&mut self) -> bool {
        use sqlx::Connection;
        match self {
            Pooled::Sqlite(c) => c.ping().await.is_ok(),
            Pooled::Pg(c) => c.ping().await.is_ok(),
        }
    }
}

/// A transaction on either engine; dropped without `commit`, it rolls back.
pub enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Pg(Transaction<'static, Postgres>),
}

impl Tx {
    pub fn db(&mut self) -> Db<'_> {
        match self {
            Tx::Sqlite(t) => Db::Sqlite(t),
            Tx::Pg(t) => Db::Pg(t),
        }
    }

    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Pg(t) => t.commit().await,
        }
    }
}

/// A moment: whole seconds since the epoch on SQLite, `timestamptz` on PostgreSQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Ts(pub DateTime<Utc>);

impl Ts {
    pub fn secs(secs: i64) -> Ts {
        Ts(DateTime::from_timestamp(secs, 0).unwrap_or_default())
    }
}

impl From<DateTime<Utc>> for Ts {
    fn from(t: DateTime<Utc>) -> Ts {
        Ts(t)
    }
}

impl Type<Sqlite> for Ts {
    fn type_info() -> SqliteTypeInfo {
        <i64 as Type<Sqlite>>::type_info()
    }
    fn compatible(ty: &SqliteTypeInfo) -> bool {
        <i64 as Type<Sqlite>>::compatible(ty)
    }
}

impl<'q> Encode<'q, Sqlite> for Ts {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        <i64 as Encode<'q, Sqlite>>::encode(self.0.timestamp(), buf)
    }
}

impl<'r> Decode<'r, Sqlite> for Ts {
    fn decode(value: SqliteValueRef<'r>) -> Result<Ts, BoxDynError> {
        let secs = <i64 as Decode<'r, Sqlite>>::decode(value)?;
        DateTime::from_timestamp(secs, 0).map(Ts).ok_or_else(|| format!("time out of range: {secs}").into())
    }
}

impl Type<Postgres> for Ts {
    fn type_info() -> PgTypeInfo {
        <DateTime<Utc> as Type<Postgres>>::type_info()
    }
    fn compatible(ty: &PgTypeInfo) -> bool {
        <DateTime<Utc> as Type<Postgres>>::compatible(ty)
    }
}

impl Encode<'_, Postgres> for Ts {
    /// Whole seconds, as on SQLite, so both engines hold (and compare) the same moments.
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <DateTime<Utc> as Encode<Postgres>>::encode_by_ref(&self.0.trunc_subsecs(0), buf)
    }
}

impl<'r> Decode<'r, Postgres> for Ts {
    fn decode(value: PgValueRef<'r>) -> Result<Ts, BoxDynError> {
        <DateTime<Utc> as Decode<'r, Postgres>>::decode(value).map(Ts)
    }
}

/// A list of ids bound as one parameter, so a statement's text does not depend on how many
/// there are (and each connection prepares it once): JSON text read with `json_each` on SQLite,
/// an `int8[]` on PostgreSQL.
#[derive(Debug, Clone)]
pub struct IdList(pub Vec<i64>);

impl IdList {
    pub fn new(ids: impl IntoIterator<Item = i64>) -> IdList {
        IdList(ids.into_iter().collect())
    }
}

impl Type<Sqlite> for IdList {
    fn type_info() -> SqliteTypeInfo {
        <String as Type<Sqlite>>::type_info()
    }
}

impl<'q> Encode<'q, Sqlite> for IdList {
    fn encode_by_ref(&self, buf: &mut Vec<SqliteArgumentValue<'q>>) -> Result<IsNull, BoxDynError> {
        let list: Vec<String> = self.0.iter().map(|i| i.to_string()).collect();
        <String as Encode<'q, Sqlite>>::encode(format!("[{}]", list.join(",")), buf)
    }
}

impl Type<Postgres> for IdList {
    fn type_info() -> PgTypeInfo {
        <Vec<i64> as Type<Postgres>>::type_info()
    }
}

impl Encode<'_, Postgres> for IdList {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        <Vec<i64> as Encode<Postgres>>::encode_by_ref(&self.0, buf)
    }
}

/// JSON: text on SQLite, `jsonb` on PostgreSQL.
pub type Json = sqlx::types::Json<serde_json::Value>;
