//! Supervision (DOMAIN.md §4 and §6): which reviews an incident needs and when each falls due,
//! what a review may change (and that only a supervisor's review may lower a risk level), the
//! weekly quality dip sample, and the arithmetic of the inspection measures. Pure: the store
//! reads and writes, these functions decide.

use crate::access::Role;
use crate::contact::FieldError;
use crate::policy::PolicyMeta;
use crate::risk::RiskLevel;
use crate::{Category, Qualifier, TypeCode};
use chrono::{DateTime, Datelike, Duration, NaiveDate, TimeZone, Utc, Weekday};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

// ---- the policy ------------------------------------------------------------------------------

/// `policies/supervision.toml`: the review cadence and the dip sample.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SupervisionPolicy {
    #[serde(flatten)]
    pub meta: PolicyMeta,
    /// A new medium- or high-risk incident is first reviewed within this many hours of recording.
    pub first_review_hours: i64,
    /// Who does that first review.
    pub first_review_role: Role,
    /// Days between reviews, by level and rank. A level not listed needs no review.
    pub cadence: BTreeMap<RiskLevel, BTreeMap<Role, i64>>,
    pub dip_sample: DipSamplePolicy,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DipSamplePolicy {
    pub per_borough_per_week: usize,
    pub checklist: Vec<ChecklistItem>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ChecklistItem {
    pub id: String,
    pub question: String,
}

impl SupervisionPolicy {
    pub(crate) fn check(&self) -> Result<(), String> {
        if !(1..=168).contains(&self.first_review_hours) {
            return Err("first_review_hours must be between 1 and 168 (a week)".into());
        }
        if !self.first_review_role.is_supervisor() {
            return Err(format!("first_review_role '{}' is not a supervisory rank", self.first_review_role));
        }
        for (level, ranks) in &self.cadence {
            for (role, days) in ranks {
                if !role.is_supervisor() {
                    return Err(format!("cadence.{level}: '{role}' is not a supervisory rank"));
                }
                if !(1..=365).contains(days) {
                    return Err(format!("cadence.{level}.{role} must be between 1 and 365 days"));
                }
            }
        }
        for level in [RiskLevel::Medium, RiskLevel::High] {
            if self.cadence.get(&level).is_none_or(|r| r.is_empty()) {
                return Err(format!(
                    "cadence.{level} must name at least one rank: {level}-risk incidents are reviewed"
                ));
            }
        }
        let d = &self.dip_sample;
        if !(1..=100).contains(&d.per_borough_per_week) {
            return Err("dip_sample.per_borough_per_week must be between 1 and 100".into());
        }
        if d.checklist.is_empty() {
            return Err("dip_sample.checklist must hold at least one item".into());
        }
        let ids: BTreeSet<&str> = d.checklist.iter().map(|c| c.id.as_str()).collect();
        if ids.len() != d.checklist.len() {
            return Err("dip_sample.checklist ids must be unique".into());
        }
        Ok(())
    }

    /// The ranks that review an incident at `level`, with their days between reviews.
    pub fn ranks(&self, level: RiskLevel) -> Vec<(Role, i64)> {
        self.cadence.get(&level).map(|r| r.iter().map(|(k, v)| (*k, *v)).collect()).unwrap_or_default()
    }

    /// Whether an incident at `level` is reviewed at all.
    pub fn needs_review(&self, level: RiskLevel) -> bool {
        !self.ranks(level).is_empty()
    }

    /// The reviews a new incident at `level` needs, recorded at `recorded_at`: the first review
    /// within `first_review_hours`, then each other rank's first review on its cadence.
    pub fn initial_schedule(&self, level: RiskLevel, recorded_at: DateTime<Utc>) -> Vec<Due> {
        if !self.needs_review(level) {
            return vec![];
        }
        let mut due = vec![Due {
            role: self.first_review_role,
            kind: DueKind::First,
            due_at: recorded_at + Duration::hours(self.first_review_hours),
        }];
        for (role, days) in self.ranks(level) {
            if role != self.first_review_role {
                due.push(Due { role, kind: DueKind::Cadence, due_at: recorded_at + Duration::days(days) });
            }
        }
        due
    }

    /// The schedule after `role` reviewed at `at`, leaving the incident at `level`: that rank's
    /// next review falls due on its cadence; ranks not in the level's cadence drop out; a rank
    /// the level adds is due on its cadence from now; a rank still due keeps its date unless the
    /// new cadence brings it sooner. A level with no cadence (standard) needs no further review.
    pub fn after_review(&self, pending: &[Due], role: Role, at: DateTime<Utc>, level: RiskLevel) -> Vec<Due> {
        let mut next = Vec::new();
        for (rank, days) in self.ranks(level) {
            let cadence_due = at + Duration::days(days);
            if rank == role {
                next.push(Due { role: rank, kind: DueKind::Cadence, due_at: cadence_due });
                continue;
            }
            match pending.iter().find(|d| d.role == rank) {
                Some(d) if d.due_at <= cadence_due => next.push(d.clone()),
                Some(d) => next.push(Due { role: rank, kind: d.kind, due_at: cadence_due }),
                None => next.push(Due { role: rank, kind: DueKind::Cadence, due_at: cadence_due }),
            }
        }
        next.sort_by_key(|d| (d.due_at, d.role));
        next
    }
}

// ---- the schedule ----------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DueKind {
    /// The first review after recording.
    First,
    /// A review on the rank's cadence.
    Cadence,
}

