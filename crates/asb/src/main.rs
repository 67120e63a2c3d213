//! The one binary: `asb demo`, `asb serve`, `asb migrate`, `asb migrate-data`, `asb generate`,
//! `asb token`, `asb user`, `asb audit`, `asb import`, `asb export`, `asb report`.

mod export;
mod generate;
mod import;

use anyhow::{bail, Context, Result};
use asb_domain::access::AccessPolicy;
use asb_domain::Policies;
use asb_server::AppState;
use asb_store::{display_url, Options, Store};
use clap::{Args, Parser, Subcommand};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Parser)]
#[command(
    name = "asb",
    version,
    about = "Anti-social behaviour: first contact, recording to NSIR 2011, repeat and vulnerable victims"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Db {
    /// Folder holding the embedded SQLite database (asb.db).
    #[arg(long, default_value = "asb-data", env = "ASB_DATA_DIR")]
    data_dir: PathBuf,
    /// Database URL: sqlite://PATH or postgres://USER@HOST:PORT/DB; overrides --data-dir.
    #[arg(long, env = "ASB_DATABASE_URL")]
    database: Option<String>,
}

impl Db {
    async fn open(&self) -> Result<Store> {
        self.open_with(&Options::default()).await
    }

    async fn open_with(&self, options: &Options) -> Result<Store> {
        match &self.database {
            Some(url) => {
                Store::connect_with(url, options).await.with_context(|| format!("opening {}", display_url(url)))
            }
            None if !options.replicas.is_empty() => bail!("--read-database needs a PostgreSQL --database"),
            None => Store::open_dir_with(&self.data_dir, options)
                .await
                .with_context(|| format!("opening {}", self.data_dir.join("asb.db").display())),
        }
    }

    /// Open, first creating the PostgreSQL database when it does not exist (for the commands
    /// that set a deployment up: demo, migrate, generate).
    async fn open_or_create(&self, options: &Options) -> Result<Store> {
        if let Some(url) = &self.database {
            asb_store::scratch::create_database(url).await.with_context(|| format!("creating {}", display_url(url)))?;
        }
        self.open_with(options).await
    }

    /// How to name this database again on the command line (never showing a password).
    fn hint(&self) -> String {
        match &self.database {
            Some(url) => format!("--database {}", display_url(url)),
            None => format!("--data-dir {}", self.data_dir.display()),
        }
    }
}

#[derive(Args, Clone)]
struct ServeArgs {
    #[command(flatten)]
    db: Db,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080", env = "ASB_ADDR")]
    addr: String,
    /// A folder of policy TOML files replacing the shipped defaults (any not given stay default).
    #[arg(long, env = "ASB_POLICIES")]
    policies: Option<PathBuf>,
    /// A PostgreSQL read replica for read-only work (repeatable; the environment variable takes
    /// a comma-separated list). Reads fall back to the primary while no replica is up.
    #[arg(long = "read-database", env = "ASB_READ_DATABASE_URLS", value_delimiter = ',')]
    read_databases: Vec<String>,
    /// Seconds a replica may fall behind the primary before its reads go to the primary.
    #[arg(long, env = "ASB_REPLICA_MAX_LAG", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=3600))]
    replica_max_lag: u64,
    /// Connections in each read pool (the primary's and each replica's); by default four per
    /// core, at least 8 and at most 32.
    #[arg(long, env = "ASB_READ_POOL_SIZE", value_parser = clap::value_parser!(u32).range(1..=1000))]
    read_pool_size: Option<u32>,
}

impl ServeArgs {
    fn store_options(&self) -> Options {
        Options {
            replicas: self.read_databases.clone(),
            read_pool_size: self.read_pool_size,
            max_replica_lag: std::time::Duration::from_secs(self.replica_max_lag),
        }
    }
}

