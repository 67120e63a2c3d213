//! Writes a realistic call-handler mix of first-contact-check request paths,
//! sampled from an asb SQLite database, one URL path per line.
//!
//! ```text
//! cargo run --release --example bench_queries -- --db DIR/asb.db --count 10000 --seed 42 --out paths.txt
//! ```
//!
//! Mix (exact proportions, shuffled): 40% phone only (UK national form with a
//! space, as a handler types it), 25% name + date of birth, 20% postcode +
//! address, 10% lat + lon of a place, 5% phone + name + dob + postcode +
//! address together.
//!
//! Rows are sampled by drawing a random rowid between min(rowid) and
//! max(rowid) and taking the first suitable row at or after it, so sampling
//! costs one index seek per query rather than a sort of the whole table.
//! The database is opened read-only.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::Parser;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use sqlx::sqlite::{SqliteConnectOptions, SqliteRow};
use sqlx::{ConnectOptions, Row, SqliteConnection};

#[derive(Parser, Debug)]
#[command(about = "Sample people and places from an asb database into first-contact-check query paths")]
struct Args {
    /// Path to the SQLite database (e.g. DATA_DIR/asb.db).
    #[arg(long)]
    db: PathBuf,
    /// Number of query paths to write.
    #[arg(long, default_value_t = 10_000)]
    count: usize,
    /// Random seed (same seed and database give the same output).
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Output file, one URL path per line.
    #[arg(long)]
    out: PathBuf,
    /// Endpoint path the query strings are appended to.
    #[arg(long, default_value = "/api/v1/first-contact-check")]
    endpoint: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Phone,
    NameDob,
    PostcodeAddress,
    LatLon,
    All,
}

impl Kind {
    const ALL: [(Kind, usize, &'static str); 5] = [
        (Kind::Phone, 40, "phone"),
        (Kind::NameDob, 25, "name+dob"),
        (Kind::PostcodeAddress, 20, "postcode+address"),
        (Kind::LatLon, 10, "lat+lon"),
        (Kind::All, 5, "all"),
    ];
}

/// Exact counts per kind for `n` queries; the rounding remainder goes to phone.
fn mix(n: usize) -> Vec<(Kind, usize, &'static str)> {
    let mut out: Vec<_> = Kind::ALL.iter().map(|&(k, pct, name)| (k, n * pct / 100, name)).collect();
    let assigned: usize = out.iter().map(|e| e.1).sum();
    out[0].1 += n - assigned;
    out
}

/// `+447700900123` -> `07700 900123`; `+442079460000` -> `020 7946 0000`.
/// Anything that is not a +44 number is returned trimmed but otherwise as stored.
fn national_phone(stored: &str) -> String {
    let s = stored.trim();
    let Some(rest) = s.strip_prefix("+44") else {
        return s.to_string();
    };
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    let nat = format!("0{digits}");
    if nat.len() != 11 {
        return nat;
    }
    if nat.starts_with("02") {
        format!("{} {} {}", &nat[..3], &nat[3..7], &nat[7..])
    } else {
        format!("{} {}", &nat[..5], &nat[5..])
    }
}

/// Percent-encodes a query component (RFC 3986 unreserved characters pass through).
fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 3 / 2);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

struct Sampler {
    conn: SqliteConnection,
    rng: ChaCha8Rng,
}

struct Table {
    name: &'static str,
    min: i64,
    max: i64,
}

impl Sampler {
    async fn table(&mut self, name: &'static str) -> Result<Option<Table>> {
        let row = sqlx::query(&format!("SELECT min(rowid), max(rowid) FROM {name}"))
            .fetch_one(&mut self.conn)
            .await
            .with_context(|| format!("reading the rowid range of table `{name}`"))?;
        let min: Option<i64> = row.try_get(0)?;
        let max: Option<i64> = row.try_get(1)?;
        Ok(match (min, max) {
            (Some(min), Some(max)) => Some(Table { name, min, max }),
            _ => None,
        })
    }

    /// One row of `table` whose `cols` are all non-NULL and non-empty,
    /// found at or after a random rowid (wrapping around to the start).
    async fn sample(&mut self, table: &Table, cols: &[&str]) -> Result<SqliteRow> {
        let select = cols.join(", ");
        let cond = cols.iter().map(|c| format!("{c} IS NOT NULL AND {c} <> ''")).collect::<Vec<_>>().join(" AND ");
        let start = self.rng.gen_range(table.min..=table.max);
        for op in [">=", "<"] {
            let sql =
                format!("SELECT {select} FROM {} WHERE rowid {op} ?1 AND {cond} ORDER BY rowid LIMIT 1", table.name);
            let row = sqlx::query(&sql)
                .bind(start)
                .fetch_optional(&mut self.conn)
                .await
                .with_context(|| format!("sampling from `{}`", table.name))?;
            if let Some(row) = row {
                return Ok(row);
            }
        }
        bail!("table `{}` has no row with all of {} set; cannot build this query kind", table.name, cols.join(", "))
    }
}

