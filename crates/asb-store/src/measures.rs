//! The inspection measures (DOMAIN.md §6), by force, borough and month: risk questions
//! completed at first contact, repeat victims flagged at first contact (or later, or not at
//! all), supervisory reviews on time, the dip sample's pass rate, opening/closing code
//! disagreement, and the median time to the victim's first update. Each is one aggregate query
//! grouped by month and borough (indexes on receipt and due times), so a year of a large force
//! costs a handful of queries, never one per incident; the domain does the arithmetic.

use crate::engine::{on, Db, Ts};
use crate::supervision::police_kinds;
use crate::{read_only, Result, Store, StoreError};
use asb_domain::supervision::{median, share};
use asb_domain::{FieldError, Policies, Qualifier};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// The figures for one area and period.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Figures {
    /// Police-recorded ASB contacts received.
    pub contacts: i64,
    /// Of which, the risk questions were completed at first contact.
    pub risk_completed: i64,
    pub risk_completed_share: Option<f64>,
    /// Contacts from a victim who had reported in the previous 12 months (a repeat victim).
    pub repeat_victims: i64,
    /// Of which, flagged as a repeat (qualifier 610) when the report was taken…
    pub repeat_flagged_at_first_contact: i64,
    /// …flagged later, by a supervisor's review…
    pub repeat_flagged_later: i64,
    /// …or never flagged.
    pub repeat_not_flagged: i64,
    pub repeat_flagged_at_first_contact_share: Option<f64>,
    /// Supervisory reviews that fell due (done, or overdue and not done).
    pub reviews_due: i64,
    pub reviews_on_time: i64,
    pub reviews_on_time_share: Option<f64>,
    /// Dip-sampled records checked, and those passing every checklist item.
    pub dip_checked: i64,
    pub dip_passed: i64,
    pub dip_pass_rate: Option<f64>,
    /// Contacts whose category or type now differs from the opening one.
    pub reclassified: i64,
    pub code_disagreement_share: Option<f64>,
    /// Contacts whose victim has been updated at least once, and the median hours to the first.
    pub victims_updated: i64,
    pub first_update_median_hours: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct MonthFigures {
    pub month: String,
    #[serde(flatten)]
    pub figures: Figures,
}

#[derive(Debug, Clone, Serialize)]
pub struct AreaMeasures {
    pub code: String,
    pub name: String,
    pub total: Figures,
    pub months: Vec<MonthFigures>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Measures {
    /// First and last month covered (`YYYY-MM`, UTC months).
    pub from: String,
    pub to: String,
    pub months: Vec<String>,
    pub as_at: DateTime<Utc>,
    pub force: AreaMeasures,
    /// Each borough with any figures (all 32 unless one was asked for).
    pub boroughs: Vec<AreaMeasures>,
    /// What each measure counts, in words.
    pub definitions: BTreeMap<&'static str, &'static str>,
}

pub const DEFINITIONS: [(&str, &str); 6] = [
    ("risk_completed_share", "Share of police-recorded contacts whose risk questions were all answered when the report was taken (records imported without their answers count when an assessment was recorded)."),
    ("repeat_flagged_at_first_contact_share", "Of contacts from victims who had reported ASB (to any agency) in the previous 12 months, the share flagged as a repeat (qualifier 610) when the report was taken; the rest were flagged later by a supervisor or not at all. By month of the contact."),
    ("reviews_on_time_share", "Of supervisory reviews that fell due in the month (done, or overdue and still not done), the share done by their due time."),
    ("dip_pass_rate", "Of dip-sampled records checked, the share passing every checklist item. By month the record was received."),
    ("code_disagreement_share", "Share of police-recorded contacts whose category or type now differs from the one it opened with (recording consistency)."),
    ("first_update_median_hours", "Median hours from the report to the victim's first update, over contacts whose victim has been updated. Hourly up to two days, then by whole day."),
];

/// Raw counts for one (month, borough) cell; figures are computed when the cells are summed.
#[derive(Debug, Clone, Default)]
struct Cell {
    contacts: i64,
    risk_completed: i64,
    reclassified: i64,
    repeat: i64,
    repeat_first: i64,
    repeat_later: i64,
    reviews_due: i64,
    reviews_on_time: i64,
    dip_checked: i64,
    dip_passed: i64,
    delays: BTreeMap<i64, i64>,
}

impl Cell {
    fn add(&mut self, o: &Cell) {
        self.contacts += o.contacts;
        self.risk_completed += o.risk_completed;
        self.reclassified += o.reclassified;
        self.repeat += o.repeat;
        self.repeat_first += o.repeat_first;
        self.repeat_later += o.repeat_later;
        self.reviews_due += o.reviews_due;
        self.reviews_on_time += o.reviews_on_time;
        self.dip_checked += o.dip_checked;
        self.dip_passed += o.dip_passed;
        for (k, v) in &o.delays {
            *self.delays.entry(*k).or_default() += v;
        }
    }