#[derive(Subcommand)]
enum Command {
    /// Create (if missing) a demo database with realistic MPS data and serve it.
    Demo(ServeArgs),
    /// Serve the API and pages.
    Serve(ServeArgs),
    /// Create or bring the database schema up to date.
    Migrate(Db),
    /// Copy a whole deployment into a new, empty database (SQLite into PostgreSQL, or back),
    /// verifying every table's row count and the audit chain.
    MigrateData {
        /// The database to copy: sqlite://PATH or postgres://USER@HOST:PORT/DB.
        #[arg(long)]
        from: String,
        /// The new database (a PostgreSQL database is created when it does not exist).
        #[arg(long)]
        to: String,
        /// Print the report as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// The audit trail.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Add generated people and incidents (realistic MPS distributions) to a database.
    Generate {
        #[command(flatten)]
        db: Db,
        #[arg(long, default_value_t = 20_000)]
        people: usize,
        #[arg(long, default_value_t = 60_000)]
        incidents: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Years of history before now.
        #[arg(long, default_value_t = 2)]
        years: u32,
    },
    /// API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// People who use the system.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Load published data: data.police.uk street-level records, LSOA lookups, area boundaries.
    Import {
        #[command(subcommand)]
        command: ImportCommand,
    },
    /// Publish: asb's own records in open-data formats.
    Export {
        #[command(subcommand)]
        command: ExportCommand,
    },
    /// Reports from the record.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
}

#[derive(Subcommand)]
enum ImportCommand {
    /// data.police.uk street-level CSVs: files, folders (walked) and the monthly archive zips.
    /// ASB rows are kept as historical incidents; importing a file again adds nothing; rows that
    /// cannot be read are reported with file and line and kept in the quarantine.
    PoliceUk {
        #[command(flatten)]
        db: Db,
        /// Files, folders or zip archives.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Keep every crime type, not only anti-social behaviour.
        #[arg(long)]
        all_crime: bool,
        /// Print the summary as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// An LSOA → MSOA → local authority lookup CSV (ONS column names, e.g. LSOA11CD, LAD22CD).
    Lookups {
        #[command(flatten)]
        db: Db,
        path: PathBuf,
    },
    /// Area boundaries: a GeoJSON FeatureCollection of Polygons/MultiPolygons in WGS84, with a
    /// code property (…CD) and a name property (…NM) on each feature.
    Boundaries {
        #[command(flatten)]
        db: Db,
        path: PathBuf,
        /// `borough` (records are placed in these) or `neighbourhood` (areas for analysis).
        #[arg(long, default_value = "borough")]
        kind: asb_domain::areas::AreaKind,
    },
    /// List the quarantined rows (file, line, reason, text).
    Quarantine {
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        json: bool,
        #[command(subcommand)]
        command: Option<QuarantineCommand>,
    },
}

#[derive(Subcommand)]
enum QuarantineCommand {
    /// Read quarantined rows again (all, or the ids given); those that now read are kept.
    Retry {
        #[command(flatten)]
        db: Db,
        ids: Vec<i64>,
        /// Corrected text (one CSV row in the standard 12 columns) for the one id given.
        #[arg(long)]
        row: Option<String>,
    },
}

#[derive(Subcommand)]
enum ExportCommand {
    /// The force's own ASB records of one month in the data.police.uk street-level format,
    /// anonymised: each location generalised to a public point, no names, no narrative.
    PoliceUk {
        #[command(flatten)]
        db: Db,
        /// The month, YYYY-MM.
        #[arg(long)]
        month: String,
        /// Write to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Published ASB records per month for a force, as `Falls within` names it (e.g.
    /// "Merseyside Police") — the counts of the imported files, to cross-check them.
    Monthly {
        #[command(flatten)]
        db: Db,
        #[arg(long)]
        force: String,
        /// Print a JSON list of {month, asb}.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check the hash chain of every audit event: exit 0 when it is intact, 1 naming the first
    /// event altered, removed or out of place.
    Verify {
        #[command(flatten)]
        db: Db,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Print a new API token for a user, alone on stdout.
    Issue {
        #[arg(long)]
        user: String,
        #[command(flatten)]
        db: Db,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user (the password is read from stdin when --password-stdin is given; without one
    /// the user can use API tokens but not sign in to the pages).
    Add {
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: String,
        /// Organisation code, e.g. MPS, MPS-E09000007 (a borough) or LBC-E09000007 (a council).
        #[arg(long, default_value = "MPS")]
        organisation: String,
        /// Role, repeatable: call_handler, response_officer, neighbourhood_officer, spoc,
        /// sergeant, inspector, chief_inspector, analyst, partner_caseworker, administrator.
        #[arg(long = "role", default_value = "call_handler")]
        roles: Vec<String>,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        db: Db,
    },
    /// List every account with its organisation, roles and status.
    List {
        #[command(flatten)]
        db: Db,
    },
    /// Change an account: its roles (replacing them all), organisation, password or status.
    Set {
        username: String,
        /// The new roles, repeatable; they replace the old ones.
        #[arg(long = "role")]
        roles: Vec<String>,
        #[arg(long)]
        organisation: Option<String>,
        #[arg(long)]
        display_name: Option<String>,
        /// Read a new password from stdin.
        #[arg(long)]
        password_stdin: bool,
        /// Stop the account signing in; its sessions and tokens stop working at once.
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        #[arg(long)]
        enable: bool,
        #[command(flatten)]
        db: Db,
    },
    /// Set up a second factor for an account: prints the key and the otpauth:// link for the
    /// person's authenticator app (or removes it with --remove).
    SecondFactor {
        username: String,
        #[arg(long)]
        remove: bool,
        #[command(flatten)]
        db: Db,
    },
}

/// The demo accounts: (username, display name, organisation code, roles), one for each role.
/// The password of each is `demo-` followed by the username; they are printed when the demo
/// starts. The borough staff work in Camden (MPS-E09000007), the neighbourhood officer and the
/// SPOC in its neighbourhood team, the partner at Camden's council.
const DEMO_USERS: [(&str, &str, &str, &[&str]); 10] = [
    ("callhandler", "Call handler (demo)", "MPS", &["call_handler"]),
    ("response", "Response officer (demo)", "MPS-E09000007", &["response_officer"]),
    ("neighbourhood", "Neighbourhood officer (demo)", "MPS-E09000007-SNT", &["neighbourhood_officer"]),
    ("spoc", "ASB coordinator (demo)", "MPS-E09000007-SNT", &["spoc"]),
    ("sergeant", "Sergeant (demo)", "MPS-E09000007", &["sergeant"]),
    ("inspector", "Inspector (demo)", "MPS-E09000007", &["inspector"]),
    ("chiefinspector", "Chief inspector (demo)", "MPS-E09000007", &["chief_inspector"]),
    ("analyst", "Analyst (demo)", "MPS", &["analyst"]),
    ("partner", "Council ASB caseworker (demo)", "LBC-E09000007", &["partner_caseworker"]),
    ("admin", "Administrator (demo)", "MPS", &["administrator"]),
];

fn demo_password(username: &str) -> String {
    format!("demo-{username}")
}

/// The policies in `dir` (any file not there stays as shipped), with signing-in's own.
fn load_policies(dir: Option<&Path>) -> Result<(Policies, AccessPolicy)> {
    let Some(dir) = dir else { return Ok((Policies::defaults(), AccessPolicy::defaults())) };
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading policies from {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            let name = path.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_default();
            files.insert(name, std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?);
        }
    }
    let access = match files.remove("access.toml") {
        Some(text) => AccessPolicy::from_toml(&text).map_err(anyhow::Error::msg)?,
        None => AccessPolicy::defaults(),
    };
    Ok((Policies::from_files(&files)?, access))
}

async fn ensure_demo_users(store: &Store) -> Result<()> {
    store.seed_organisations().await?;
    for (username, name, org, roles) in DEMO_USERS {
        if store.user(username).await?.is_none() {
            let hash = asb_server::hash_password(&demo_password(username)).map_err(anyhow::Error::msg)?;
            store.ensure_user(username, name, org, roles, Some(&hash)).await?;
        }
    }
    Ok(())
}

async fn serve(args: &ServeArgs, store: Store, banner: impl FnOnce(&str)) -> Result<()> {
    let (policies, access) = load_policies(args.policies.as_deref())?;
    let listener =
        tokio::net::TcpListener::bind(&args.addr).await.with_context(|| format!("cannot listen on {}", args.addr))?;
    let addr = listener.local_addr()?;
    banner(&format!("http://{addr}"));
    asb_server::serve(AppState::new(store, policies).with_access_policy(access), listener).await?;
    Ok(())
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo(args) => {
            let store = args.db.open_or_create(&args.store_options()).await?;
            ensure_demo_users(&store).await?;
            if store.counts().await?.incidents == 0 {
                eprintln!("Creating demo data: 20,000 people and 60,000 incidents over two years…");
                let opts = generate::GenerateOptions {
                    people: 20_000,
                    incidents: 60_000,
                    seed: 2011,
                    now: chrono::Utc::now(),
                    years: 2,
                };
                let report = generate::generate(&store, &opts, &mut |_, _| {}).await?;
                eprintln!("Created in {:.1} s.", report.elapsed.as_secs_f64());
            }
            let counts = store.counts().await?;
            serve(&args, store, |url| {
                println!("asb demo is running at {url}");
                println!(
                    "  data: {} people, {} incidents, {} organisations",
                    counts.people, counts.incidents, counts.organisations
                );
                println!("  sign in as:");
                for (u, name, _, _) in DEMO_USERS {
                    println!("    {u:<15} password {:<21} {name}", demo_password(u));
                }
                println!(
                    "  API: {url}/api/v1/openapi.json (token: asb token issue --user callhandler {})",
                    args.db.hint()
                );
                println!("Press Ctrl-C to stop.");
            })
            .await
        }
        Command::Serve(args) => {
            let store = args.db.open_with(&args.store_options()).await?;
            store.seed_organisations().await?;
            serve(&args, store, |url| println!("asb is serving at {url}")).await
        }
        Command::Migrate(db) => {
            let store = db.open_or_create(&Options::default()).await?;
            store.seed_organisations().await?;
            println!("{} schema version {}", store.engine().name(), store.schema_version().await?);
            Ok(())
        }
        Command::MigrateData { from, to, json } => migrate_data(&from, &to, json).await,
        Command::Audit { command: AuditCommand::Verify { db } } => {
            let store = db.open().await?;
            match store.verify_audit_chain().await? {
                Ok(report) => {
                    println!("audit chain intact: {} events, head {}", report.events, report.head);
                    Ok(())
                }
                Err(broken) => bail!("audit chain broken at {broken}"),
            }
        }
        Command::Generate { db, people, incidents, seed, years } => {
            if people == 0 && incidents > 0 {
                bail!("--people must be at least 1 when generating incidents");
            }
            let store = db.open_or_create(&Options::default()).await?;
            store.seed_organisations().await?;
            ensure_demo_users(&store).await?;
            let opts = generate::GenerateOptions { people, incidents, seed, now: chrono::Utc::now(), years };
            let mut last = 0;
            let report = generate::generate(&store, &opts, &mut |done, total| {
                if done * 20 / total.max(1) != last {
                    last = done * 20 / total.max(1);
                    eprint!("\r  {done} / {total} incidents");
                    let _ = std::io::stderr().flush();
                }
            })
            .await?;
            eprintln!();
            let secs = report.elapsed.as_secs_f64();
            println!(
                "generated {} people, {} places, {} incidents in {secs:.1} s ({:.0} incidents/s)",
                report.people,
                report.places,
                report.incidents,
                report.incidents as f64 / secs.max(1e-9)
            );
            println!(
                "callers: {}; reporting 6+ a year: {:.1}%; more than 10 a year: {:.1}%",
                report.callers,
                100.0 * report.callers_6_plus_a_year as f64 / report.callers.max(1) as f64,
                100.0 * report.callers_over_10_a_year as f64 / report.callers.max(1) as f64
            );
            let s = report.category_shares;
            println!(
                "categories: personal {:.1}%, nuisance {:.1}%, environmental {:.1}%",
                100.0 * s[0],
                100.0 * s[1],
                100.0 * s[2]
            );
            Ok(())
        }
        Command::Token { command: TokenCommand::Issue { user, db } } => {
            let store = db.open().await?;
            if store.user(&user).await?.is_none() {
                bail!("no user named '{user}'; create one with `asb user add` (the demo creates callhandler)");
            }
            let token = store.issue_token(&user, "api", None).await?;
            println!("{token}");
            Ok(())
        }
        Command::User { command } => user_command(command).await,
        Command::Import { command } => import_command(command).await,
        Command::Export { command: ExportCommand::PoliceUk { db, month, out } } => {
            let n = export::police_uk(&db.open().await?, &month, out.as_deref()).await?;
            if let Some(path) = out {
                println!("wrote {n} records of {month} to {}", path.display());
            }
            Ok(())
        }
        Command::Report { command: ReportCommand::Monthly { db, force, json } } => {
            import::report_monthly(&db.open().await?, &force, json).await
        }
    }
}

async fn import_command(command: ImportCommand) -> Result<()> {
    match command {
        ImportCommand::PoliceUk { db, paths, all_crime, json } => {
            let store = db.open_or_create(&Options::default()).await?;
            let summary = import::police_uk(&store, &paths, all_crime, json).await?;
            if !summary.errors.is_empty() {
                bail!("{} file(s) named could not be read as police.uk street-level files", summary.errors.len());
            }
            Ok(())
        }
        ImportCommand::Lookups { db, path } => {
            let rows = import::read_lookups(&path)?;
            let store = db.open_or_create(&Options::default()).await?;
            store.import_lsoa_lookup(&rows).await?;
            println!("imported {} LSOA lookups from {}", rows.len(), path.display());
            Ok(())
        }
        ImportCommand::Boundaries { db, path, kind } => {
            let areas = import::read_boundaries(&path)?;
            let store = db.open_or_create(&Options::default()).await?;
            store.import_areas(kind, &areas).await?;
            println!("imported {} area boundaries ({}) from {}", areas.len(), kind.as_str(), path.display());
            Ok(())
        }
        ImportCommand::Quarantine { db, json, command: None } => import::quarantine_list(&db.open().await?, json).await,
        ImportCommand::Quarantine { db: outer, command: Some(QuarantineCommand::Retry { db, ids, row }), .. } => {
            // The database may be named before `retry` or after it.
            let default_dir = std::env::var_os("ASB_DATA_DIR").map_or_else(|| PathBuf::from("asb-data"), PathBuf::from);
            let named_after = db.database.is_some() && db.database != outer.database || db.data_dir != default_dir;
            let db = if named_after { db } else { outer };
            let (kept, still) = import::quarantine_retry(&db.open().await?, &ids, row.as_deref()).await?;
            println!("{kept} kept, {still} still quarantined");
            Ok(())
        }
    }
}

fn parse_roles(roles: &[String]) -> Result<Vec<asb_domain::access::Role>> {
    roles.iter().map(|r| r.parse().map_err(|e: String| anyhow::anyhow!(e))).collect()
}

/// A new password from stdin, checked and hashed.
fn password_from_stdin(username: &str) -> Result<String> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let pw = line.trim_end_matches(['\n', '\r']);
    asb_domain::access::check_password(pw, username).map_err(anyhow::Error::msg)?;
    asb_server::hash_password(pw).map_err(anyhow::Error::msg)
}

fn invalid(e: asb_store::StoreError) -> anyhow::Error {
    match e {
        asb_store::StoreError::Invalid(errors) => {
            anyhow::anyhow!(errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect::<Vec<_>>().join("; "))
        }
        other => other.into(),
    }
}

async fn user_command(command: UserCommand) -> Result<()> {
    match command {
        UserCommand::Add { username, display_name, organisation, roles, password_stdin, db } => {
            let store = db.open().await?;
            store.seed_organisations().await?;
            let password_hash = if password_stdin { Some(password_from_stdin(&username)?) } else { None };
            let new =
                asb_store::NewUser { username, display_name, organisation, roles: parse_roles(&roles)?, password_hash };
            let u = store.create_user(&new, None).await.map_err(invalid)?;
            println!(
                "user {} ({}) in organisation {} with roles {}",
                u.username, u.display_name, new.organisation, u.roles
            );
            Ok(())
        }
        UserCommand::List { db } => {
            let store = db.open().await?;
            println!("{:<16} {:<32} {:<16} {:<8} {:<9} roles", "username", "name", "organisation", "2FA", "status");
            for u in store.users().await? {
                let roles: Vec<&str> = u.roles.iter().map(|r| r.as_str()).collect();
                println!(
                    "{:<16} {:<32} {:<16} {:<8} {:<9} {}",
                    u.username,
                    u.display_name,
                    u.organisation,
                    if u.second_factor { "yes" } else { "no" },
                    if u.disabled { "disabled" } else { "active" },
                    roles.join(",")
                );
            }
            Ok(())
        }
        UserCommand::Set { username, roles, organisation, display_name, password_stdin, disable, enable, db } => {
            let store = db.open().await?;
            let change = asb_store::UserChange {
                display_name,
                organisation,
                roles: if roles.is_empty() { None } else { Some(parse_roles(&roles)?) },
                disabled: if disable {
                    Some(true)
                } else if enable {
                    Some(false)
                } else {
                    None
                },
                password_hash: if password_stdin { Some(password_from_stdin(&username)?) } else { None },
            };
            store.update_user(&username, &change, None).await.map_err(invalid)?;
            match store.user_summary(&username).await? {
                Some(u) => {
                    let roles: Vec<&str> = u.roles.iter().map(|r| r.as_str()).collect();
                    let status = if u.disabled { "disabled" } else { "active" };
                    println!(
                        "user {} in organisation {}, roles {}, {status}",
                        u.username,
                        u.organisation,
                        roles.join(",")
                    );
                }
                None => bail!("no user named '{username}'"),
            }
            Ok(())
        }
        UserCommand::SecondFactor { username, remove, db } => {
            let store = db.open().await?;
            if store.user_summary(&username).await?.is_none() {
                bail!("no user named '{username}'");
            }
            if remove {
                store.set_second_factor(&username, None, None).await?;
                println!("second factor removed for {username}");
                return Ok(());
            }
            let secret = asb_server::new_totp_secret();
            let link = asb_server::totp(&secret, &username).map(|t| t.get_url()).context("making the otpauth link")?;
            store.set_second_factor(&username, Some(&secret), None).await?;
            println!("key:  {secret}");
            println!("link: {link}");
            Ok(())
        }
    }
}

async fn migrate_data(from: &str, to: &str, json: bool) -> Result<()> {
    if from == to {
        bail!("--from and --to name the same database");
    }
    let source = Store::connect(from).await.with_context(|| format!("opening {}", display_url(from)))?;
    asb_store::scratch::create_database(to).await.with_context(|| format!("creating {}", display_url(to)))?;
    let target = Store::connect(to).await.with_context(|| format!("opening {}", display_url(to)))?;
    let started = std::time::Instant::now();
    let mut shown_table = String::new();
    // Progress redrawn in place on a terminal; in a log, only the summary below.
    let live = !json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let report = source
        .copy_into(&target, &mut |table, rows| {
            if live {
                if table != shown_table {
                    if !shown_table.is_empty() {
                        eprintln!();
                    }
                    shown_table = table.to_string();
                }
                eprint!("\r  {table}: {rows} rows");
                let _ = std::io::stderr().flush();
            }
        })
        .await
        .with_context(|| format!("copying {} into {}", display_url(from), display_url(to)))?;
    let secs = started.elapsed().as_secs_f64();
    if live {
        eprintln!();
    }
    target.optimise().await?;
    if json {
        let mut v = serde_json::to_value(&report)?;
        v["seconds"] = serde_json::json!((secs * 10.0).round() / 10.0);
        println!("{v}");
    } else {
        let rows: i64 = report.tables.iter().map(|t| t.rows).sum();
        println!(
            "copied {rows} rows from {} into {} in {secs:.1} s; every table's count matches",
            report.from.name(),
            report.to.name()
        );
        for t in &report.tables {
            println!("  {:<20} {:>10}", t.table, t.rows);
        }
        println!(
            "audit chain intact in the copy: {} events, head {}",
            report.audit_chain.events, report.audit_chain.head
        );
    }
    Ok(())
}

fn main() {
    // Output piped into `head` and closed early ends the command quietly, as for any Unix tool,
    // instead of a panic on the next write (Rust ignores SIGPIPE by default).
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of one signal, before any thread is started.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("ASB_LOG")
                .unwrap_or_else(|_| "warn,sqlx=error,asb=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(cli)) {
        eprintln!("error: {}", message(&e));
        std::process::exit(1);
    }
}

/// The error and its causes on one line, leaving out a cause that only repeats the one before
/// (database errors carry their message at several levels).
fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
    }
    out
}
