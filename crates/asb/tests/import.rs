//! `asb import police-uk|lookups|boundaries`, the quarantine and `asb report monthly`, run as the
//! binary. Each test has a database of its own: a new database on the PostgreSQL server that
//! ASB_TEST_DATABASE_URL names, else a SQLite data folder in a temporary directory.

use serde_json::{json, Value};
use sqlx::Connection;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const HEADER: &str = "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,\
                      Crime type,Last outcome category,Context";
const MET: &str = "Metropolitan Police Service";

/// A test's own database, and a temporary folder for its files.
struct Db {
    dir: tempfile::TempDir,
    /// `--database URL` or `--data-dir DIR`.
    flags: [String; 2],
    /// For reading the tables directly.
    url: String,
}

impl Db {
    fn new(name: &str) -> Db {
        let dir = tempfile::tempdir().unwrap();
        match std::env::var("ASB_TEST_DATABASE_URL") {
            Ok(server) if !server.is_empty() => {
                let url = asb_store::scratch::with_database(
                    &server,
                    &format!("asb_test_import_{name}_{}", std::process::id()),
                );
                Db { dir, flags: ["--database".into(), url.clone()], url }
            }
            _ => {
                let required = std::env::var("ASB_REQUIRE_POSTGRES").is_ok_and(|v| v == "1");
                assert!(!required, "ASB_REQUIRE_POSTGRES=1 but ASB_TEST_DATABASE_URL names no PostgreSQL server");
                let data = dir.path().join("data");
                let url = format!("sqlite://{}", data.join("asb.db").display());
                Db { flags: ["--data-dir".into(), data.display().to_string()], url, dir }
            }
        }
    }

    /// A file of this test's, written with the bytes given.
    fn file(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
        path
    }

    /// `asb ARGS… <this database>`.
    fn run(&self, args: &[&str]) -> Output {
        self.run_in(None, args)
    }

    fn run_in(&self, cwd: Option<&Path>, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_asb"));
        cmd.args(args)
            .args(&self.flags)
            .env_remove("ASB_DATABASE_URL")
            .env_remove("ASB_DATA_DIR")
            .env("ASB_LOG", "error");
        if let Some(cwd) = cwd {
            cmd.current_dir(cwd);
        }
        cmd.output().expect("asb runs")
    }

    /// `asb import police-uk PATHS… --json`, which must succeed: its summary.
    fn import(&self, paths: &[&Path]) -> (Value, String) {
        let mut args = vec!["import", "police-uk", "--json"];
        let paths: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        args.extend(paths.iter().map(String::as_str));
        let out = self.run(&args);
        assert!(out.status.success(), "import police-uk {paths:?}: {}", text(&out.stderr));
        (serde_json::from_slice(&out.stdout).expect("--json prints one JSON object"), text(&out.stderr))
    }

    /// `asb import quarantine --json`: the open quarantine.
    fn quarantine(&self) -> Vec<Value> {
        let out = self.run(&["import", "quarantine", "--json"]);
        assert!(out.status.success(), "import quarantine: {}", text(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).expect("a JSON list").as_array().unwrap().clone()
    }

    /// `asb import quarantine <this database> retry ARGS…` (the database is named before `retry`).
    fn retry(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_asb"))
            .args(["import", "quarantine"])
            .args(&self.flags)
            .arg("retry")
            .args(args)
            .env_remove("ASB_DATABASE_URL")
            .env_remove("ASB_DATA_DIR")
            .env("ASB_LOG", "error")
            .output()
            .expect("asb runs")
    }

    /// `asb report monthly --force FORCE --json`, which must succeed.
    fn monthly(&self, force: &str) -> Value {
        let out = self.run(&["report", "monthly", "--force", force, "--json"]);
        assert!(out.status.success(), "report monthly {force}: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("--json prints a JSON list")
    }

    /// Pairs of text columns, read directly from the database.
    async fn pairs(&self, sql: &str) -> Vec<(Option<String>, Option<String>)> {
        if self.url.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            let rows = sqlx::query_as(sql).fetch_all(&mut c).await.unwrap();
            c.close().await.unwrap();
            rows
        } else {
            let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
            let rows = sqlx::query_as(sql).fetch_all(&mut c).await.unwrap();
            c.close().await.unwrap();
            rows
        }
    }

    /// One count, read directly from the database.
    async fn count(&self, sql: &str) -> i64 {
        if self.url.starts_with("sqlite:") {
            let mut c = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            let n = sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap();
            c.close().await.unwrap();
            n
        } else {
            let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
            let n = sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap();
            c.close().await.unwrap();
            n
        }
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A street-level row in the standard 12 columns.
fn row(month: &str, reported_by: &str, lon: &str, lat: &str, location: &str, lsoa: &str, lsoa_name: &str) -> String {
    let falls_within = if reported_by == "British Transport Police" { MET } else { reported_by };
    format!(",{month},{reported_by},{falls_within},{lon},{lat},{location},{lsoa},{lsoa_name},Anti-social behaviour,,")
}

/// Lines joined with `eol`, and one after the last.
fn lines(body: &[&[u8]], eol: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for l in body {
        out.extend_from_slice(l);
        out.extend_from_slice(eol.as_bytes());
    }
    out
}

fn shared(path: &str) -> PathBuf {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data/")).join(path);
    assert!(
        p.exists(),
        "the shared data is missing: {} does not exist (the tests expect ../shared/data beside the workspace)",
        p.display()
    );
    p
}

fn csv_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            csv_files(&p, out);
        } else if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
            out.push(p);
        }
    }
}