fn text(row: &SqliteRow, idx: usize) -> Result<String> {
    let v: String = row.try_get(idx).with_context(|| format!("column {idx} is not text"))?;
    Ok(v.trim().to_string())
}

fn real(row: &SqliteRow, idx: usize) -> Result<f64> {
    let v: f64 = row.try_get(idx).with_context(|| format!("column {idx} is not a number"))?;
    Ok(v)
}

fn query_string(pairs: &[(&str, String)]) -> String {
    pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join("&")
}

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bench_queries: error: starting the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_queries: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<()> {
    if args.count == 0 {
        bail!("--count must be at least 1");
    }
    if !args.endpoint.starts_with('/') {
        bail!("--endpoint must start with '/' (got {:?})", args.endpoint);
    }
    if !args.db.is_file() {
        bail!("database {} does not exist", args.db.display());
    }
    let started = Instant::now();
    let conn = SqliteConnectOptions::new()
        .filename(&args.db)
        .read_only(true)
        .connect()
        .await
        .with_context(|| format!("opening {} read-only", args.db.display()))?;
    let mut s = Sampler { conn, rng: ChaCha8Rng::seed_from_u64(args.seed) };
    let people = s.table("people").await?.context("table `people` is empty")?;
    let places = s.table("places").await?;

    let plan = mix(args.count);
    let mut kinds: Vec<Kind> = plan.iter().flat_map(|&(k, n, _)| std::iter::repeat_n(k, n)).collect();
    kinds.shuffle(&mut s.rng);

    let file = std::fs::File::create(&args.out).with_context(|| format!("creating {}", args.out.display()))?;
    let mut out = BufWriter::new(file);
    for kind in kinds {
        let pairs: Vec<(&str, String)> = match kind {
            Kind::Phone => {
                let r = s.sample(&people, &["phone"]).await?;
                vec![("phone", national_phone(&text(&r, 0)?))]
            }
            Kind::NameDob => {
                let r = s.sample(&people, &["name", "date_of_birth"]).await?;
                vec![("name", text(&r, 0)?), ("date_of_birth", text(&r, 1)?)]
            }
            Kind::PostcodeAddress => {
                // Half the time the caller's own address, half an incident location.
                let from_place = places.is_some() && s.rng.gen_bool(0.5);
                let r = match (&places, from_place) {
                    (Some(pl), true) => s.sample(pl, &["postcode", "address"]).await?,
                    _ => s.sample(&people, &["postcode", "address"]).await?,
                };
                vec![("postcode", text(&r, 0)?), ("address", text(&r, 1)?)]
            }
            Kind::LatLon => {
                let pl = places.as_ref().context("table `places` is empty; cannot build lat+lon queries")?;
                let r = s.sample(pl, &["lat", "lon"]).await?;
                vec![("lat", format!("{:.6}", real(&r, 0)?)), ("lon", format!("{:.6}", real(&r, 1)?))]
            }
            Kind::All => {
                let r = s.sample(&people, &["phone", "name", "date_of_birth", "postcode", "address"]).await?;
                vec![
                    ("phone", national_phone(&text(&r, 0)?)),
                    ("name", text(&r, 1)?),
                    ("date_of_birth", text(&r, 2)?),
                    ("postcode", text(&r, 3)?),
                    ("address", text(&r, 4)?),
                ]
            }
        };
        writeln!(out, "{}?{}", args.endpoint, query_string(&pairs))?;
    }
    out.flush().with_context(|| format!("writing {}", args.out.display()))?;

    let summary = plan.iter().map(|(_, n, name)| format!("{name} {n}")).collect::<Vec<_>>().join(", ");
    eprintln!(
        "bench_queries: wrote {} paths to {} in {:.2}s ({summary})",
        args.count,
        args.out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_forms() {
        assert_eq!(national_phone("+447700900123"), "07700 900123");
        assert_eq!(national_phone("+442079460000"), "020 7946 0000");
        assert_eq!(national_phone(" +441632960001 "), "01632 960001");
        assert_eq!(national_phone("+33123456789"), "+33123456789");
    }

    #[test]
    fn mix_is_exact() {
        let m = mix(10_000);
        let counts: Vec<usize> = m.iter().map(|e| e.1).collect();
        assert_eq!(counts, vec![4000, 2500, 2000, 1000, 500]);
        assert_eq!(mix(7).iter().map(|e| e.1).sum::<usize>(), 7);
    }

    #[test]
    fn encoding() {
        assert_eq!(encode("07700 900123"), "07700%20900123");
        assert_eq!(encode("O'Brien & Co"), "O%27Brien%20%26%20Co");
        assert_eq!(encode("+44"), "%2B44");
    }
}