impl DueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DueKind::First => "first",
            DueKind::Cadence => "cadence",
        }
    }
    pub fn parse(s: &str) -> DueKind {
        if s == "first" {
            DueKind::First
        } else {
            DueKind::Cadence
        }
    }
}

/// One review that falls due: by which rank, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Due {
    pub role: Role,
    pub kind: DueKind,
    pub due_at: DateTime<Utc>,
}

/// A review is overdue once its due time has passed: at exactly `due_at` it is still on time.
pub fn is_overdue(due_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    due_at < now
}

/// A review done at `reviewed_at` was on time if it was done by `due_at` (inclusive).
pub fn on_time(reviewed_at: DateTime<Utc>, due_at: DateTime<Utc>) -> bool {
    !is_overdue(due_at, reviewed_at)
}

/// The supervisory ranks among `roles`, lowest first.
pub fn supervisory(roles: &[Role]) -> Vec<Role> {
    Role::SUPERVISORS.into_iter().filter(|r| roles.contains(r)).collect()
}

/// The rank a reviewer acts in: the one asked for (which they must hold), else the rank they
/// hold whose review of this incident falls due first, else their highest rank.
pub fn acting_rank(roles: &[Role], pending: &[Due], requested: Option<Role>) -> Result<Role, FieldError> {
    let ranks = supervisory(roles);
    if ranks.is_empty() {
        return Err(FieldError::new(
            "role",
            "Only a sergeant, inspector or chief inspector can review an incident; your account holds none of those roles",
        ));
    }
    if let Some(r) = requested {
        return if ranks.contains(&r) {
            Ok(r)
        } else {
            Err(FieldError::new(
                "role",
                format!("You cannot review as {}: your account does not hold that rank", r.label()),
            ))
        };
    }
    let mut mine: Vec<&Due> = pending.iter().filter(|d| ranks.contains(&d.role)).collect();
    mine.sort_by_key(|d| d.due_at);
    Ok(mine.first().map(|d| d.role).unwrap_or(ranks[ranks.len() - 1]))
}

// ---- a review --------------------------------------------------------------------------------

/// An incident's classification: what a review confirms or changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Classification {
    pub category: Category,
    pub type_code: TypeCode,
    pub qualifiers: BTreeSet<Qualifier>,
    pub risk_level: Option<RiskLevel>,
}