    fn figures(&self) -> Figures {
        let hist: Vec<(i64, i64)> = self.delays.iter().map(|(k, v)| (*k, *v)).collect();
        Figures {
            contacts: self.contacts,
            risk_completed: self.risk_completed,
            risk_completed_share: share(self.risk_completed, self.contacts),
            repeat_victims: self.repeat,
            repeat_flagged_at_first_contact: self.repeat_first,
            repeat_flagged_later: self.repeat_later,
            repeat_not_flagged: self.repeat - self.repeat_first - self.repeat_later,
            repeat_flagged_at_first_contact_share: share(self.repeat_first, self.repeat),
            reviews_due: self.reviews_due,
            reviews_on_time: self.reviews_on_time,
            reviews_on_time_share: share(self.reviews_on_time, self.reviews_due),
            dip_checked: self.dip_checked,
            dip_passed: self.dip_passed,
            dip_pass_rate: share(self.dip_passed, self.dip_checked),
            reclassified: self.reclassified,
            code_disagreement_share: share(self.reclassified, self.contacts),
            victims_updated: hist.iter().map(|(_, n)| n).sum(),
            first_update_median_hours: median(&hist),
        }
    }
}

type Key = (String, Option<i64>);

/// The first instant of the month of `d`.
fn month_start(d: NaiveDate) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(d.year(), d.month(), 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc())
        .unwrap_or_default()
}

fn next_month(d: NaiveDate) -> NaiveDate {
    let (y, m) = if d.month() == 12 { (d.year() + 1, 1) } else { (d.year(), d.month() + 1) };
    NaiveDate::from_ymd_opt(y, m, 1).unwrap_or(d)
}

/// The buckets of a delay in seconds, as `asb_domain::supervision::delay_bucket` (in SQL).
fn bucket_sql(seconds: &str) -> String {
    let h = format!("(({seconds}) / 3600)");
    format!("CASE WHEN {h} < 0 THEN 0 WHEN {h} < 48 THEN {h} WHEN {h} < 2160 THEN ({h} / 24) * 24 ELSE 2160 END")
}

