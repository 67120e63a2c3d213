//! `asb import police-uk|lookups|boundaries`, the quarantine, and `asb report monthly`: reading
//! published files (single CSVs, folders, and police.uk's monthly archive zips), placing each
//! row in its area, and handing each file to the store to keep in one transaction.

use anyhow::{bail, Context, Result};
use asb_domain::areas::{self, AreaIndex};
use asb_domain::boroughs;
use asb_domain::matching::{to_i64, GeoPoint};
use asb_domain::police_uk::{self, Layout, StreetRow};
use asb_store::{BadRow, HistoricalRow, LsoaArea, Store};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// Bad rows printed on the terminal; the rest are listed by `asb import quarantine`.
const SHOWN_BAD_ROWS: usize = 20;

/// One file to read: on disk, or a member of a zip archive.
enum Input {
    File(PathBuf),
    Zipped(PathBuf, usize),
}

struct Found {
    input: Input,
    /// How the file is named in messages and in the record of imports.
    name: String,
    size: u64,
    /// Named on the command line (a wrong header is then an error, not a skip).
    explicit: bool,
}

/// Every CSV under the paths given: files as named, folders walked (sorted), zip members.
fn find_inputs(paths: &[PathBuf]) -> Result<Vec<Found>> {
    let mut out = Vec::new();
    for p in paths {
        let meta = std::fs::metadata(p).with_context(|| format!("{}: cannot read", p.display()))?;
        if meta.is_dir() {
            walk(p, &mut out)?;
        } else {
            add_file(p, meta.len(), true, &mut out)?;
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<Found>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("{}: cannot list", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    entries.sort();
    for p in entries {
        let meta = std::fs::metadata(&p)?;
        if meta.is_dir() {
            walk(&p, out)?;
        } else if has_ext(&p, "csv") || has_ext(&p, "zip") {
            add_file(&p, meta.len(), false, out)?;
        }
    }
    Ok(())
}

fn has_ext(p: &Path, ext: &str) -> bool {
    p.extension().is_some_and(|e| e.eq_ignore_ascii_case(ext))
}

fn add_file(p: &Path, size: u64, explicit: bool, out: &mut Vec<Found>) -> Result<()> {
    if !has_ext(p, "zip") {
        out.push(Found { input: Input::File(p.to_path_buf()), name: p.display().to_string(), size, explicit });
        return Ok(());
    }
    let file = std::fs::File::open(p).with_context(|| format!("{}: cannot open", p.display()))?;
    let mut zip = zip::ZipArchive::new(file).with_context(|| format!("{}: not a readable zip archive", p.display()))?;
    for i in 0..zip.len() {
        let m = zip.by_index(i).with_context(|| format!("{}: member {i} cannot be read", p.display()))?;
        if m.is_file() && m.name().to_ascii_lowercase().ends_with(".csv") {
            let name = format!("{}:{}", p.display(), m.name());
            out.push(Found { input: Input::Zipped(p.to_path_buf(), i), name, size: m.size(), explicit: false });
        }
    }
    Ok(())
}

fn read_input(f: &Found) -> Result<Vec<u8>> {
    match &f.input {
        Input::File(p) => std::fs::read(p).with_context(|| format!("{}: cannot read", f.name)),
        Input::Zipped(p, i) => {
            let mut zip = zip::ZipArchive::new(std::fs::File::open(p)?)?;
            let mut m = zip.by_index(*i)?;
            let mut bytes = Vec::with_capacity(m.size() as usize);
            m.read_to_end(&mut bytes).with_context(|| format!("{}: cannot unzip", f.name))?;
            Ok(bytes)
        }
    }
}

/// Places a record in its local authority district: by LSOA lookup, else by imported boundary,
/// else (with no boundaries imported) the nearest of the London borough centres asb holds, when
/// one is near enough to be London.
pub struct Placer {
    lsoa: HashMap<String, String>,
    areas: Arc<AreaIndex>,
}

/// Farther than this from every borough centre is not London.
const NEAREST_CENTRE_M: f64 = 8_000.0;

impl Placer {
    pub async fn load(store: &Store) -> Result<Placer> {
        Ok(Placer { lsoa: store.lsoa_areas().await?, areas: store.area_index().await? })
    }

    pub fn place(&self, lsoa: Option<&str>, point: Option<(f64, f64)>) -> Option<String> {
        if let Some(a) = lsoa.and_then(|l| self.lsoa.get(l)) {
            return Some(a.clone());
        }
        let (lat, lon) = point?;
        if !self.areas.is_empty() {
            return self.areas.locate(lat, lon).map(|a| a.code.clone());
        }
        let b = boroughs::nearest(lat, lon);
        let here = GeoPoint::new(lat, lon).ok()?;
        let centre = GeoPoint::new(b.lat, b.lon).ok()?;
        (here.distance_m(&centre) <= NEAREST_CENTRE_M).then(|| b.ons_code.to_string())
    }
}

/// Whether a record lies outside its force's area, for the forces whose area asb knows (the
/// two London forces: London's 33 local authorities). police.uk files list a few such rows
/// under the force that recorded them; they are kept and counted.
fn outside_force_area(row: &StreetRow<'_>) -> bool {
    let london = matches!(row.falls_within, "Metropolitan Police Service" | "City of London Police");
    // An LSOA name is its district's name and a code: "Arun 001A".
    let district = row.lsoa_name.and_then(|n| n.rsplit_once(' ')).map(|(d, _)| d);
    london && district.is_some_and(|d| d != "City of London" && !boroughs::MPS_BOROUGHS.iter().any(|b| b.name == d))
}

/// One file read: the rows to keep, the bad rows, and what was counted on the way.
#[derive(Default)]
struct FileRows {
    rows: Vec<HistoricalRow>,
    bad: Vec<BadRow>,
    rows_read: i64,
    skipped_other_crime: i64,
    no_location: i64,
    btp: i64,
    outside_force_area: i64,
}

/// Read a street-level file; `Err` when it is not one (its header names what is missing).
fn read_street_file(bytes: &[u8], all_crime: bool, placer: &Placer) -> std::result::Result<FileRows, String> {
    let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(bytes);
    let mut rec = csv::ByteRecord::new();
    let mut out = FileRows::default();
    let header_ok = rdr.read_byte_record(&mut rec).map_err(|e| format!("line 1: {e}"))?;
    if !header_ok {
        return Err("the file is empty".into());
    }
    let header: Vec<&str> = rec.iter().map(|f| std::str::from_utf8(f).unwrap_or("")).collect();
    let layout = Layout::from_header(header)?;
    let mut seen: HashMap<(i64, i64), u32> = HashMap::new();
    loop {
        let (line, from) = row_start(bytes, rdr.position());
        match rdr.read_byte_record(&mut rec) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // The csv reader stops at bytes it cannot split into fields; the rest of the file
                // is one bad row, so nothing is dropped unseen.
                out.rows_read += 1;
                out.bad.push(BadRow { line, reason: format!("unreadable CSV: {e}"), raw: text(&bytes[from..]) });
                break;
            }
        }
        out.rows_read += 1;
        if !all_crime && rec.len() == layout.width() && layout.is_other_crime(&rec[layout.crime_type_at()]) {
            out.skipped_other_crime += 1;
            continue;
        }
        let end = (rdr.position().byte() as usize).min(bytes.len());
        let raw = || text(&bytes[from.min(end)..end]).trim_end_matches(['\r', '\n']).to_string();
        let fields: std::result::Result<Vec<&str>, _> = rec.iter().map(std::str::from_utf8).collect();
        let Ok(fields) = fields else {
            out.bad.push(BadRow { line, reason: NOT_UTF8.into(), raw: raw() });
            continue;
        };
        if fields.iter().any(|f| f.contains('\0')) {
            out.bad.push(BadRow { line, reason: "contains a NUL byte".into(), raw: raw() });
            continue;
        }
        let row = match layout.parse(&fields) {
            Ok(r) => r,
            Err(reason) => {
                out.bad.push(BadRow { line, reason, raw: raw() });
                continue;
            }
        };
        let base = row.key("");
        let n = seen.entry(base).or_insert(0);
        let key = row.key(&n.to_string());
        *n += 1;
        out.no_location += i64::from(row.point.is_none());
        out.btp += i64::from(row.is_btp());
        out.outside_force_area += i64::from(outside_force_area(&row));
        out.rows.push(historical(&row, key, placer));
    }
    Ok(out)
}

const NOT_UTF8: &str = "not valid UTF-8 text";

/// The line and byte at which the next row starts. After a CRLF row the reader stands on its
/// `\n`, one line early; blank lines are skipped the same way the reader skips them.
fn row_start(bytes: &[u8], at: &csv::Position) -> (i64, usize) {
    let (mut line, mut b) = (at.line() as i64, at.byte() as usize);
    while let Some(c) = bytes.get(b).filter(|c| matches!(c, b'\r' | b'\n')) {
        line += i64::from(*c == b'\n');
        b += 1;
    }
    (line, b)
}

/// A bad row's text as kept in the quarantine: what cannot be shown as text (bytes that are not
/// UTF-8, a NUL, which PostgreSQL's text cannot hold) as U+FFFD.
fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\0', "\u{fffd}")
}