#[test]
fn every_shared_police_uk_file_imports_with_counts_that_match_the_files() {
    let dir = shared("police_uk_street");

    // The files' own counts, read here: every data row, and the ASB rows per force and month.
    let mut files = Vec::new();
    csv_files(&dir, &mut files);
    assert!(!files.is_empty(), "no CSV files under {}", dir.display());
    let mut rows = 0i64;
    let mut asb: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    for f in &files {
        let mut rdr = csv::Reader::from_path(f).unwrap();
        let header: Vec<String> =
            rdr.headers().unwrap().iter().map(|h| h.trim_start_matches('\u{feff}').to_string()).collect();
        let col = |name: &str| header.iter().position(|h| h == name).unwrap_or_else(|| panic!("{f:?}: no {name}"));
        let (month, force, crime_type) = (col("Month"), col("Falls within"), col("Crime type"));
        for rec in rdr.records() {
            let rec = rec.unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            rows += 1;
            if &rec[crime_type] == "Anti-social behaviour" {
                *asb.entry(rec[force].to_string()).or_default().entry(rec[month].to_string()).or_default() += 1;
            }
        }
    }
    let asb_rows: i64 = asb.values().flat_map(BTreeMap::values).sum();
    // The shared data as it stands (five forces); a change to it shows here first.
    assert_eq!((files.len(), rows, asb_rows), (94, 355_105, 75_082));

    let db = Db::new("shared");
    let (sum, stderr) = db.import(&[&dir]);
    assert_eq!(sum["files"], files.len(), "{stderr}");
    assert_eq!(sum["rows_read"], rows);
    assert_eq!(sum["imported"], asb_rows);
    assert_eq!(sum["skipped_other_crime"], rows - asb_rows);
    assert_eq!((sum["duplicates"].as_i64(), sum["quarantined"].as_i64()), (Some(0), Some(0)), "{stderr}");
    assert_eq!((sum["skipped_files"].clone(), sum["errors"].clone()), (json!([]), json!([])));
    let by_force_month: Vec<Value> = asb
        .iter()
        .flat_map(|(force, months)| {
            months.iter().map(move |(m, n)| json!({"force": force, "month": m, "rows": n, "imported": n}))
        })
        .collect();
    assert_eq!(sum["by_force_month"], Value::Array(by_force_month));

    for (force, months) in &asb {
        let expected: Vec<Value> = months.iter().map(|(m, n)| json!({"month": m, "asb": n})).collect();
        assert_eq!(db.monthly(force), Value::Array(expected), "report monthly --force {force:?}");
    }

    // Again: every row is already kept.
    let (again, _) = db.import(&[&dir]);
    assert_eq!((again["rows_read"].as_i64(), again["imported"].as_i64()), (Some(rows), Some(0)));
    assert_eq!((again["duplicates"].as_i64(), again["quarantined"].as_i64()), (Some(asb_rows), Some(0)));
    let (force, months) = asb.iter().next().unwrap();
    let expected: Vec<Value> = months.iter().map(|(m, n)| json!({"month": m, "asb": n})).collect();
    assert_eq!(db.monthly(force), Value::Array(expected), "unchanged by the second import");
}

/// A street-level file with good rows and bad ones, and what its bad rows should be quarantined as.
struct BadRowsFile {
    bytes: Vec<u8>,
    /// (line, reason, raw text as quarantined)
    bad: Vec<(i64, String, String)>,
    /// Line 9 (Month "2020-13") corrected.
    corrected: String,
}