/// A review as it arrives from a form or the API. A field left out is confirmed as it stands.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewInput {
    /// The rank the reviewer acts in (`sergeant`, `inspector`, `chief_inspector`); by default
    /// the rank of theirs whose review falls due first.
    pub role: Option<String>,
    pub category: Option<String>,
    pub type_code: Option<serde_json::Value>,
    pub qualifiers: Option<Vec<serde_json::Value>>,
    pub risk_level: Option<String>,
    /// Why: required for any change.
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidReview {
    pub role: Option<Role>,
    pub category: Option<Category>,
    pub type_code: Option<TypeCode>,
    pub qualifiers: Option<BTreeSet<Qualifier>>,
    pub risk_level: Option<RiskLevel>,
    pub reason: Option<String>,
}

impl ReviewInput {
    pub fn validate(&self) -> Result<ValidReview, Vec<FieldError>> {
        let mut errors = Vec::new();
        let blank = |s: &Option<String>| s.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
        let role = match blank(&self.role) {
            None => None,
            Some(r) => match r.parse::<Role>() {
                Ok(r) if r.is_supervisor() => Some(r),
                _ => {
                    errors.push(FieldError::new("role", "Choose a rank: sergeant, inspector or chief_inspector"));
                    None
                }
            },
        };
        let category = blank(&self.category)
            .and_then(|c| c.parse::<Category>().map_err(|e| errors.push(FieldError::new("category", e))).ok());
        let type_code = match &self.type_code {
            None | Some(serde_json::Value::Null) => None,
            Some(v) => match code_of(v) {
                Some(c) => TypeCode::new(c).map_err(|e| errors.push(FieldError::new("type_code", e))).ok(),
                None => {
                    errors.push(FieldError::new("type_code", "Give the type as its code, such as 211"));
                    None
                }
            },
        };
        let qualifiers = self.qualifiers.as_ref().map(|qs| {
            let mut set = BTreeSet::new();
            for (i, v) in qs.iter().enumerate() {
                match code_of(v).map(Qualifier::new) {
                    Some(Ok(q)) => {
                        set.insert(q);
                    }
                    Some(Err(e)) => errors.push(FieldError::new(format!("qualifiers[{i}]"), e)),
                    None => errors.push(FieldError::new(format!("qualifiers[{i}]"), "Give a qualifier as its code")),
                }
            }
            set
        });
        let risk_level = blank(&self.risk_level)
            .and_then(|l| l.parse::<RiskLevel>().map_err(|e| errors.push(FieldError::new("risk_level", e))).ok());
        let reason = blank(&self.reason);
        if reason.as_ref().is_some_and(|r| r.chars().count() > 2000) {
            errors.push(FieldError::new("reason", "Keep the reason under 2,000 characters"));
        }
        if errors.is_empty() {
            Ok(ValidReview { role, category, type_code, qualifiers, risk_level, reason })
        } else {
            Err(errors)
        }
    }
}