fn historical(row: &StreetRow<'_>, key: (i64, i64), placer: &Placer) -> HistoricalRow {
    let s = |v: Option<&str>| v.map(str::to_string);
    // The cell at the resolution places use (11), so hotspots can group by any coarser one.
    let h3 = row.point.and_then(|(lat, lon)| GeoPoint::new(lat, lon).ok()).map(|p| to_i64(p.cell()));
    HistoricalRow {
        key,
        month: row.month.to_string(),
        force: row.falls_within.to_string(),
        reported_by: row.reported_by.to_string(),
        crime_type: row.crime_type.to_string(),
        crime_id: s(row.crime_id),
        category: None,
        lat: row.point.map(|p| p.0),
        lon: row.point.map(|p| p.1),
        location: s(row.location),
        lsoa_code: s(row.lsoa_code),
        lsoa_name: s(row.lsoa_name),
        outcome: s(row.outcome),
        context: s(row.context),
        h3,
        area_code: placer.place(row.lsoa_code, row.point),
    }
}

/// The whole import's counts.
#[derive(Default, serde::Serialize)]
pub struct Summary {
    pub files: usize,
    pub rows_read: i64,
    pub imported: i64,
    pub duplicates: i64,
    pub quarantined: i64,
    pub skipped_other_crime: i64,
    pub no_location: i64,
    pub british_transport_police: i64,
    pub outside_force_area: i64,
    pub seconds: f64,
    pub rows_per_second: f64,
    /// Files found that are not street-level files (outcomes, stop and search), not read.
    pub skipped_files: Vec<String>,
    /// Files named on the command line that could not be read as street-level files.
    pub errors: Vec<String>,
    pub by_force_month: Vec<ForceMonth>,
}