fn bad_rows_file(eol: &str) -> BadRowsFile {
    let camden = row("2020-04", MET, "-0.125500", "51.529000", "On or near Pancras Road", "E01000907", "Camden 001A");
    let field_count = camden.strip_suffix(',').unwrap().to_string();
    let month = camden.replace("2020-04", "2020-13");
    let north = camden.replace("51.529000", "north");
    let new_york = row("2020-04", MET, "-74.006000", "40.712800", "On or near Broadway", "E01000907", "Camden 001A");
    let mut not_utf8 =
        b",2020-04,Metropolitan Police Service,Metropolitan Police Service,-0.125500,51.529000,On or near Caf".to_vec();
    not_utf8.extend_from_slice(b"\xe9 Road,E01000907,Camden 001A,Anti-social behaviour,,");
    let no_location = row("2020-04", MET, "", "", "No Location", "", "");
    let btp = row(
        "2020-04",
        "British Transport Police",
        "-0.123900",
        "51.530800",
        "\"King's Cross, Euston Road\"",
        "E01000907",
        "Camden 001A",
    );
    let arun = row("2020-04", MET, "-0.550000", "50.810000", "On or near Sea Road", "E01031349", "Arun 001A");
    let burglary = format!("abc123,2020-04,{MET},{MET},-0.125500,51.529000,On or near Pancras Road,E01000907,Camden 001A,Burglary,Under investigation,");
    let hackney = row("2020-04", MET, "-0.077000", "51.545000", "On or near Hackney Row", "E01001808", "Hackney 001A");
    let body: [&[u8]; 13] = [
        // 1
        HEADER.as_bytes(),
        // 2, 3: two identical reports, both kept.
        camden.as_bytes(),
        camden.as_bytes(),
        // 4: no location.
        no_location.as_bytes(),
        // 5: British Transport Police, filed under the Met; a quoted field with a comma.
        btp.as_bytes(),
        // 6: a Met record in Arun (West Sussex), outside the Met's area.
        arun.as_bytes(),
        // 7: not anti-social behaviour.
        burglary.as_bytes(),
        // 8..12: bad.
        field_count.as_bytes(),
        month.as_bytes(),
        north.as_bytes(),
        new_york.as_bytes(),
        &not_utf8,
        // 13: good again, after the bad ones.
        hackney.as_bytes(),
    ];
    let bytes = lines(&body, eol);
    let bad = vec![
        (8, "expected 12 fields, found 11".to_string(), field_count),
        (9, "Month \"2020-13\" is not YYYY-MM".to_string(), month),
        (10, "Latitude \"north\" is not a number".to_string(), north),
        (11, "Latitude 40.712800, Longitude -74.006000 is not in the UK".to_string(), new_york),
        (12, "not valid UTF-8 text".to_string(), String::from_utf8_lossy(&not_utf8).into_owned()),
    ];
    BadRowsFile { bytes, bad, corrected: camden }
}

fn listed(q: &[Value]) -> Vec<(String, i64, String, String)> {
    q.iter()
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_else(|| panic!("no {k} in {r}")).to_string();
            (s("source"), r["line"].as_i64().unwrap(), s("reason"), s("raw"))
        })
        .collect()
}

