//! Open-loop, fixed-rate HTTP load generator.
//!
//! ```text
//! cargo run --release --example loadgen -- --base http://127.0.0.1:8080 \
//!     --paths-file paths.txt --rate 200 --duration 30 --concurrency 32 \
//!     --header 'Authorization: Bearer TOKEN' --label check [--json]
//! ```
//!
//! Open loop (`--rate R > 0`): request `i` is scheduled at `start + i/R` by a
//! dedicated OS thread (nanosecond sleeps, not the 1 ms tokio timer wheel),
//! and its latency is measured from that *scheduled* time, so time spent
//! waiting for a free slot (at most `--concurrency` requests in flight) or
//! behind a slow server is counted rather than silently omitted.
//!
//! Closed loop (`--rate 0`): `--concurrency` workers send back to back;
//! latency is measured from the actual send.
//!
//! The run is `--warmup` seconds (excluded from all figures) followed by
//! `--duration` measured seconds. Output is one line on stdout:
//!
//! ```text
//! label  requests  errors  non2xx  achieved_rps  p50_ms  p95_ms  p99_ms  max_ms
//! ```
//!
//! or, with `--json`, one JSON object with those keys (and a few more).
//! The exit status is 1 when errors + non-2xx exceed `--max-error-pct`
//! (default 1%) of the measured requests, or when nothing was measured.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Client, Url};
use tokio::sync::{mpsc, Semaphore};

#[derive(Parser, Debug)]
#[command(about = "Open-loop fixed-rate HTTP load generator (latency from scheduled send time)")]
struct Args {
    /// Base URL, e.g. http://127.0.0.1:8080 (plain HTTP only).
    #[arg(long)]
    base: String,
    /// File of URL paths (one per line, starting with '/'), used in turn.
    #[arg(long, required_unless_present = "path", conflicts_with = "path")]
    paths_file: Option<PathBuf>,
    /// A single URL path to request, e.g. /healthz.
    #[arg(long)]
    path: Option<String>,
    /// Requests per second; 0 means closed loop at maximum throughput.
    #[arg(long, default_value_t = 100.0, allow_negative_numbers = true)]
    rate: f64,
    /// Measured seconds (after the warm-up).
    #[arg(long, default_value_t = 10.0, allow_negative_numbers = true)]
    duration: f64,
    /// Maximum requests in flight (closed loop: number of workers).
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// Extra request header, 'Name: value' (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE")]
    headers: Vec<String>,
    /// Label printed in the result (no whitespace).
    #[arg(long, default_value = "loadgen")]
    label: String,
    /// Print one JSON object instead of the text line.
    #[arg(long)]
    json: bool,
    /// Warm-up seconds before the measured window, excluded from figures.
    #[arg(long, default_value_t = 2.0, allow_negative_numbers = true)]
    warmup: f64,
    /// Per-request timeout in seconds (a timeout counts as an error).
    #[arg(long, default_value_t = 10.0)]
    timeout: f64,
    /// Client runtime threads (the server usually shares this machine).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Exit 1 when errors + non-2xx exceed this percentage of requests.
    #[arg(long, default_value_t = 1.0)]
    max_error_pct: f64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ok,
    Non2xx,
    Error,
}

#[derive(Clone, Copy)]
struct Record {
    /// Scheduled (open loop) or actual (closed loop) send time.
    scheduled: Instant,
    sent: Instant,
    done: Instant,
    outcome: Outcome,
}

struct Shared {
    client: Client,
    urls: Vec<Url>,
    records: Mutex<Vec<Record>>,
    first_error: Mutex<Option<String>>,
    first_non2xx: Mutex<Option<String>>,
}

impl Shared {
    async fn request(&self, i: u64, scheduled: Instant) {
        let url = &self.urls[(i % self.urls.len() as u64) as usize];
        let sent = Instant::now();
        let outcome = match self.client.get(url.clone()).send().await {
            Ok(resp) => {
                let status = resp.status();
                match resp.bytes().await {
                    Ok(body) if status.is_success() => {
                        drop(body);
                        Outcome::Ok
                    }
                    Ok(body) => {
                        let mut first = self.first_non2xx.lock().unwrap_or_else(|e| e.into_inner());
                        if first.is_none() {
                            let text = String::from_utf8_lossy(&body);
                            let snippet: String =
                                text.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(200).collect();
                            *first = Some(format!("{status} for {}: {snippet}", url.path()));
                        }
                        Outcome::Non2xx
                    }
                    Err(e) => self.note_error(e),
                }
            }
            Err(e) => self.note_error(e),
        };
        let rec = Record { scheduled, sent, done: Instant::now(), outcome };
        self.records.lock().unwrap_or_else(|e| e.into_inner()).push(rec);
    }