#[derive(serde::Serialize)]
pub struct ForceMonth {
    pub force: String,
    pub month: String,
    /// Rows kept from the files (ASB, or every crime type with --all-crime).
    pub rows: i64,
    pub imported: i64,
}

pub async fn police_uk(store: &Store, paths: &[PathBuf], all_crime: bool, json: bool) -> Result<Summary> {
    let started = Instant::now();
    let inputs = find_inputs(paths)?;
    if inputs.is_empty() {
        bail!(
            "no CSV files or zip archives under {}",
            paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        );
    }
    let placer = Arc::new(Placer::load(store).await?);
    let inputs = Arc::new(inputs);
    // Two cores: the next file is read and parsed while this one is written.
    let parse = |i: usize| {
        let (inputs, placer) = (Arc::clone(&inputs), Arc::clone(&placer));
        tokio::task::spawn_blocking(move || -> Result<std::result::Result<FileRows, String>> {
            let bytes = read_input(&inputs[i])?;
            Ok(read_street_file(&bytes, all_crime, &placer))
        })
    };
    let mut next = Some(parse(0));
    let bar = ProgressBar::new(inputs.iter().map(|f| f.size).sum());
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut sum = Summary::default();
    let mut months: BTreeMap<(String, String), (i64, i64)> = BTreeMap::new();
    let mut bad_shown = 0;
    for (i, f) in inputs.iter().enumerate() {
        bar.set_message(f.name.rsplit('/').next().unwrap_or(&f.name).to_string());
        let Some(this) = next.take() else { break };
        let parsed = this.await??;
        if i + 1 < inputs.len() {
            next = Some(parse(i + 1));
        }
        let read = match parsed {
            Ok(r) => r,
            Err(why) if f.explicit => {
                sum.errors.push(format!("{}:1: {why}", f.name));
                bar.inc(f.size);
                continue;
            }
            Err(why) => {
                sum.skipped_files.push(format!("{}: {why}", f.name));
                bar.inc(f.size);
                continue;
            }
        };
        let done = store
            .import_police_uk_file(
                &f.name,
                &read.rows,
                &read.bad,
                read.rows_read,
                read.skipped_other_crime,
                chrono::Utc::now(),
            )
            .await
            .with_context(|| format!("{}: nothing from this file was kept", f.name))?;
        for b in &read.bad {
            if bad_shown < SHOWN_BAD_ROWS {
                bar.suspend(|| eprintln!("{}:{}: {} (quarantined)", f.name, b.line, b.reason));
            }
            bad_shown += 1;
        }
        sum.files += 1;
        sum.rows_read += done.rows_read;
        sum.imported += done.imported;
        sum.duplicates += done.duplicates;
        sum.quarantined += done.quarantined;
        sum.skipped_other_crime += done.skipped_other_crime;
        sum.no_location += read.no_location;
        sum.british_transport_police += read.btp;
        sum.outside_force_area += read.outside_force_area;
        for (k, (rows, imported)) in done.by_force_month {
            let e = months.entry(k).or_default();
            e.0 += rows;
            e.1 += imported;
        }
        bar.inc(f.size);
    }
    bar.finish_and_clear();
    if bad_shown > SHOWN_BAD_ROWS {
        eprintln!("… and {} more bad rows: list them with `asb import quarantine`", bad_shown - SHOWN_BAD_ROWS);
    }
    sum.seconds = started.elapsed().as_secs_f64();
    sum.rows_per_second = sum.rows_read as f64 / sum.seconds.max(1e-9);
    sum.by_force_month = months
        .into_iter()
        .map(|((force, month), (rows, imported))| ForceMonth { force, month, rows, imported })
        .collect();
    if json {
        println!("{}", serde_json::to_string(&sum)?);
        for e in &sum.errors {
            eprintln!("{e}");
        }
    } else {
        print_summary(&sum);
    }
    Ok(sum)
}