/// Import a file of good and bad rows: the bad rows named with file and line on stderr and in the
/// quarantine, one fixed and kept, and the file imported again.
fn bad_rows_are_reported_and_quarantined(eol: &str, name: &str) {
    let db = Db::new(name);
    let file = bad_rows_file(eol);
    let path = db.file("2020-04-metropolitan-street.csv", &file.bytes);
    let source = path.display().to_string();

    let (sum, stderr) = db.import(&[&path]);
    for (line, reason, _) in &file.bad {
        let expected = format!("{source}:{line}: {reason} (quarantined)");
        assert!(stderr.lines().any(|l| l == expected), "stderr lacks {expected:?}:\n{stderr}");
    }
    let counts = [
        "files",
        "rows_read",
        "imported",
        "duplicates",
        "quarantined",
        "skipped_other_crime",
        "no_location",
        "british_transport_police",
        "outside_force_area",
    ]
    .map(|k| (k, sum[k].as_i64().unwrap_or(-1)));
    assert_eq!(
        counts,
        [
            ("files", 1),
            ("rows_read", 12),
            ("imported", 6),
            ("duplicates", 0),
            ("quarantined", 5),
            ("skipped_other_crime", 1),
            ("no_location", 1),
            ("british_transport_police", 1),
            ("outside_force_area", 1),
        ],
        "{sum}"
    );
    assert_eq!(db.monthly(MET), json!([{"month": "2020-04", "asb": 6}]));

    let q = db.quarantine();
    let expected: Vec<_> = file.bad.iter().map(|(l, r, raw)| (source.clone(), *l, r.clone(), raw.clone())).collect();
    assert_eq!(listed(&q), expected);

    // Fix line 9: it is kept, and leaves the quarantine.
    let id = q.iter().find(|r| r["line"] == 9).unwrap()["id"].as_i64().unwrap().to_string();
    let out = db.retry(&[&id, "--row", &file.corrected]);
    assert!(out.status.success(), "retry: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("#{id} {source}:9: kept")), "{}", text(&out.stdout));
    assert!(text(&out.stdout).contains("1 kept, 0 still quarantined"), "{}", text(&out.stdout));
    assert_eq!(db.monthly(MET), json!([{"month": "2020-04", "asb": 7}]));
    let q = db.quarantine();
    assert_eq!(listed(&q), expected.iter().filter(|b| b.1 != 9).cloned().collect::<Vec<_>>());
    assert!(q.iter().all(|r| r["id"].as_i64().unwrap().to_string() != id));

    // The same file again: nothing new is kept.
    let (again, _) = db.import(&[&path]);
    assert_eq!((again["rows_read"].as_i64(), again["imported"].as_i64()), (Some(12), Some(0)), "{again}");
    assert_eq!(again["duplicates"], 6, "{again}");
    assert_eq!(db.monthly(MET), json!([{"month": "2020-04", "asb": 7}]));
}

#[test]
fn bad_rows_are_reported_with_file_and_line_and_quarantined() {
    bad_rows_are_reported_and_quarantined("\r\n", "bad_rows_crlf");
}

#[test]
fn bad_rows_of_an_lf_file_are_reported_with_file_and_line_and_quarantined() {
    bad_rows_are_reported_and_quarantined("\n", "bad_rows_lf");
}

#[test]
fn retrying_without_corrections_leaves_rows_that_still_do_not_read_quarantined() {
    let db = Db::new("retry_all");
    let file = bad_rows_file("\n");
    // Lines 1 (header) and 8..11 (bad, but valid UTF-8) only.
    let text_lines: Vec<&[u8]> = file.bytes.split(|b| *b == b'\n').collect();
    let bytes = lines(&[text_lines[0], text_lines[7], text_lines[8], text_lines[9], text_lines[10]], "\n");
    let path = db.file("bad.csv", &bytes);
    let (sum, _) = db.import(&[&path]);
    assert_eq!((sum["imported"].as_i64(), sum["quarantined"].as_i64()), (Some(0), Some(4)), "{sum}");
    let before = listed(&db.quarantine());
    assert_eq!(before.iter().map(|b| b.1).collect::<Vec<_>>(), [2, 3, 4, 5]);

    let out = db.retry(&[]);
    assert!(out.status.success(), "retry: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("0 kept, 4 still quarantined"), "{}", text(&out.stdout));
    for (_, line, reason, _) in &before {
        assert!(
            text(&out.stdout).contains(&format!("{}:{line}: still quarantined: {reason}", path.display())),
            "{}",
            text(&out.stdout)
        );
    }
    assert_eq!(listed(&db.quarantine()), before, "the same rows, with the same reasons and text");
}

#[test]
fn a_row_that_is_not_utf8_stays_quarantined_until_it_is_corrected() {
    let db = Db::new("retry_utf8");
    let file = bad_rows_file("\n");
    let text_lines: Vec<&[u8]> = file.bytes.split(|b| *b == b'\n').collect();
    let path = db.file("bad.csv", &lines(&[text_lines[0], text_lines[11]], "\n"));
    let (sum, _) = db.import(&[&path]);
    assert_eq!(sum["quarantined"], 1, "{sum}");

    let out = db.retry(&[]);
    assert!(out.status.success(), "retry: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("0 kept, 1 still quarantined"), "{}", text(&out.stdout));
    let q = listed(&db.quarantine());
    assert_eq!(q.iter().map(|b| (b.1, b.2.as_str())).collect::<Vec<_>>(), [(2, "not valid UTF-8 text")]);
    let out = db.run(&["report", "monthly", "--force", MET]);
    assert!(!out.status.success(), "nothing kept: {}", text(&out.stdout));
}

#[test]
fn a_bad_row_fixed_once_is_kept_once_however_often_its_file_is_imported() {
    let db = Db::new("fixed_once");
    let file = bad_rows_file("\n");
    let path = db.file("street.csv", &file.bytes);
    db.import(&[&path]);
    let id = db.quarantine().iter().find(|r| r["line"] == 9).unwrap()["id"].as_i64().unwrap().to_string();
    let out = db.retry(&[&id, "--row", &file.corrected]);
    assert!(out.status.success(), "retry: {}", text(&out.stderr));
    assert_eq!(db.monthly(MET), json!([{"month": "2020-04", "asb": 7}]));

    db.import(&[&path]);
    let q = listed(&db.quarantine());
    let mut lines: Vec<i64> = q.iter().map(|b| b.1).collect();
    lines.sort();
    assert_eq!(lines, [8, 10, 11, 12], "each bad line listed once, and the fixed one not again: {q:?}");
    // However it is listed, fixing line 9 again adds no second record.
    for r in db.quarantine().iter().filter(|r| r["line"] == 9) {
        let out = db.retry(&[&r["id"].as_i64().unwrap().to_string(), "--row", &file.corrected]);
        assert!(out.status.success(), "retry: {}", text(&out.stderr));
    }
    assert_eq!(db.monthly(MET), json!([{"month": "2020-04", "asb": 7}]));
}

#[test]
fn a_row_with_a_nul_byte_is_quarantined_and_the_rest_of_its_file_kept() {
    let db = Db::new("nul");
    let good = row("2020-04", MET, "-0.125500", "51.529000", "On or near Pancras Road", "E01000907", "Camden 001A");
    let nul = good.replace("Pancras", "Pan\0cras");
    let path = db.file("street.csv", &lines(&[HEADER.as_bytes(), nul.as_bytes(), good.as_bytes()], "\n"));
    let (sum, _) = db.import(&[&path]);
    assert_eq!((sum["imported"].as_i64(), sum["quarantined"].as_i64()), (Some(1), Some(1)), "{sum}");
    assert_eq!(listed(&db.quarantine()).iter().map(|b| b.1).collect::<Vec<_>>(), [2]);
}

#[test]
fn lf_and_crlf_files_and_zip_archives_import_the_same_rows() {
    let db = Db::new("line_endings");
    let rows = [
        HEADER.to_string(),
        row("2020-04", MET, "-0.125500", "51.529000", "On or near Pancras Road", "E01000907", "Camden 001A"),
        row("2020-04", MET, "-0.125500", "51.529000", "On or near Pancras Road", "E01000907", "Camden 001A"),
        row("2020-04", MET, "-0.125500", "51.529000", "On or near Pancras Road", "E01000907", "Camden 001A"),
        row("2020-04", MET, "", "", "No Location", "", ""),
        row("2020-04", MET, "-0.123900", "51.530800", "\"King's Cross, Euston Road\"", "E01000907", "Camden 001A"),
        row("2020-04", MET, "-0.077000", "51.545000", "On or near Hackney Row", "E01001808", "Hackney 001A"),
        row("2020-04", "City of London Police", "-0.093000", "51.515000", "On or near Cheapside", "E01000001", "City of London 001A"),
        "abc123,2020-04,Metropolitan Police Service,Metropolitan Police Service,-0.125500,51.529000,On or near Pancras Road,E01000907,Camden 001A,Burglary,Under investigation,".to_string(),
    ];
    let body: Vec<&[u8]> = rows.iter().map(|r| r.as_bytes()).collect();
    let (asb, read) = (7, 8);
    let lf = db.file("in/2020-04-lf-street.csv", &lines(&body, "\n"));
    let crlf = db.file("in/2020-04-crlf-street.csv", &lines(&body, "\r\n"));

    // police.uk's archive: a folder per month, street and outcomes files in each.
    let zip_path = db.dir.path().join("in/archive.zip");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    zip.add_directory("2020-04/", options).unwrap();
    zip.start_file("2020-04/2020-04-test-street.csv", options).unwrap();
    zip.write_all(&lines(&body, "\r\n")).unwrap();
    zip.start_file("2020-04/2020-04-test-outcomes.csv", options).unwrap();
    let outcomes = "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,Outcome type\n\
                    abc123,2020-04,Metropolitan Police Service,Metropolitan Police Service,-0.125500,51.529000,On or near Pancras Road,E01000907,Camden 001A,Investigation complete; no suspect identified\n";
    zip.write_all(outcomes.as_bytes()).unwrap();
    zip.finish().unwrap();

    let (first, _) = db.import(&[&lf]);
    assert_eq!((first["rows_read"].as_i64(), first["imported"].as_i64()), (Some(read), Some(asb)), "{first}");
    assert_eq!((first["no_location"].as_i64(), first["quarantined"].as_i64()), (Some(1), Some(0)), "{first}");
    let monthly = |db: &Db| (db.monthly(MET), db.monthly("City of London Police"));
    let after_lf = monthly(&db);
    assert_eq!(after_lf, (json!([{"month": "2020-04", "asb": 6}]), json!([{"month": "2020-04", "asb": 1}])));

    for (path, what) in [(&crlf, "the CRLF file"), (&zip_path, "the zip")] {
        let (sum, stderr) = db.import(&[path]);
        assert_eq!(sum["files"], 1, "{what}: {sum}");
        assert_eq!((sum["rows_read"].as_i64(), sum["imported"].as_i64()), (Some(read), Some(0)), "{what}: {sum}");
        assert_eq!((sum["duplicates"].as_i64(), sum["quarantined"].as_i64()), (Some(asb), Some(0)), "{what}: {sum}");
        assert_eq!(sum["errors"], json!([]), "{what}: {stderr}");
        assert_eq!(monthly(&db), after_lf, "{what}");
    }

    // The outcomes member is listed as skipped, not an error; the whole folder adds nothing.
    let (sum, _) = db.import(&[&db.dir.path().join("in")]);
    let skipped = sum["skipped_files"].as_array().unwrap();
    let outcomes_member = format!("{}:2020-04/2020-04-test-outcomes.csv: ", zip_path.display());
    assert!(
        skipped.len() == 1
            && skipped[0].as_str().unwrap().starts_with(&outcomes_member)
            && skipped[0].as_str().unwrap().contains("not a police.uk street-level file: no Crime type"),
        "{sum}"
    );
    assert_eq!((sum["files"].as_i64(), sum["rows_read"].as_i64()), (Some(3), Some(3 * read)), "{sum}");
    assert_eq!((sum["imported"].as_i64(), sum["duplicates"].as_i64()), (Some(0), Some(3 * asb)), "{sum}");
    assert_eq!(sum["errors"], json!([]));
}

#[tokio::test]
async fn lookups_and_boundaries_place_records_in_their_area() {
    let db = Db::new("places");
    let row_at = |location: &str, lon: &str, lat: &str, lsoa: &str| {
        row("2020-04", MET, lon, lat, location, lsoa, if lsoa.is_empty() { "" } else { "Somewhere 001A" })
    };

    // A lookup with a blank code on line 3 is refused whole: line 2 is not kept either.
    let bad = db.file(
        "bad-lookup.csv",
        b"LSOA11CD,LSOA11NM,MSOA11CD,MSOA11NM,LAD11CD,LAD11NM\n\
          E01999998,Testshire 001A,E02999998,Testshire 001,E09000012,Hackney\n\
          E01999999,Testshire 001B,E02999999,Testshire 001,,Hackney\n",
    );
    let out = db.run(&["import", "lookups", &bad.display().to_string()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains(&format!("{}:3: ", bad.display())) && stderr.contains("nothing imported"), "{stderr}");
    assert!(!stderr.contains(&format!("{}:2: ", bad.display())), "{stderr}");
    let early = db.file(
        "early.csv",
        lines(&[HEADER.as_bytes(), row_at("Early no location", "", "", "E01999998").as_bytes()], "\n").as_slice(),
    );
    db.import(&[&early]);
    assert_eq!(db.count("SELECT COUNT(*) FROM lsoa_lookup").await, 0);
    assert_eq!(
        db.pairs("SELECT location, area_code FROM historical_incidents").await,
        [(Some("Early no location".into()), None)],
        "an LSOA only in the refused lookup places nothing"
    );

    let lookups = shared("lookups/london_lsoa11_to_msoa_lad.csv");
    let out = db.run(&["import", "lookups", &lookups.display().to_string()]);
    assert!(out.status.success(), "import lookups: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("imported 4835 LSOA lookups"), "{}", text(&out.stdout));
    assert_eq!(db.count("SELECT COUNT(*) FROM lsoa_lookup").await, 4835);

    let boundaries = shared("boundaries/london_boroughs_lad22_wgs84.geojson");
    let out = db.run(&["import", "boundaries", &boundaries.display().to_string()]);
    assert!(out.status.success(), "import boundaries: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("imported 33 area boundaries"), "{}", text(&out.stdout));

    // A file with a point among its polygons is refused, naming the feature; nothing of it is kept.
    let square = "[[[-0.2,51.5],[-0.1,51.5],[-0.1,51.6],[-0.2,51.6],[-0.2,51.5]]]";
    let geojson = format!(
        r#"{{"type": "FeatureCollection", "features": [
            {{"type": "Feature", "properties": {{"LAD22CD": "E09000098", "LAD22NM": "Square"}},
              "geometry": {{"type": "Polygon", "coordinates": {square}}}}},
            {{"type": "Feature", "properties": {{"LAD22CD": "E09000099", "LAD22NM": "Dot"}},
              "geometry": {{"type": "Point", "coordinates": [-0.1, 51.5]}}}}]}}"#
    );
    let point = db.file("point.geojson", geojson.as_bytes());
    let out = db.run(&["import", "boundaries", &point.display().to_string()]);
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("feature 1 (E09000099)") && stderr.contains("Point"), "{stderr}");
    assert_eq!(db.count("SELECT COUNT(*) FROM area_boundaries").await, 33);
    assert_eq!(db.count("SELECT COUNT(*) FROM area_boundaries WHERE code = 'E09000098'").await, 0);

    // A neighbourhood drawn over the Camden point is an area for analysis: it never places a record.
    let ward = r#"{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"WD22CD": "E05000129", "WD22NM": "Regent's Park"},
        "geometry": {"type": "Polygon", "coordinates": [[[-0.13, 51.52], [-0.12, 51.52], [-0.12, 51.535], [-0.13, 51.535], [-0.13, 51.52]]]}}]}"#;
    let ward = db.file("ward.geojson", ward.as_bytes());
    let out = db.run(&["import", "boundaries", "--kind", "neighbourhood", &ward.display().to_string()]);
    assert!(out.status.success(), "import boundaries --kind neighbourhood: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains("imported 1 area boundaries (neighbourhood)"), "{}", text(&out.stdout));
    assert_eq!(db.count("SELECT COUNT(*) FROM area_boundaries WHERE kind = 'neighbourhood'").await, 1);
    let out = db.run(&["import", "boundaries", "--kind", "ward", &ward.display().to_string()]);
    assert!(!out.status.success() && text(&out.stderr).contains("not an area kind"), "{}", text(&out.stderr));

    let placed = db.file(
        "placed.csv",
        &lines(
            &[
                HEADER.as_bytes(),
                // By the lookup: its LSOA's borough, even with a point elsewhere (Camden).
                row_at("Hackney LSOA", "-0.077000", "51.545000", "E01001808").as_bytes(),
                row_at("City LSOA Camden point", "-0.125500", "51.529000", "E01000001").as_bytes(),
                // Not in the lookup (only in the refused one): by the boundaries.
                row_at("Unknown LSOA Camden point", "-0.125500", "51.529000", "E01999998").as_bytes(),
                // Neither.
                row_at("Liverpool point", "-2.983000", "53.408000", "").as_bytes(),
                row_at("Unknown LSOA no location", "", "", "E01999998").as_bytes(),
            ],
            "\n",
        ),
    );
    let (sum, _) = db.import(&[&placed]);
    assert_eq!(sum["imported"], 5, "{sum}");
    let mut places = db.pairs("SELECT location, area_code FROM historical_incidents").await;
    places.sort();
    let s = |v: &str| Some(v.to_string());
    assert_eq!(
        places,
        [
            (s("City LSOA Camden point"), s("E09000001")),
            (s("Early no location"), None),
            (s("Hackney LSOA"), s("E09000012")),
            (s("Liverpool point"), None),
            (s("Unknown LSOA Camden point"), s("E09000007")),
            (s("Unknown LSOA no location"), None),
        ]
    );
}