async fn cells(
    db: &mut Db<'_>,
    questions: i64,
    now: DateTime<Utc>,
    from: Ts,
    to: Ts,
    borough: Option<i64>,
) -> Result<BTreeMap<Key, Cell>> {
    let e = db.engine();
    let mut out: BTreeMap<Key, Cell> = BTreeMap::new();
    let filter = |col: &str, n: usize| {
        if borough.is_some() {
            format!("AND {col} = ${n}")
        } else {
            format!("AND ${n} IS NULL")
        }
    };

    // Contacts, risk questions completed, reclassified.
    let sql = format!(
        "SELECT {m}, p.borough_id, COUNT(*),
                SUM(CASE WHEN i.risk_questionnaire IS NOT NULL
                          AND (i.risk_answers IS NULL OR {keys} >= $4) THEN 1 ELSE 0 END),
                SUM(CASE WHEN i.category <> i.opening_category OR i.type_code <> i.opening_type_code THEN 1 ELSE 0 END)
         FROM incidents i JOIN organisations o ON o.id = i.organisation_id AND o.kind IN {police}
         LEFT JOIN places p ON p.id = i.place_id
         WHERE i.received_at >= $1 AND i.received_at < $2 {f}
         GROUP BY 1, 2",
        m = e.month("i.received_at"),
        police = police_kinds(),
        keys = e.json_keys("i.risk_answers"),
        f = filter("p.borough_id", 3),
    );
    let rows: Vec<(String, Option<i64>, i64, i64, i64)> =
        on!(db, c => sqlx::query_as(&sql).bind(from).bind(to).bind(borough).bind(questions).fetch_all(c).await?);
    for (m, b, n, risk, recat) in rows {
        let c = out.entry((m, b)).or_default();
        c.contacts += n;
        c.risk_completed += risk;
        c.reclassified += recat;
    }

    // Repeat victims: each victim's previous report (as victim or reporter, to any agency).
    let repeat = Qualifier::REPEAT.code();
    let sql = format!(
        "WITH links AS (
            SELECT ip.incident_id, ip.role, i.received_at, i.organisation_id, i.place_id,
                   LAG(i.received_at) OVER w AS prev_at, LAG(ip.incident_id) OVER w AS prev_id
            FROM incident_people ip JOIN incidents i ON i.id = ip.incident_id
            WHERE ip.person_id IS NOT NULL AND ip.role IN ('victim', 'reporter')
              AND i.received_at >= $1 AND i.received_at < $2
            WINDOW w AS (PARTITION BY ip.person_id ORDER BY i.received_at, ip.incident_id)
         )
         SELECT {m}, p.borough_id, COUNT(*),
                SUM(CASE WHEN EXISTS (SELECT 1 FROM incident_qualifiers q WHERE q.incident_id = l.incident_id
                     AND q.code = {repeat} AND q.applied_by IN ('system', 'user')) THEN 1 ELSE 0 END),
                SUM(CASE WHEN EXISTS (SELECT 1 FROM incident_qualifiers q WHERE q.incident_id = l.incident_id
                     AND q.code = {repeat} AND q.applied_by NOT IN ('system', 'user')) THEN 1 ELSE 0 END)
         FROM links l JOIN organisations o ON o.id = l.organisation_id AND o.kind IN {police}
         LEFT JOIN places p ON p.id = l.place_id
         WHERE l.role = 'victim' AND l.received_at >= $3 AND l.prev_at IS NOT NULL AND l.prev_id <> l.incident_id
           AND {now} - {prev} <= 31536000 {f}
         GROUP BY 1, 2",
        m = e.month("l.received_at"),
        police = police_kinds(),
        now = e.epoch("l.received_at"),
        prev = e.epoch("l.prev_at"),
        f = filter("p.borough_id", 4),
    );
    let rows: Vec<(String, Option<i64>, i64, i64, i64)> = on!(db, c => sqlx::query_as(&sql)
        .bind(Ts(from.0 - Duration::days(365)))
        .bind(to)
        .bind(from)
        .bind(borough)
        .fetch_all(c)
        .await?);
    for (m, b, n, first, later) in rows {
        let c = out.entry((m, b)).or_default();
        c.repeat += n;
        c.repeat_first += first;
        c.repeat_later += later;
    }

    // Reviews that fell due in the month: done (on time or late), or overdue and not done.
    let sql = format!(
        "SELECT {m}, borough_id, COUNT(*), SUM(CASE WHEN on_time THEN 1 ELSE 0 END) FROM reviews
         WHERE due_at >= $1 AND due_at < $2 {f} GROUP BY 1, 2",
        m = e.month("due_at"),
        f = filter("borough_id", 3),
    );
    let rows: Vec<(String, Option<i64>, i64, i64)> =
        on!(db, c => sqlx::query_as(&sql).bind(from).bind(to).bind(borough).fetch_all(c).await?);
    for (m, b, n, ok) in rows {
        let c = out.entry((m, b)).or_default();
        c.reviews_due += n;
        c.reviews_on_time += ok;
    }
    let sql = format!(
        "SELECT {m}, borough_id, COUNT(*) FROM review_schedule
         WHERE due_at >= $1 AND due_at < $2 AND due_at < $4 {f} GROUP BY 1, 2",
        m = e.month("due_at"),
        f = filter("borough_id", 3),
    );
    let rows: Vec<(String, Option<i64>, i64)> =
        on!(db, c => sqlx::query_as(&sql).bind(from).bind(to).bind(borough).bind(Ts(now)).fetch_all(c).await?);
    for (m, b, n) in rows {
        out.entry((m, b)).or_default().reviews_due += n;
    }

    // The dip sample, by month the record was received.
    let sql = format!(
        "SELECT {m}, borough_id, COUNT(*), SUM(CASE WHEN passed THEN 1 ELSE 0 END) FROM dip_samples
         WHERE received_at >= $1 AND received_at < $2 AND checked_at IS NOT NULL {f} GROUP BY 1, 2",
        m = e.month("received_at"),
        f = filter("borough_id", 3),
    );
    let rows: Vec<(String, Option<i64>, i64, i64)> =
        on!(db, c => sqlx::query_as(&sql).bind(from).bind(to).bind(borough).fetch_all(c).await?);
    for (m, b, n, ok) in rows {
        let c = out.entry((m, b)).or_default();
        c.dip_checked += n;
        c.dip_passed += ok;
    }

    // Time to the victim's first update, as a histogram of delays.
    let sql = format!(
        "SELECT {m}, f.borough_id, {bucket}, COUNT(*) FROM (
            SELECT u.incident_id, u.received_at, u.borough_id, MIN(u.at) AS first_at FROM victim_updates u
            WHERE u.received_at >= $1 AND u.received_at < $2 {f}
            GROUP BY u.incident_id, u.received_at, u.borough_id) f
         GROUP BY 1, 2, 3",
        m = e.month("f.received_at"),
        bucket = bucket_sql(&format!("{} - {}", e.epoch("f.first_at"), e.epoch("f.received_at"))),
        f = filter("u.borough_id", 3),
    );
    let rows: Vec<(String, Option<i64>, i64, i64)> =
        on!(db, c => sqlx::query_as(&sql).bind(from).bind(to).bind(borough).fetch_all(c).await?);
    for (m, b, hours, n) in rows {
        *out.entry((m, b)).or_default().delays.entry(hours).or_default() += n;
    }
    Ok(out)
}