    fn note_error(&self, e: reqwest::Error) -> Outcome {
        let mut first = self.first_error.lock().unwrap_or_else(|e| e.into_inner());
        if first.is_none() {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            *first = Some(msg);
        }
        Outcome::Error
    }
}

fn secs(name: &str, v: f64, min_exclusive_zero: bool) -> Result<Duration> {
    if !v.is_finite() || v < 0.0 || (min_exclusive_zero && v == 0.0) || v > 7.0 * 86_400.0 {
        let req = if min_exclusive_zero { "> 0" } else { ">= 0" };
        bail!("--{name} must be a number of seconds {req} and at most a week (got {v})");
    }
    Ok(Duration::from_secs_f64(v))
}

struct Config {
    rate: f64,
    warmup: Duration,
    duration: Duration,
    timeout: Duration,
    concurrency: usize,
}

fn load_urls(args: &Args) -> Result<Vec<Url>> {
    let base = Url::parse(&args.base).with_context(|| format!("--base {:?}", args.base))?;
    if base.scheme() != "http" {
        bail!("--base must be an http:// URL (got {:?})", args.base);
    }
    let base = args.base.trim_end_matches('/').to_string();
    let lines: Vec<(usize, String)> = match (&args.paths_file, &args.path) {
        (Some(file), _) => std::fs::read_to_string(file)
            .with_context(|| format!("reading --paths-file {}", file.display()))?
            .lines()
            .enumerate()
            .map(|(n, l)| (n + 1, l.trim().to_string()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
            .collect(),
        (None, Some(p)) => vec![(0, p.trim().to_string())],
        (None, None) => bail!("give --paths-file FILE or --path /PATH"),
    };
    let mut urls = Vec::with_capacity(lines.len());
    for (n, p) in lines {
        let whence = if n == 0 { "--path".to_string() } else { format!("paths file line {n}") };
        if !p.starts_with('/') {
            bail!("{whence}: path must start with '/' (got {p:?})");
        }
        let url = Url::parse(&format!("{base}{p}")).with_context(|| format!("{whence}: {p:?}"))?;
        urls.push(url);
    }
    if urls.is_empty() {
        bail!("no paths to request (the paths file is empty)");
    }
    Ok(urls)
}

fn build_client(args: &Args, timeout: Duration) -> Result<Client> {
    let mut headers = HeaderMap::new();
    for h in &args.headers {
        let (name, value) = h.split_once(':').with_context(|| format!("--header {h:?}: expected 'Name: value'"))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .with_context(|| format!("--header {h:?}: bad header name"))?;
        let value = HeaderValue::from_str(value.trim()).with_context(|| format!("--header {h:?}: bad header value"))?;
        headers.append(name, value);
    }
    Client::builder()
        .default_headers(headers)
        .timeout(timeout)
        .connect_timeout(timeout)
        .pool_max_idle_per_host(args.concurrency)
        .tcp_nodelay(true)
        .build()
        .context("building the HTTP client")
}

/// Open loop: a dedicated thread releases slot `i` at `start + i/rate`;
/// requests run on the tokio runtime, at most `concurrency` at once.
/// Returns the number of measured slots never sent (counted as errors).
async fn open_loop(shared: Arc<Shared>, cfg: &Config, start: Instant) -> u64 {
    let window_start = start + cfg.warmup;
    let sched_end = window_start + cfg.duration;
    let total = ((cfg.warmup + cfg.duration).as_secs_f64() * cfg.rate).ceil() as u64;
    let slot_at = {
        let rate = cfg.rate;
        move |i: u64| start + Duration::from_secs_f64(i as f64 / rate)
    };
    let (tx, mut rx) = mpsc::channel::<(u64, Instant)>(cfg.concurrency.max(64) * 4);
    let stop = Arc::new(AtomicBool::new(false));
    let stop_t = stop.clone();
    let dispatcher = std::thread::spawn(move || {
        let mut unsent_measured = 0u64;
        for i in 0..total {
            let at = slot_at(i);
            if at >= sched_end {
                break;
            }
            let now = Instant::now();
            if at > now {
                std::thread::sleep(at - now);
            }
            if stop_t.load(Ordering::Relaxed) || tx.blocking_send((i, at)).is_err() {
                unsent_measured +=
                    (i..total).map(slot_at).filter(|t| *t >= window_start && *t < sched_end).count() as u64;
                break;
            }
        }
        unsent_measured
    });

    let sem = Arc::new(Semaphore::new(cfg.concurrency));
    let drain_deadline = tokio::time::Instant::from_std(sched_end + cfg.timeout);
    let mut dropped = 0u64;
    loop {
        let slot = tokio::select! {
            s = rx.recv() => s,
            _ = tokio::time::sleep_until(drain_deadline) => None,
        };
        let Some((i, at)) = slot else { break };
        let permit = tokio::select! {
            p = sem.clone().acquire_owned() => p.ok(),
            _ = tokio::time::sleep_until(drain_deadline) => None,
        };
        let Some(permit) = permit else {
            if at >= window_start {
                dropped += 1;
            }
            break;
        };
        let sh = shared.clone();
        tokio::spawn(async move {
            sh.request(i, at).await;
            drop(permit);
        });
    }
    stop.store(true, Ordering::Relaxed);
    // Count anything already queued but not started, then let the dispatcher see the closed channel.
    rx.close();
    while let Ok((_, at)) = rx.try_recv() {
        if at >= window_start {
            dropped += 1;
        }
    }
    drop(rx);
    dropped += tokio::task::spawn_blocking(move || dispatcher.join().unwrap_or(0)).await.unwrap_or(0);
    // Wait for in-flight requests (each is bounded by the client timeout).
    let all = u32::try_from(cfg.concurrency).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(cfg.timeout + Duration::from_secs(1), sem.acquire_many(all)).await;
    dropped
}

/// Closed loop: `concurrency` workers send back to back until the window ends.
async fn closed_loop(shared: Arc<Shared>, cfg: &Config, start: Instant) {
    let end = start + cfg.warmup + cfg.duration;
    let next = Arc::new(AtomicU64::new(0));
    let mut workers = Vec::with_capacity(cfg.concurrency);
    for _ in 0..cfg.concurrency {
        let sh = shared.clone();
        let next = next.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let now = Instant::now();
                if now >= end {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                sh.request(i, now).await;
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
}

/// Nearest-rank percentile of sorted microsecond samples, in ms.
fn pct_ms(sorted_us: &[u64], p: f64) -> Option<f64> {
    if sorted_us.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted_us.len() as f64).ceil() as usize;
    let idx = rank.clamp(1, sorted_us.len()) - 1;
    Some(sorted_us[idx] as f64 / 1000.0)
}

fn fmt_ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".to_string(), |v| format!("{v:.3}"))
}

fn us(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

fn run(args: Args) -> Result<ExitCode> {
    if !args.rate.is_finite() || args.rate < 0.0 || args.rate > 1_000_000.0 {
        bail!("--rate must be between 0 and 1000000 requests/s (got {})", args.rate);
    }
    let warmup = secs("warmup", args.warmup, false)?;
    let duration = secs("duration", args.duration, true)?;
    let timeout = secs("timeout", args.timeout, true)?;
    if args.concurrency == 0 || args.concurrency > 100_000 {
        bail!("--concurrency must be between 1 and 100000 (got {})", args.concurrency);
    }
    if args.threads == 0 || args.threads > 256 {
        bail!("--threads must be between 1 and 256 (got {})", args.threads);
    }
    if args.label.is_empty() || args.label.chars().any(char::is_whitespace) {
        bail!("--label must be non-empty and contain no whitespace (got {:?})", args.label);
    }
    if !args.max_error_pct.is_finite() || args.max_error_pct < 0.0 {
        bail!("--max-error-pct must be >= 0 (got {})", args.max_error_pct);
    }
    let urls = load_urls(&args)?;
    let client = build_client(&args, timeout)?;
    let cfg = Config { rate: args.rate, warmup, duration, timeout, concurrency: args.concurrency };

    let rt = if args.threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_all().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(args.threads).enable_all().build()
    }
    .context("starting the tokio runtime")?;

    let open = cfg.rate > 0.0;
    eprintln!(
        "loadgen[{}]: {}, {:.1}s warm-up + {:.1}s measured, concurrency {}, {} path(s)",
        args.label,
        if open { format!("open loop at {} req/s", cfg.rate) } else { "closed loop (max throughput)".to_string() },
        cfg.warmup.as_secs_f64(),
        cfg.duration.as_secs_f64(),
        cfg.concurrency,
        urls.len()
    );

    let expected = if open { (cfg.rate * (cfg.warmup + cfg.duration).as_secs_f64()) as usize + 16 } else { 4096 };
    let shared = Arc::new(Shared {
        client,
        urls,
        records: Mutex::new(Vec::with_capacity(expected.min(10_000_000))),
        first_error: Mutex::new(None),
        first_non2xx: Mutex::new(None),
    });

    let start = Instant::now();
    let dropped = rt.block_on(async {
        if open {
            open_loop(shared.clone(), &cfg, start).await
        } else {
            closed_loop(shared.clone(), &cfg, start).await;
            0
        }
    });
    drop(rt);

    let window_start = start + cfg.warmup;
    let window_end = window_start + cfg.duration;
    let records = std::mem::take(&mut *shared.records.lock().unwrap_or_else(|e| e.into_inner()));
    let measured: Vec<Record> =
        records.into_iter().filter(|r| r.scheduled >= window_start && r.scheduled < window_end).collect();
    let count = |o: Outcome| measured.iter().filter(|r| r.outcome == o).count() as u64;
    let errors = count(Outcome::Error) + dropped;
    let non2xx = count(Outcome::Non2xx);
    let requests = measured.len() as u64 + dropped;
    let answered: Vec<&Record> = measured.iter().filter(|r| r.outcome != Outcome::Error).collect();
    let mut lat: Vec<u64> = answered.iter().map(|r| us(r.done - r.scheduled)).collect();
    let mut service: Vec<u64> = answered.iter().map(|r| us(r.done - r.sent)).collect();
    let mut lag: Vec<u64> = measured.iter().map(|r| us(r.sent - r.scheduled)).collect();
    lat.sort_unstable();
    service.sort_unstable();
    lag.sort_unstable();
    let last_done = answered.iter().map(|r| r.done).max().unwrap_or(window_end).max(window_end);
    let span = (last_done - window_start).as_secs_f64();
    let achieved_rps = answered.len() as f64 / span;

    let (p50, p95, p99, max) = (pct_ms(&lat, 50.0), pct_ms(&lat, 95.0), pct_ms(&lat, 99.0), pct_ms(&lat, 100.0));
    if args.json {
        let j = serde_json::json!({
            "label": args.label,
            "requests": requests,
            "errors": errors,
            "non2xx": non2xx,
            "achieved_rps": (achieved_rps * 10.0).round() / 10.0,
            "p50_ms": p50,
            "p95_ms": p95,
            "p99_ms": p99,
            "max_ms": max,
            "mode": if open { "open" } else { "closed" },
            "target_rps": cfg.rate,
            "duration_s": cfg.duration.as_secs_f64(),
            "warmup_s": cfg.warmup.as_secs_f64(),
            "concurrency": cfg.concurrency,
            "unsent": dropped,
            "service_p50_ms": pct_ms(&service, 50.0),
            "service_p99_ms": pct_ms(&service, 99.0),
            "send_lag_p99_ms": pct_ms(&lag, 99.0),
        });
        println!("{j}");
    } else {
        println!(
            "{}  {}  {}  {}  {:.1}  {}  {}  {}  {}",
            args.label,
            requests,
            errors,
            non2xx,
            achieved_rps,
            fmt_ms(p50),
            fmt_ms(p95),
            fmt_ms(p99),
            fmt_ms(max)
        );
    }

    if let Some(e) = shared.first_error.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        eprintln!("loadgen[{}]: first error: {e}", args.label);
    }
    if let Some(e) = shared.first_non2xx.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
        eprintln!("loadgen[{}]: first non-2xx: {e}", args.label);
    }
    if dropped > 0 {
        eprintln!(
            "loadgen[{}]: {dropped} scheduled request(s) could not be sent before the drain deadline (counted as errors)",
            args.label
        );
    }
    if requests == 0 {
        eprintln!("loadgen[{}]: no requests in the measured window", args.label);
        return Ok(ExitCode::FAILURE);
    }
    let bad_pct = (errors + non2xx) as f64 * 100.0 / requests as f64;
    if bad_pct > args.max_error_pct {
        eprintln!(
            "loadgen[{}]: {bad_pct:.2}% of requests failed (errors + non-2xx), limit {}%",
            args.label, args.max_error_pct
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("loadgen: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles() {
        let v: Vec<u64> = (1..=100).map(|x| x * 1000).collect();
        assert_eq!(pct_ms(&v, 50.0), Some(50.0));
        assert_eq!(pct_ms(&v, 99.0), Some(99.0));
        assert_eq!(pct_ms(&v, 100.0), Some(100.0));
        assert_eq!(pct_ms(&[], 50.0), None);
        assert_eq!(pct_ms(&[7000], 0.0), Some(7.0));
    }
}
