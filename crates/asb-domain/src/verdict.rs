//! The first-contact verdicts — repeat victim, repeat location, repeat subject, known vulnerable,
//! case-review progress — each with the rule id, version and a reason in plain English.

use crate::history::HistoryEntry;
use crate::policy::{
    CaseReviewPolicy, PolicyMeta, RepeatLocationPolicy, RepeatSubjectPolicy, RepeatVictimPolicy, VulnerabilityPolicy,
};
use chrono::{DateTime, Duration, Months, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Verdict {
    pub flag: bool,
    pub rule: String,
    pub version: u32,
    pub reason: String,
    /// References of the earlier reports that count, newest first.
    pub earlier: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CaseReview {
    pub qualifying_complaints: usize,
    pub threshold: usize,
    pub met: bool,
    pub rule: String,
    pub version: u32,
    pub reason: String,
    /// Whether the caller should be told about the case review now (Victims' Commissioner).
    pub tell_caller: bool,
}

pub fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// "12 months" for 365 days, "90 days" otherwise.
pub fn window_words(days: i64) -> String {
    if days > 0 && days % 365 == 0 {
        let years = days / 365;
        format!("{} months", years * 12)
    } else {
        format!("{days} days")
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Entries no older than `days` at `now` (a report exactly `days` days old counts; one a second
/// older does not) and not after `now`, one per reference, newest first.
fn within<'a>(
    entries: impl Iterator<Item = &'a HistoryEntry>,
    now: DateTime<Utc>,
    since: DateTime<Utc>,
) -> Vec<&'a HistoryEntry> {
    let mut seen = BTreeSet::new();
    let mut out: Vec<&HistoryEntry> = entries
        .filter(|e| e.received_at >= since && e.received_at <= now)
        .filter(|e| seen.insert(e.reference.clone()))
        .collect();
    out.sort_by(|a, b| b.received_at.cmp(&a.received_at).then(b.reference.cmp(&a.reference)));
    out
}

fn verdict(meta: &PolicyMeta, flag: bool, reason: String, earlier: &[&HistoryEntry]) -> Verdict {
    Verdict {
        flag,
        rule: meta.id.clone(),
        version: meta.version,
        reason: format!("{reason} — {}", meta.cite()),
        earlier: earlier.iter().map(|e| e.reference.clone()).collect(),
    }
}

fn partner_note(earlier: &[&HistoryEntry]) -> String {
    let partners: BTreeSet<&str> = earlier.iter().filter(|e| e.by_partner()).map(|e| e.organisation.as_str()).collect();
    if partners.is_empty() {
        String::new()
    } else {
        format!(", including reports to {}", partners.into_iter().collect::<Vec<_>>().join(" and "))
    }
}

/// Repeat victim: earlier reports by or about the caller, to any organisation, in the window.
/// `known` is false when no record matched the caller at all.
pub fn repeat_victim(p: &RepeatVictimPolicy, now: DateTime<Utc>, history: &[HistoryEntry], known: bool) -> Verdict {
    let since = now - Duration::days(p.window_days);
    let earlier = within(history.iter().filter(|e| e.role.is_some_and(|r| r.is_complainant())), now, since);
    let window = window_words(p.window_days);
    let flag = earlier.len() >= p.min_earlier_reports;
    let reason = if !known {
        "Caller not found in the records of any organisation".to_string()
    } else if earlier.is_empty() {
        format!("No earlier report by this caller in the last {window}")
    } else {
        format!(
            "{} report by this caller in {window} ({} earlier{})",
            ordinal(earlier.len() + 1),
            plural(earlier.len(), "report", "reports"),
            partner_note(&earlier)
        )
    };
    verdict(&p.meta, flag, reason, &earlier)
}

/// Repeat location: earlier reports at the address or within the radius, in the window.
/// `located` is false when no location has been given yet.
pub fn repeat_location(
    p: &RepeatLocationPolicy,
    now: DateTime<Utc>,
    history: &[HistoryEntry],
    located: bool,
) -> Verdict {
    let in_window = within(history.iter(), now, now - Duration::days(p.window_days)).len();
    repeat_location_counted(p, now, history, in_window, located)
}

/// Repeat location when the store counted the reports in the window itself and `newest` holds
/// only the most recent of them (busy places have hundreds).
pub fn repeat_location_counted(
    p: &RepeatLocationPolicy,
    now: DateTime<Utc>,
    newest: &[HistoryEntry],
    in_window: usize,
    located: bool,
) -> Verdict {
    let since = now - Duration::days(p.window_days);
    let earlier = within(newest.iter(), now, since);
    let count = in_window.max(earlier.len());
    let window = window_words(p.window_days);
    let flag = count >= p.min_earlier_reports;
    let reason = if !located {
        "No location given yet".to_string()
    } else {
        format!(
            "{} at or within {} m of this place in the last {window}{} (repeat at {})",
            plural(count, "earlier report", "earlier reports"),
            p.radius_m,
            partner_note(&earlier),
            p.min_earlier_reports
        )
    };
    verdict(&p.meta, flag, reason, &earlier)
}

/// Repeat subject: reports naming or describing the subject, in the window (this one included).
pub fn repeat_subject(
    p: &RepeatSubjectPolicy,
    now: DateTime<Utc>,
    history: &[HistoryEntry],
    including_this: bool,
) -> Verdict {
    let since = now - Duration::days(p.window_days);
    let earlier = within(history.iter().filter(|e| e.role == Some(crate::history::Role::Subject)), now, since);
    let total = earlier.len() + usize::from(including_this);
    let flag = total >= p.min_reports;
    let reason = format!(
        "Named or described as the subject in {} in the last {}",
        plural(total, "report", "reports"),
        window_words(p.window_days)
    );
    verdict(&p.meta, flag, reason, &earlier)
}

/// Known vulnerable: assessed at a listed level, or given the vulnerable qualifier, on an earlier
/// report in the window.
pub fn vulnerable(p: &VulnerabilityPolicy, now: DateTime<Utc>, history: &[HistoryEntry]) -> Verdict {
    let since = now - Duration::days(p.window_days);
    let hits = within(
        history.iter().filter(|e| {
            e.role != Some(crate::history::Role::Subject)
                && (e.risk_level.is_some_and(|l| p.levels.contains(&l)) || e.qualifiers.contains(&p.qualifier))
        }),
        now,
        since,
    );
    let reason = match hits.first() {
        None => format!(
            "No earlier medium or high risk assessment or vulnerable qualifier in the last {}",
            window_words(p.window_days)
        ),
        Some(e) => {
            let why = match e.risk_level {
                Some(l) if p.levels.contains(&l) => format!("assessed {l} risk"),
                _ => format!("recorded as vulnerable ({})", p.qualifier),
            };
            format!(
                "{} on {}{}",
                capital(&why),
                e.reference,
                if hits.len() > 1 {
                    format!(" and {}", plural(hits.len() - 1, "other report", "other reports"))
                } else {
                    String::new()
                }
            )
        }
    };
    verdict(&p.meta, !hits.is_empty(), reason, &hits)
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

/// Progress toward the ASB case review threshold: qualifying complaints (one per incident, to any
/// body) in the window. `including_this` counts the complaint being recorded now.
pub fn case_review(
    p: &CaseReviewPolicy,
    now: DateTime<Utc>,
    history: &[HistoryEntry],
    including_this: bool,
) -> CaseReview {
    let since = now.checked_sub_months(Months::new(p.window_months)).unwrap_or(now);
    let earlier = within(history.iter().filter(|e| e.role.is_some_and(|r| r.is_complainant())), now, since);
    let count = earlier.len() + usize::from(including_this);
    let met = count >= p.threshold;
    // "38 of 3" reads as a slip; past the threshold the count is said against it instead.
    let progress = if count > p.threshold {
        format!(
            "{count} qualifying complaints in the last {} months, over the threshold of {}",
            p.window_months, p.threshold
        )
    } else {
        format!("{count} of {} qualifying complaints in the last {} months", p.threshold, p.window_months)
    };
    let reason = format!("{progress}{}", if met { ": the threshold for an ASB case review is met" } else { "" });
    CaseReview {
        qualifying_complaints: count,
        threshold: p.threshold,
        met,
        rule: p.meta.id.clone(),
        version: p.meta.version,
        reason: format!("{reason} — {}", p.meta.cite()),
        tell_caller: count >= p.tell_victim_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Role;
    use crate::{Category, Policies, RiskLevel};
    use chrono::TimeZone;

    fn entry(reference: &str, at: DateTime<Utc>, role: Option<Role>) -> HistoryEntry {
        HistoryEntry {
            reference: reference.into(),
            received_at: at,
            category: Category::Personal,
            type_code: 204,
            risk_level: Some(RiskLevel::Standard),
            qualifiers: vec![],
            organisation: "Metropolitan Police Service".into(),
            organisation_kind: "force".into(),
            role,
            status: "open".into(),
            distance_m: None,
        }
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
    }

    #[test]
    fn repeat_victim_window_is_365_days_inclusive() {
        let p = Policies::defaults().repeat_victim;
        let at_365 = vec![entry("A", now() - Duration::days(365), Some(Role::Victim))];
        let at_366 = vec![entry("B", now() - Duration::days(366), Some(Role::Victim))];
        assert!(repeat_victim(&p, now(), &at_365, true).flag);
        let v = repeat_victim(&p, now(), &at_366, true);
        assert!(!v.flag);
        assert_eq!(v.reason, "No earlier report by this caller in the last 12 months — repeat victim rule v1");
    }

    #[test]
    fn repeat_victim_names_earlier_references_and_partners() {
        let p = Policies::defaults().repeat_victim;
        let mut council = entry("C", now() - Duration::days(10), Some(Role::Reporter));
        council.organisation = "London Borough of Camden".into();
        council.organisation_kind = "council".into();
        let h = vec![
            entry("A", now() - Duration::days(40), Some(Role::Victim)),
            council,
            entry("S", now() - Duration::days(5), Some(Role::Subject)),
        ];
        let v = repeat_victim(&p, now(), &h, true);
        assert!(v.flag);
        assert_eq!(v.earlier, vec!["C", "A"]);
        assert!(v.reason.starts_with("3rd report by this caller in 12 months"), "{}", v.reason);
        assert!(v.reason.contains("London Borough of Camden"), "{}", v.reason);
        assert_eq!((v.rule.as_str(), v.version), ("repeat-victim", 1));
    }

    #[test]
    fn repeat_location_needs_three_earlier_in_90_days() {
        let p = Policies::defaults().repeat_location;
        let mk = |n: usize, age: i64| {
            (0..n).map(|i| entry(&format!("L{i}"), now() - Duration::days(age), None)).collect::<Vec<_>>()
        };
        assert!(!repeat_location(&p, now(), &mk(2, 1), true).flag);
        assert!(repeat_location(&p, now(), &mk(3, 90), true).flag);
        assert!(!repeat_location(&p, now(), &mk(3, 91), true).flag);
        // The store may send only the newest entries with the full count.
        let v = repeat_location_counted(&p, now(), &mk(2, 1), 240, true);
        assert!(v.flag && v.reason.starts_with("240 earlier reports"), "{}", v.reason);
        assert_eq!(v.earlier.len(), 2);
    }

    #[test]
    fn vulnerable_from_earlier_risk_or_qualifier() {
        let p = Policies::defaults().vulnerability;
        let mut med = entry("M", now() - Duration::days(30), Some(Role::Victim));
        med.risk_level = Some(RiskLevel::Medium);
        assert!(vulnerable(&p, now(), &[med]).flag);
        let mut q = entry("Q", now() - Duration::days(30), Some(Role::Victim));
        q.qualifiers = vec![635];
        let v = vulnerable(&p, now(), &[q]);
        assert!(v.flag && v.reason.contains("635"), "{}", v.reason);
        assert!(!vulnerable(&p, now(), &[entry("S", now(), Some(Role::Victim))]).flag);
    }

    #[test]
    fn vulnerable_names_the_newest_assessment_and_counts_the_other_reports() {
        let p = Policies::defaults().vulnerability;
        let assessed = |r: &str, days: i64| {
            let mut e = entry(r, now() - Duration::days(days), Some(Role::Victim));
            e.risk_level = Some(RiskLevel::Medium);
            e
        };
        let v = vulnerable(&p, now(), &[assessed("A", 10), assessed("B", 20), assessed("C", 30)]);
        assert!(v.reason.starts_with("Assessed medium risk on A and 2 other reports — "), "{}", v.reason);
        let v = vulnerable(&p, now(), &[assessed("A", 10), assessed("B", 20)]);
        assert!(v.reason.starts_with("Assessed medium risk on A and 1 other report — "), "{}", v.reason);
    }

    #[test]
    fn case_review_counts_six_calendar_months() {
        let p = Policies::defaults().case_review;
        let h = vec![
            entry("A", Utc.with_ymd_and_hms(2026, 5, 26, 12, 0, 0).unwrap(), Some(Role::Victim)),
            entry("B", Utc.with_ymd_and_hms(2026, 5, 26, 11, 59, 59).unwrap(), Some(Role::Victim)),
            entry("C", now() - Duration::days(3), Some(Role::Reporter)),
        ];
        let c = case_review(&p, now(), &h, false);
        assert_eq!((c.qualifying_complaints, c.met), (2, false));
        assert!(c.tell_caller);
        let c = case_review(&p, now(), &h, true);
        assert_eq!((c.qualifying_complaints, c.threshold, c.met), (3, 3, true));
        assert!(
            c.reason.starts_with("3 of 3 qualifying complaints in the last 6 months: the threshold"),
            "{}",
            c.reason
        );
    }

    #[test]
    fn case_review_past_the_threshold_says_the_count_against_it() {
        let p = Policies::defaults().case_review;
        let h: Vec<HistoryEntry> =
            (1..=5).map(|d| entry(&format!("R{d}"), now() - Duration::days(d), Some(Role::Victim))).collect();
        let c = case_review(&p, now(), &h, false);
        assert_eq!((c.qualifying_complaints, c.met), (5, true));
        assert!(
            c.reason.starts_with(
                "5 qualifying complaints in the last 6 months, over the threshold of 3: the threshold for an ASB case review is met"
            ),
            "{}",
            c.reason
        );
    }

    #[test]
    fn ordinals() {
        assert_eq!(
            [1, 2, 3, 4, 11, 12, 13, 21, 22, 101].map(ordinal).join(","),
            "1st,2nd,3rd,4th,11th,12th,13th,21st,22nd,101st"
        );
    }
}