impl Store {
    /// The measures for the months `from` to `to` (inclusive; any day of each), for the whole
    /// force and each borough, or for one borough (by code) when given.
    pub async fn measures(
        &self,
        policies: &Policies,
        now: DateTime<Utc>,
        from: NaiveDate,
        to: NaiveDate,
        borough: Option<&str>,
    ) -> Result<Measures> {
        let (start, end) = (month_start(from), month_start(next_month(to)));
        let mut months = Vec::new();
        let mut m = NaiveDate::from_ymd_opt(from.year(), from.month(), 1).unwrap_or(from);
        while month_start(m) < end {
            months.push(m.format("%Y-%m").to_string());
            m = next_month(m);
        }
        let questions = policies.risk.questions.len() as i64;
        let orgs = self.organisations().await?;
        let borough_id = match borough {
            None => None,
            Some(code) => Some(
                orgs.iter()
                    .find(|o| o.kind == "borough" && o.code.eq_ignore_ascii_case(code.trim()))
                    .map(|o| o.id)
                    .ok_or_else(|| {
                        StoreError::Invalid(vec![FieldError::new(
                            "borough",
                            format!("'{code}' is not a borough; use its code, like MPS-E09000007"),
                        )])
                    })?,
            ),
        };
        let cells = read_only!(self, |db| cells(db, questions, now, Ts(start), Ts(end), borough_id).await)?;

        let area = |code: String, name: String, pick: &dyn Fn(Option<i64>) -> bool| {
            let mut total = Cell::default();
            let mut by_month: BTreeMap<&str, Cell> = months.iter().map(|m| (m.as_str(), Cell::default())).collect();
            for ((m, b), c) in &cells {
                if pick(*b) {
                    total.add(c);
                    if let Some(slot) = by_month.get_mut(m.as_str()) {
                        slot.add(c);
                    }
                }
            }
            AreaMeasures {
                code,
                name,
                total: total.figures(),
                months: by_month
                    .into_iter()
                    .map(|(m, c)| MonthFigures { month: m.to_string(), figures: c.figures() })
                    .collect(),
            }
        };
        let force = orgs.iter().find(|o| o.kind == "force");
        let (force_code, force_name) =
            force.map_or(("MPS".into(), "Metropolitan Police Service".into()), |o| (o.code.clone(), o.name.clone()));
        let force = area(force_code, force_name, &|_| true);
        let mut boroughs: Vec<AreaMeasures> = orgs
            .iter()
            .filter(|o| o.kind == "borough" && borough_id.is_none_or(|b| b == o.id))
            .map(|o| area(o.code.clone(), o.name.clone(), &|b| b == Some(o.id)))
            .collect();
        boroughs.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Measures {
            from: months.first().cloned().unwrap_or_default(),
            to: months.last().cloned().unwrap_or_default(),
            months,
            as_at: now,
            force,
            boroughs,
            definitions: DEFINITIONS.into_iter().collect(),
        })
    }
}