fn print_summary(s: &Summary) {
    println!(
        "police.uk import: {} file(s), {} rows read in {:.2} s ({:.0} rows/s)",
        s.files, s.rows_read, s.seconds, s.rows_per_second
    );
    for (what, n) in [
        ("imported", s.imported),
        ("duplicates (already kept)", s.duplicates),
        ("quarantined", s.quarantined),
        ("skipped: other crime types", s.skipped_other_crime),
        ("of those kept: no location", s.no_location),
        ("of those kept: British Transport Police", s.british_transport_police),
        ("of those kept: outside the force area", s.outside_force_area),
    ] {
        println!("  {what:<42} {n:>10}");
    }
    if !s.by_force_month.is_empty() {
        println!("\n  {:<34} {:<8} {:>10} {:>10}", "force", "month", "rows", "imported");
        for m in &s.by_force_month {
            println!("  {:<34} {:<8} {:>10} {:>10}", m.force, m.month, m.rows, m.imported);
        }
    }
    for f in &s.skipped_files {
        println!("skipped {f}");
    }
    for e in &s.errors {
        eprintln!("{e}");
    }
}

/// List the quarantine.
pub async fn quarantine_list(store: &Store, json: bool) -> Result<()> {
    let rows = store.quarantined(&[]).await?;
    if json {
        println!("{}", serde_json::to_string(&rows)?);
        return Ok(());
    }
    if rows.is_empty() {
        println!("the quarantine is empty");
    }
    for q in rows {
        println!("#{} {}:{}: {}\n    {}", q.id, q.source, q.line, q.reason, q.raw);
    }
    Ok(())
}

/// Read quarantined rows again (all, or those named), optionally with corrected text for one;
/// those that now read are kept and leave the quarantine.
pub async fn quarantine_retry(store: &Store, ids: &[i64], row: Option<&str>) -> Result<(usize, usize)> {
    if row.is_some() && ids.len() != 1 {
        bail!("--row replaces one quarantined row: name exactly one id");
    }
    let rows = store.quarantined(ids).await?;
    if let Some(missing) = ids.iter().find(|id| !rows.iter().any(|q| q.id == **id)) {
        bail!("#{missing} is not in the quarantine (list it with `asb import quarantine`)");
    }
    let placer = Placer::load(store).await?;
    let (mut kept, mut still) = (0, 0);
    for q in rows {
        if row.is_none() && (q.reason == NOT_UTF8 || q.raw.contains('\u{fffd}')) {
            // The kept text stands in for bytes that were lost; only a correction can be kept.
            println!(
                "#{} {}:{}: still quarantined: {} (give the corrected row with --row)",
                q.id, q.source, q.line, q.reason
            );
            still += 1;
            continue;
        }
        let raw = row.map_or(q.raw.clone(), str::to_string);
        let mut rdr = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(raw.as_bytes());
        let mut rec = csv::StringRecord::new();
        let parsed = match rdr.read_record(&mut rec) {
            Ok(true) => {
                let fields: Vec<&str> = rec.iter().collect();
                Layout::standard()
                    .parse(&fields)
                    .map(|r| historical(&r, r.key(&format!("{}:{}", q.source, q.line)), &placer))
            }
            Ok(false) => Err("the row is empty".to_string()),
            Err(e) => Err(format!("unreadable CSV: {e}")),
        };
        match parsed {
            Ok(h) => {
                store.resolve_quarantined(q.id, &h).await?;
                println!("#{} {}:{}: kept", q.id, q.source, q.line);
                kept += 1;
            }
            Err(reason) => {
                let reason = if row.is_some() { format!("the correction: {reason}") } else { reason };
                store.requarantine(q.id, &reason).await?;
                println!("#{} {}:{}: still quarantined: {reason}", q.id, q.source, q.line);
                still += 1;
            }
        }
    }
    Ok((kept, still))
}