fn code_of(v: &serde_json::Value) -> Option<u16> {
    match v {
        serde_json::Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// One field a review changed, with its value before and after (as stored: category and level
/// names, codes, qualifier codes comma-separated).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub field: &'static str,
    pub old: Option<String>,
    pub new: Option<String>,
}

fn qualifier_text(qs: &BTreeSet<Qualifier>) -> String {
    qs.iter().map(|q| q.code().to_string()).collect::<Vec<_>>().join(",")
}

/// The rule for risk levels: a level may be raised with a reason by anyone recording or
/// reviewing; it may be lowered only in a review by a supervisory rank, with a reason.
pub fn check_level_change(
    from: Option<RiskLevel>,
    to: RiskLevel,
    reviewer: Option<Role>,
    reason: Option<&str>,
) -> Result<(), FieldError> {
    let lowering = from.is_some_and(|f| to < f);
    if lowering && !reviewer.is_some_and(Role::is_supervisor) {
        return Err(FieldError::new(
            "risk_level",
            "Only a sergeant, inspector or chief inspector can lower a risk level, in a supervisory review",
        ));
    }
    if from != Some(to) && reason.is_none_or(|r| r.trim().is_empty()) {
        let from = from.map_or("not assessed".to_string(), |f| f.to_string());
        let verb = if lowering { "lowering" } else { "changing" };
        return Err(FieldError::new("reason", format!("Give a reason for {verb} the risk level from {from} to {to}")));
    }
    Ok(())
}

/// What a review by `reviewer` changes in `current`, or every reason it cannot: a change needs
/// a reason, and lowering the risk level needs a supervisory rank.
pub fn review_changes(
    current: &Classification,
    review: &ValidReview,
    reviewer: Option<Role>,
) -> Result<Vec<Change>, Vec<FieldError>> {
    let mut changes = Vec::new();
    if let Some(c) = review.category.filter(|c| *c != current.category) {
        changes.push(Change {
            field: "category",
            old: Some(current.category.as_str().into()),
            new: Some(c.as_str().into()),
        });
    }
    if let Some(t) = review.type_code.filter(|t| *t != current.type_code) {
        changes.push(Change {
            field: "type_code",
            old: Some(current.type_code.code().to_string()),
            new: Some(t.code().to_string()),
        });
    }
    if let Some(q) = review.qualifiers.as_ref().filter(|q| **q != current.qualifiers) {
        changes.push(Change {
            field: "qualifiers",
            old: Some(qualifier_text(&current.qualifiers)),
            new: Some(qualifier_text(q)),
        });
    }
    let mut errors = Vec::new();
    if let Some(l) = review.risk_level.filter(|l| Some(*l) != current.risk_level) {
        if let Err(e) = check_level_change(current.risk_level, l, reviewer, review.reason.as_deref()) {
            errors.push(e);
        }
        changes.push(Change {
            field: "risk_level",
            old: current.risk_level.map(|l| l.as_str().into()),
            new: Some(l.as_str().into()),
        });
    }
    if !changes.is_empty() && review.reason.is_none() && !errors.iter().any(|e| e.field == "reason") {
        let fields: Vec<&str> = changes.iter().map(|c| field_label(c.field)).collect();
        errors.push(FieldError::new("reason", format!("Give a reason for changing the {}", fields.join(", "))));
    }
    if errors.is_empty() {
        Ok(changes)
    } else {
        Err(errors)
    }
}

/// A changed field as a page names it.
pub fn field_label(field: &str) -> &'static str {
    match field {
        "category" => "category",
        "type_code" => "type",
        "qualifiers" => "qualifiers",
        "risk_level" => "risk level",
        _ => "record",
    }
}

// ---- the dip sample --------------------------------------------------------------------------

/// An ISO week, `2026-W48`: the unit a dip sample is drawn for (weeks run Monday to Sunday, UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IsoWeek {
    pub year: i32,
    pub week: u32,
}

impl IsoWeek {
    pub fn of(t: DateTime<Utc>) -> IsoWeek {
        let w = t.date_naive().iso_week();
        IsoWeek { year: w.year(), week: w.week() }
    }

    /// The last complete week before `now`: the week a sample drawn now is of.
    pub fn last_complete(now: DateTime<Utc>) -> IsoWeek {
        IsoWeek::of(now - Duration::days(7))
    }

    pub fn monday(self) -> NaiveDate {
        NaiveDate::from_isoywd_opt(self.year, self.week, Weekday::Mon).unwrap_or_default()
    }

    /// [start, end): Monday 00:00 to the next Monday 00:00, UTC.
    pub fn bounds(self) -> (DateTime<Utc>, DateTime<Utc>) {
        let start = Utc.from_utc_datetime(&self.monday().and_hms_opt(0, 0, 0).unwrap_or_default());
        (start, start + Duration::days(7))
    }

    pub fn previous(self) -> IsoWeek {
        IsoWeek::of(self.bounds().0 - Duration::days(1))
    }
}

impl fmt::Display for IsoWeek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-W{:02}", self.year, self.week)
    }
}

impl std::str::FromStr for IsoWeek {
    type Err = String;
    fn from_str(s: &str) -> Result<IsoWeek, String> {
        let bad = || format!("'{}' is not a week; write it as year and ISO week, like 2026-W48", s.trim());
        let (y, w) = s.trim().split_once("-W").ok_or_else(bad)?;
        let (year, week) = (y.parse::<i32>().map_err(|_| bad())?, w.parse::<u32>().map_err(|_| bad())?);
        NaiveDate::from_isoywd_opt(year, week, Weekday::Mon).ok_or_else(bad)?;
        Ok(IsoWeek { year, week })
    }
}