#[test]
fn a_file_named_that_is_not_street_level_is_an_error() {
    let db = Db::new("not_street");
    db.file(
        "some.csv",
        b"Crime ID,Month,Falls within,Longitude,Latitude,Crime type\n\
          ,2020-04,Metropolitan Police Service,-0.125500,51.529000,Anti-social behaviour\n",
    );
    let why = "some.csv:1: not a police.uk street-level file: no Reported by, no Location, no LSOA code, \
               no LSOA name, no Last outcome category, no Context column";
    let out = db.run_in(Some(db.dir.path()), &["import", "police-uk", "some.csv"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(why), "{stderr}");
    assert!(stderr.contains("1 file(s) named could not be read as police.uk street-level files"), "{stderr}");
    assert!(text(&out.stdout).contains("0 file(s), 0 rows read"), "{}", text(&out.stdout));

    // With --json the summary still prints, the file and reason in its errors.
    let out = db.run_in(Some(db.dir.path()), &["import", "police-uk", "some.csv", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let sum: Value = serde_json::from_slice(&out.stdout).expect("the summary is still printed");
    assert_eq!(sum["errors"], json!([why]), "{sum}");
    let counts = ["files", "rows_read", "imported"].map(|k| sum[k].as_i64());
    assert_eq!(counts, [Some(0), Some(0), Some(0)], "{sum}");

    let out = db.run(&["report", "monthly", "--force", MET]);
    assert!(!out.status.success(), "{}", text(&out.stdout));
    assert!(text(&out.stderr).contains("none yet"), "nothing imported: {}", text(&out.stderr));
}

#[tokio::test]
async fn an_exported_month_is_anonymised_and_imports_back_as_the_same_count() {
    let db = Db::new("export");
    let out = db.run(&["generate", "--people", "400", "--incidents", "1500", "--seed", "11", "--years", "1"]);
    assert!(out.status.success(), "generate: {}", text(&out.stderr));
    // What must never be published: people's names and the narratives.
    let secrets = db
        .pairs(
            "SELECT DISTINCT p.name, NULL FROM people p WHERE p.name IS NOT NULL
             UNION ALL SELECT DISTINCT i.narrative, NULL FROM incidents i",
        )
        .await;
    let secrets: Vec<String> = secrets.into_iter().filter_map(|(s, _)| s).filter(|s| s.len() > 6).collect();
    // Last month's police records, as the database has them.
    let month = chrono::Utc::now().checked_sub_months(chrono::Months::new(1)).unwrap().format("%Y-%m").to_string();
    let (from, to) = (format!("{month}-01"), {
        let d = chrono::NaiveDate::parse_from_str(&format!("{month}-01"), "%Y-%m-%d").unwrap();
        d.checked_add_months(chrono::Months::new(1)).unwrap().format("%Y-%m-%d").to_string()
    });
    let ts = |d: &str| {
        let t = chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc();
        if db.url.starts_with("sqlite:") {
            t.timestamp().to_string()
        } else {
            format!("'{}'", t.to_rfc3339())
        }
    };
    let police = db
        .count(&format!(
            "SELECT COUNT(*) FROM incidents i JOIN organisations o ON o.id = i.organisation_id
             WHERE i.received_at >= {} AND i.received_at < {} AND o.kind IN ('force', 'borough', 'neighbourhood_team')",
            ts(&from),
            ts(&to)
        ))
        .await;
    assert!(police > 10, "the generated month has police records: {police}");

    let file = db.dir.path().join("export.csv");
    let out = db.run(&["export", "police-uk", "--month", &month, "--out", &file.display().to_string()]);
    assert!(out.status.success(), "export: {}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("wrote {police} records of {month}")), "{}", text(&out.stdout));
    let body = std::fs::read_to_string(&file).unwrap();
    let mut rdr = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(rdr.headers().unwrap().iter().collect::<Vec<_>>().join(","), HEADER);
    let rows: Vec<csv::StringRecord> = rdr.records().map(Result::unwrap).collect();
    assert_eq!(rows.len() as i64, police);
    for r in &rows {
        assert_eq!((&r[0], &r[1], &r[3], &r[9], &r[10]), ("", month.as_str(), MET, "Anti-social behaviour", ""));
        assert!(r[6].starts_with("On or near ") || &r[6] == "No Location", "{r:?}");
        assert!(!r[6].chars().any(|c| c.is_ascii_digit()), "no house numbers: {r:?}");
    }
    // No name or narrative is published, and no point is where a record's place is.
    for s in &secrets {
        assert!(!body.contains(s.as_str()), "{s:?} is in the export");
    }
    let exact = db.pairs("SELECT CAST(lat AS TEXT), CAST(lon AS TEXT) FROM places").await;
    let published: std::collections::HashSet<(String, String)> =
        rows.iter().map(|r| (r[5].to_string(), r[4].to_string())).collect();
    let exact: Vec<(f64, f64)> =
        exact.into_iter().filter_map(|(a, b)| Some((a?.parse().ok()?, b?.parse().ok()?))).collect();
    for (lat, lon) in &published {
        let (lat, lon): (f64, f64) = (lat.parse().unwrap(), lon.parse().unwrap());
        assert!(!exact.iter().any(|(a, b)| (a - lat).abs() < 1e-6 && (b - lon).abs() < 1e-6), "{lat},{lon} is a place");
    }
    assert!(published.len() < rows.len(), "records share generalised points");

    // Export, then import: the same count for the month, once however often.
    let (sum, _) = db.import(&[&file]);
    assert_eq!((sum["imported"].as_i64(), sum["quarantined"].as_i64()), (Some(police), Some(0)), "{sum}");
    assert_eq!(db.monthly(MET), json!([{"month": month, "asb": police}]));
    assert_eq!(db.import(&[&file]).0["imported"], 0);

    // The export is in the audit log as a disclosure of the month, with how many records; each
    // file imported as a collection, with its counts; and the chain still verifies.
    let logged = db
        .pairs(&format!(
            "SELECT subject_id, CAST(detail AS TEXT) FROM audit_events
             WHERE action = 'disclosure' AND subject_type = 'police-uk-export' AND subject_id = '{from}..{to}'"
        ))
        .await;
    assert_eq!(logged.len(), 1, "{logged:?}");
    let detail: Value = serde_json::from_str(logged[0].1.as_deref().unwrap()).unwrap();
    assert_eq!(detail["records"].as_i64(), Some(police));
    let imports = db
        .pairs(
            "SELECT subject_id, CAST(detail AS TEXT) FROM audit_events
             WHERE action = 'collection' AND subject_type = 'police-uk-import' ORDER BY id",
        )
        .await;
    let imported: Vec<i64> = imports
        .iter()
        .map(|(_, d)| serde_json::from_str::<Value>(d.as_deref().unwrap()).unwrap()["imported"].as_i64().unwrap())
        .collect();
    assert_eq!(imported, vec![police, 0]);
    let out = db.run(&["audit", "verify"]);
    assert!(out.status.success(), "audit verify: {}", text(&out.stderr));

    let out = db.run(&["export", "police-uk", "--month", "2026-13"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("--month: Month \"2026-13\" is not YYYY-MM"), "{}", text(&out.stderr));
}