/// `asb report monthly --force NAME`: published ASB records per month.
pub async fn report_monthly(store: &Store, force: &str, json: bool) -> Result<()> {
    let months = store.published_monthly(force, police_uk::ASB).await?;
    if months.is_empty() {
        let known = store.published_forces().await?;
        let names: Vec<&str> = known.iter().map(|(f, _)| f.as_str()).collect();
        bail!(
            "no published ASB records for {force:?}; forces with records: {} (the name as the files write it in `Falls within`)",
            if names.is_empty() { "none yet — import some with `asb import police-uk`".to_string() } else { names.join(", ") }
        );
    }
    if json {
        let list: Vec<_> = months.iter().map(|(m, n)| serde_json::json!({"month": m, "asb": n})).collect();
        println!("{}", serde_json::Value::Array(list));
    } else {
        println!("{force}: published ASB records by month\n  month       asb");
        for (m, n) in &months {
            println!("  {m}  {n:>8}");
        }
        println!("  total    {:>8}", months.iter().map(|m| m.1).sum::<i64>());
    }
    Ok(())
}

/// `asb import lookups PATH`: an LSOA → (MSOA →) local authority lookup CSV, whose columns are
/// found by ONS's names (LSOA11CD, LSOA21NM, MSOA11CD, LAD22CD, LAD17NM, …). A file with any bad
/// row is refused whole, each bad row named.
pub fn read_lookups(path: &Path) -> Result<Vec<LsoaArea>> {
    let name = path.display();
    let mut rdr =
        csv::ReaderBuilder::new().flexible(true).from_path(path).with_context(|| format!("{name}: cannot read"))?;
    let header: Vec<String> =
        rdr.headers().with_context(|| format!("{name}:1: no header"))?.iter().map(str::to_ascii_lowercase).collect();
    let find = |prefix: &str, suffix: &str| {
        header
            .iter()
            .position(|h| h.starts_with(prefix) && h.ends_with(suffix) && h.len() == prefix.len() + 2 + suffix.len())
    };
    let (Some(lsoa), Some(area), Some(area_name)) = (find("lsoa", "cd"), find("lad", "cd"), find("lad", "nm")) else {
        bail!("{name}:1: a lookup needs LSOA code, local authority code and name columns (such as LSOA11CD, LAD22CD, LAD22NM); found {}", header.join(", "));
    };
    let (lsoa_name, msoa, msoa_name) = (find("lsoa", "nm"), find("msoa", "cd"), find("msoa", "nm"));
    let mut out = Vec::new();
    let mut bad = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = i + 2;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                bad.push(format!("{name}:{line}: {e}"));
                continue;
            }
        };
        let get =
            |c: Option<usize>| c.and_then(|c| rec.get(c)).map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        match (get(Some(lsoa)), get(Some(area)), get(Some(area_name))) {
            (Some(l), Some(a), Some(an)) => out.push(LsoaArea {
                lsoa_code: l,
                lsoa_name: get(lsoa_name),
                msoa_code: get(msoa),
                msoa_name: get(msoa_name),
                area_code: a,
                area_name: an,
            }),
            _ => bad.push(format!("{name}:{line}: the LSOA code, local authority code or name is blank")),
        }
    }
    if !bad.is_empty() {
        let more = if bad.len() > SHOWN_BAD_ROWS {
            format!("\n… and {} more", bad.len() - SHOWN_BAD_ROWS)
        } else {
            String::new()
        };
        bail!("nothing imported: {} bad row(s)\n{}{more}", bad.len(), bad[..bad.len().min(SHOWN_BAD_ROWS)].join("\n"));
    }
    Ok(out)
}

/// `asb import boundaries PATH`: the areas of a GeoJSON file, checked, with each geometry as given.
pub fn read_boundaries(path: &Path) -> Result<Vec<(String, String, serde_json::Value)>> {
    let name = path.display();
    let text = std::fs::read_to_string(path).with_context(|| format!("{name}: cannot read"))?;
    let parsed = areas::parse_geojson(&text, None, None).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let doc: serde_json::Value = serde_json::from_str(&text)?;
    let features = doc["features"].as_array().cloned().unwrap_or_default();
    Ok(parsed.into_iter().zip(features).map(|(a, f)| (a.code.clone(), a.name.clone(), f["geometry"].clone())).collect())
}