/// A fixed pseudo-random rank of an incident within a week's draw: the same incident and week
/// always give the same rank, so a redraw gives the same sample and anyone can check it.
pub fn sample_rank(incident_id: i64, week: IsoWeek) -> u64 {
    // FNV-1a of the week's name, mixed with the id by SplitMix64's finaliser.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in week.to_string().bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let mut z = h ^ (incident_id as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The sample: the `n` candidates of lowest rank, in rank order.
pub fn draw(candidates: &[i64], week: IsoWeek, n: usize) -> Vec<i64> {
    let mut ranked: Vec<(u64, i64)> = candidates.iter().map(|id| (sample_rank(*id, week), *id)).collect();
    ranked.sort_unstable();
    ranked.dedup_by_key(|r| r.1);
    ranked.into_iter().take(n).map(|r| r.1).collect()
}

/// Check a record's answers against the checklist: every item answered yes or no, nothing else.
/// Returns whether it passed: every answer yes.
pub fn check_answers(checklist: &[ChecklistItem], answers: &BTreeMap<String, bool>) -> Result<bool, Vec<FieldError>> {
    let mut errors: Vec<FieldError> = checklist
        .iter()
        .filter(|c| !answers.contains_key(&c.id))
        .map(|c| FieldError::new(format!("answers.{}", c.id), format!("Answer: {}", c.question)))
        .collect();
    for k in answers.keys() {
        if !checklist.iter().any(|c| &c.id == k) {
            errors.push(FieldError::new(format!("answers.{k}"), format!("'{k}' is not on the checklist")));
        }
    }
    if errors.is_empty() {
        Ok(passes(answers))
    } else {
        Err(errors)
    }
}

/// The pass rule: a record passes when every checklist answer is yes.
pub fn passes(answers: &BTreeMap<String, bool>) -> bool {
    !answers.is_empty() && answers.values().all(|a| *a)
}

// ---- measure arithmetic ----------------------------------------------------------------------

/// `part / whole`, or nothing when there is nothing to divide.
pub fn share(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// Delays are counted in buckets: whole hours up to two days, whole days after (in hours), and
/// everything past 90 days together, so a month's delays aggregate to a few hundred rows at most.
pub fn delay_bucket(seconds: i64) -> i64 {
    let hours = seconds.max(0) / 3600;
    if hours < 48 {
        hours
    } else {
        (hours / 24).min(90) * 24
    }
}

/// The median of values given as (value, count), sorted or not: for an even count, the mean of
/// the two middle values.
pub fn median(histogram: &[(i64, i64)]) -> Option<f64> {
    let mut h: Vec<(i64, i64)> = histogram.iter().copied().filter(|(_, n)| *n > 0).collect();
    h.sort_unstable();
    let total: i64 = h.iter().map(|(_, n)| n).sum();
    if total == 0 {
        return None;
    }
    // The values at 0-based positions (total-1)/2 and total/2.
    let nth = |k: i64| {
        let mut seen = 0;
        for (v, n) in &h {
            seen += n;
            if k < seen {
                return *v;
            }
        }
        h[h.len() - 1].0
    };
    Some((nth((total - 1) / 2) + nth(total / 2)) as f64 / 2.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policies;
    use chrono::TimeZone;

    fn p() -> SupervisionPolicy {
        Policies::defaults().supervision
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap()
    }

    #[test]
    fn the_shipped_cadence_is_the_published_one() {
        let p = p();
        assert_eq!(p.first_review_hours, 24);
        assert_eq!(p.ranks(RiskLevel::Medium), vec![(Role::Sergeant, 28), (Role::Inspector, 56)]);
        assert_eq!(
            p.ranks(RiskLevel::High),
            vec![(Role::Sergeant, 14), (Role::Inspector, 28), (Role::ChiefInspector, 56)]
        );
        assert!(!p.needs_review(RiskLevel::Standard));
        assert_eq!(p.dip_sample.checklist.len(), 4);
        assert_eq!(p.meta.cite(), "supervisory review cadence rule v1");
    }

    #[test]
    fn a_new_incident_is_first_reviewed_by_a_sergeant_within_24_hours() {
        let p = p();
        assert_eq!(p.initial_schedule(RiskLevel::Standard, t0()), vec![]);
        assert_eq!(
            p.initial_schedule(RiskLevel::Medium, t0()),
            vec![
                Due { role: Role::Sergeant, kind: DueKind::First, due_at: t0() + Duration::hours(24) },
                Due { role: Role::Inspector, kind: DueKind::Cadence, due_at: t0() + Duration::days(56) },
            ]
        );
        let high = p.initial_schedule(RiskLevel::High, t0());
        let roles: Vec<(Role, i64)> = high.iter().map(|d| (d.role, (d.due_at - t0()).num_hours())).collect();
        assert_eq!(roles, vec![(Role::Sergeant, 24), (Role::Inspector, 28 * 24), (Role::ChiefInspector, 56 * 24)]);
    }

    #[test]
    fn overdue_only_after_the_due_time_not_at_it() {
        let due = t0() + Duration::hours(24);
        assert!(!is_overdue(due, due - Duration::seconds(1)));
        assert!(!is_overdue(due, due), "at exactly the due time it is still on time");
        assert!(is_overdue(due, due + Duration::seconds(1)));
        assert!(on_time(due, due));
        assert!(!on_time(due + Duration::seconds(1), due));
    }

    #[test]
    fn after_a_review_the_rank_is_next_due_on_its_cadence() {
        let p = p();
        let pending = p.initial_schedule(RiskLevel::High, t0());
        let at = t0() + Duration::hours(20);
        let next = p.after_review(&pending, Role::Sergeant, at, RiskLevel::High);
        assert_eq!(next[0], Due { role: Role::Sergeant, kind: DueKind::Cadence, due_at: at + Duration::days(14) });
        // The others keep their dates.
        assert!(next.contains(&pending[1]) && next.contains(&pending[2]));
        // An inspector's review moves only the inspector's.
        let later = p.after_review(&next, Role::Inspector, at + Duration::days(3), RiskLevel::High);
        assert!(later.contains(&Due {
            role: Role::Inspector,
            kind: DueKind::Cadence,
            due_at: at + Duration::days(3 + 28)
        }));
        assert!(later.contains(&next[0]));
    }

    #[test]
    fn a_changed_level_changes_who_reviews() {
        let p = p();
        let at = t0() + Duration::hours(2);
        let pending = p.initial_schedule(RiskLevel::High, t0());
        // High → medium: the chief inspector drops out; the inspector keeps the sooner date.
        let medium = p.after_review(&pending, Role::Sergeant, at, RiskLevel::Medium);
        let got: Vec<(Role, DateTime<Utc>)> = medium.iter().map(|d| (d.role, d.due_at)).collect();
        assert_eq!(got, vec![(Role::Inspector, t0() + Duration::days(28)), (Role::Sergeant, at + Duration::days(28))]);
        // Medium → high: the chief inspector joins on the cadence from now; the inspector's
        // 56 days shrink to 28 from now.
        let pending = p.initial_schedule(RiskLevel::Medium, t0());
        let high = p.after_review(&pending, Role::Sergeant, at, RiskLevel::High);
        let got: Vec<(Role, DateTime<Utc>)> = high.iter().map(|d| (d.role, d.due_at)).collect();
        assert_eq!(
            got,
            vec![
                (Role::Sergeant, at + Duration::days(14)),
                (Role::Inspector, at + Duration::days(28)),
                (Role::ChiefInspector, at + Duration::days(56)),
            ]
        );
        // Standard: no further review.
        assert_eq!(p.after_review(&pending, Role::Sergeant, at, RiskLevel::Standard), vec![]);
    }

    #[test]
    fn the_reviewer_acts_in_the_rank_due_first_or_the_one_asked_for() {
        let p = p();
        let pending = p.initial_schedule(RiskLevel::High, t0());
        assert_eq!(acting_rank(&[Role::Sergeant, Role::Inspector], &pending, None), Ok(Role::Sergeant));
        assert_eq!(acting_rank(&[Role::Inspector], &[], None), Ok(Role::Inspector));
        assert_eq!(
            acting_rank(&[Role::Sergeant, Role::Inspector], &pending, Some(Role::Inspector)),
            Ok(Role::Inspector)
        );
        assert_eq!(acting_rank(&[Role::Sergeant], &pending, Some(Role::Inspector)).unwrap_err().field, "role");
        assert_eq!(acting_rank(&[Role::CallHandler], &pending, None).unwrap_err().field, "role");
    }

    fn current() -> Classification {
        Classification {
            category: Category::Personal,
            type_code: TypeCode::new(204).unwrap(),
            qualifiers: [Qualifier::VULNERABLE].into_iter().collect(),
            risk_level: Some(RiskLevel::High),
        }
    }

    fn review(json: serde_json::Value) -> ValidReview {
        serde_json::from_value::<ReviewInput>(json).unwrap().validate().unwrap()
    }

    #[test]
    fn lowering_a_level_needs_a_supervisor_and_a_reason() {
        let lower = review(serde_json::json!({"risk_level": "medium"}));
        let e = review_changes(&current(), &lower, Some(Role::Sergeant)).unwrap_err();
        assert_eq!(e[0].field, "reason", "{e:?}");
        assert!(e[0].message.contains("from high to medium"), "{e:?}");
        let lower =
            review(serde_json::json!({"risk_level": "medium", "reason": "Threats were retracted; spoke to victim"}));
        let e = review_changes(&current(), &lower, Some(Role::CallHandler)).unwrap_err();
        assert_eq!(e[0].field, "risk_level");
        let e = review_changes(&current(), &lower, None).unwrap_err();
        assert_eq!(e[0].field, "risk_level");
        let changes = review_changes(&current(), &lower, Some(Role::Inspector)).unwrap();
        assert_eq!(changes, vec![Change { field: "risk_level", old: Some("high".into()), new: Some("medium".into()) }]);
        // The rule on its own: raising needs only a reason.
        assert!(check_level_change(Some(RiskLevel::Standard), RiskLevel::High, None, Some("new threats")).is_ok());
        assert_eq!(
            check_level_change(Some(RiskLevel::Standard), RiskLevel::High, None, None).unwrap_err().field,
            "reason"
        );
        assert!(check_level_change(Some(RiskLevel::High), RiskLevel::High, None, None).is_ok());
    }

    #[test]
    fn confirming_changes_nothing_and_any_change_needs_a_reason() {
        let same = review(
            serde_json::json!({"category": "personal", "type_code": 204, "qualifiers": [635], "risk_level": "high"}),
        );
        assert_eq!(review_changes(&current(), &same, Some(Role::Sergeant)).unwrap(), vec![]);
        assert_eq!(review_changes(&current(), &review(serde_json::json!({})), Some(Role::Sergeant)).unwrap(), vec![]);
        let recat = review(serde_json::json!({"category": "nuisance", "type_code": "211", "qualifiers": [635, 610]}));
        let e = review_changes(&current(), &recat, Some(Role::Sergeant)).unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].field, "reason");
        assert!(e[0].message.contains("category, type, qualifiers"), "{e:?}");
        let recat = ValidReview { reason: Some("Noise aimed at the street, not the caller".into()), ..recat };
        let c = review_changes(&current(), &recat, Some(Role::Sergeant)).unwrap();
        assert_eq!(c.iter().map(|c| c.field).collect::<Vec<_>>(), vec!["category", "type_code", "qualifiers"]);
        assert_eq!(c[2].old.as_deref(), Some("635"));
        assert_eq!(c[2].new.as_deref(), Some("610,635"));
    }

    #[test]
    fn bad_review_input_names_each_field() {
        let input: ReviewInput = serde_json::from_value(serde_json::json!({
            "role": "call_handler", "category": "noise", "type_code": 999, "qualifiers": [610, 1], "risk_level": "severe"
        }))
        .unwrap();
        let fields: Vec<String> = input.validate().unwrap_err().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, vec!["role", "category", "type_code", "qualifiers[1]", "risk_level"]);
    }

    #[test]
    fn weeks_are_iso_weeks() {
        let w = IsoWeek::of(t0());
        assert_eq!(w.to_string(), "2026-W48");
        assert_eq!("2026-W48".parse::<IsoWeek>(), Ok(w));
        assert!("2026-W54".parse::<IsoWeek>().is_err());
        assert!("48".parse::<IsoWeek>().is_err());
        let (start, end) = w.bounds();
        assert_eq!(start, Utc.with_ymd_and_hms(2026, 11, 23, 0, 0, 0).unwrap());
        assert_eq!(end - start, Duration::days(7));
        assert_eq!(IsoWeek::last_complete(t0()).to_string(), "2026-W47");
        assert_eq!("2027-W01".parse::<IsoWeek>().unwrap().previous().to_string(), "2026-W53");
    }

    #[test]
    fn the_dip_sample_is_the_same_on_every_draw_and_differs_by_week() {
        let w = IsoWeek { year: 2026, week: 47 };
        let ids: Vec<i64> = (1000..1300).collect();
        let a = draw(&ids, w, 5);
        assert_eq!(a.len(), 5);
        let mut reversed = ids.clone();
        reversed.reverse();
        assert_eq!(draw(&reversed, w, 5), a, "the order of the candidates does not matter");
        assert_ne!(draw(&ids, w.previous(), 5), a);
        // Ranks are spread: no clustering on the lowest ids.
        assert!(a.iter().any(|id| *id >= 1150), "{a:?}");
        assert_eq!(draw(&ids[..3], w, 5).len(), 3, "a quiet week gives what there is");
        assert_eq!(sample_rank(42, w), sample_rank(42, w));
    }

    #[test]
    fn a_record_passes_the_checklist_only_with_every_answer_yes() {
        let items = p().dip_sample.checklist;
        let all = |v: bool| items.iter().map(|c| (c.id.clone(), v)).collect::<BTreeMap<_, _>>();
        assert_eq!(check_answers(&items, &all(true)), Ok(true));
        let mut one_no = all(true);
        one_no.insert("told_next_steps".into(), false);
        assert_eq!(check_answers(&items, &one_no), Ok(false));
        let mut missing = all(true);
        missing.remove("risk_assessed");
        let e = check_answers(&items, &missing).unwrap_err();
        assert_eq!(e[0].field, "answers.risk_assessed");
        let mut extra = all(true);
        extra.insert("bogus".into(), true);
        assert_eq!(check_answers(&items, &extra).unwrap_err()[0].field, "answers.bogus");
        assert!(!passes(&BTreeMap::new()));
    }

    #[test]
    fn shares_and_medians() {
        assert_eq!(share(1, 4), Some(0.25));
        assert_eq!(share(0, 0), None);
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[(5, 1)]), Some(5.0));
        assert_eq!(median(&[(1, 1), (3, 1)]), Some(2.0));
        assert_eq!(median(&[(10, 1), (1, 2), (3, 0)]), Some(1.0), "unsorted; a zero count is no value");
        assert_eq!(median(&[(1, 2), (2, 2)]), Some(1.5));
        assert_eq!(median(&[(1, 2), (2, 1), (40, 2)]), Some(2.0));
        assert_eq!(delay_bucket(3599), 0);
        assert_eq!(delay_bucket(47 * 3600 + 10), 47);
        assert_eq!(delay_bucket(49 * 3600), 48);
        assert_eq!(delay_bucket(75 * 3600), 72);
        assert_eq!(delay_bucket(400 * 86_400), 90 * 24);
        assert_eq!(delay_bucket(-5), 0);
    }
}
