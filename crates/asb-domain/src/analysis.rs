//! Analysis for analysts and senior officers, as rules: calendar months as asked for, area codes,
//! the categories trends are counted by (published records have none: "unknown"), the
//! year-on-year change, and the repeat and acute victim rules the victims list applies. Pure.

use crate::policy::{PolicyMeta, RepeatVictimPolicy, VulnerabilityPolicy};
use crate::verdict::window_words;
use crate::FieldError;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A calendar month (UTC), written `YYYY-MM` as police.uk writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: i32,
    /// 1–12.
    month: u32,
}

impl Month {
    /// The month of `year` and `month` (1–12).
    pub fn new(year: i32, month: u32) -> Option<Month> {
        ((1..=12).contains(&month) && (1900..=2200).contains(&year)).then_some(Month { year, month })
    }

    /// The month the moment falls in (UTC).
    pub fn of(t: DateTime<Utc>) -> Month {
        Month { year: t.year(), month: t.month() }
    }

    pub fn year(self) -> i32 {
        self.year
    }

    pub fn month(self) -> u32 {
        self.month
    }

    /// The month `n` months later (earlier for negative `n`).
    pub fn plus(self, n: i32) -> Month {
        let index = self.year * 12 + self.month as i32 - 1 + n;
        Month { year: index.div_euclid(12), month: index.rem_euclid(12) as u32 + 1 }
    }

    /// How many months from `self` to `other` (negative when `other` is earlier).
    pub fn until(self, other: Month) -> i32 {
        (other.year * 12 + other.month as i32) - (self.year * 12 + self.month as i32)
    }

    /// The same month a year earlier.
    pub fn year_before(self) -> Month {
        self.plus(-12)
    }

    /// The first instant of the month, UTC.
    pub fn start(self) -> DateTime<Utc> {
        NaiveDate::from_ymd_opt(self.year, self.month, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc())
            .unwrap_or_default()
    }

    /// "Nov 2026".
    pub fn label(self) -> String {
        self.start().format("%b %Y").to_string()
    }

    /// The month as a number, `year * 100 + month` (202611): how the store keys its monthly
    /// counts (ordered as months are, and cheap to compare).
    pub fn number(self) -> i64 {
        i64::from(self.year) * 100 + i64::from(self.month)
    }

    /// The month `number` names, if it names one.
    pub fn from_number(n: i64) -> Option<Month> {
        Month::new(i32::try_from(n / 100).ok()?, u32::try_from(n % 100).ok()?)
    }

    /// Every month from `self` to `to`, both included.
    pub fn through(self, to: Month) -> Vec<Month> {
        (0..=self.until(to)).map(|i| self.plus(i)).collect()
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl FromStr for Month {
    type Err = String;
    fn from_str(s: &str) -> Result<Month, String> {
        let bad = || format!("'{}' is not a month; write it as YYYY-MM, like 2026-04", s.trim());
        let t = s.trim();
        let (y, m) = t.split_once('-').ok_or_else(bad)?;
        if y.len() != 4 || m.len() != 2 || !y.bytes().chain(m.bytes()).all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        Month::new(y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?).ok_or_else(bad)
    }
}

impl Serialize for Month {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The months asked for: `from` and `to` (inclusive, `YYYY-MM`), by default the `default_len`
/// months to `now`'s; at most `max_len` months. Every bad field is named.
pub fn month_range(
    from: Option<&str>,
    to: Option<&str>,
    now: DateTime<Utc>,
    default_len: u32,
    max_len: u32,
) -> Result<(Month, Month), Vec<FieldError>> {
    let parse = |field: &str, v: Option<&str>| -> Result<Option<Month>, FieldError> {
        match v.map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => s.parse().map(Some).map_err(|e| FieldError::new(field, e)),
        }
    };
    let mut errors = Vec::new();
    let to = parse("to", to).map_err(|e| errors.push(e)).ok().flatten().unwrap_or(Month::of(now));
    let from =
        parse("from", from).map_err(|e| errors.push(e)).ok().flatten().unwrap_or(to.plus(1 - default_len as i32));
    if errors.is_empty() && from > to {
        errors.push(FieldError::new("from", "The first month must not be after the last"));
    }
    if errors.is_empty() && from.until(to) >= max_len as i32 {
        errors.push(FieldError::new("from", format!("Ask for at most {max_len} months at a time")));
    }
    if errors.is_empty() {
        Ok((from, to))
    } else {
        Err(errors)
    }
}

/// An area (local authority) code as given: an ONS code such as `E09000007`, or a borough's
/// organisation code, `MPS-E09000007`. Returns the ONS code, upper case.
pub fn area_code(given: &str) -> Result<String, String> {
    let t = given.trim().to_ascii_uppercase();
    let code = t.strip_prefix("MPS-").unwrap_or(&t);
    let ok = code.len() == 9 && code.starts_with(['E', 'W', 'S', 'N']) && code[1..].bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(code.to_string())
    } else {
        Err(format!(
            "'{}' is not an area code; give the local authority's ONS code, like E09000007 for Camden",
            given.trim()
        ))
    }
}

/// The categories trends are counted by, with their labels. Published police.uk records carry
/// no NSIR category: they count as `unknown`.
pub const CATEGORIES: [(&str, &str); 4] =
    [("personal", "Personal"), ("nuisance", "Nuisance"), ("environmental", "Environmental"), ("unknown", "Not known")];

/// The category a stored value counts under.
pub fn category_key(stored: Option<&str>) -> &'static str {
    let s = stored.map(str::trim).unwrap_or("");
    CATEGORIES.iter().map(|(k, _)| *k).find(|k| k.eq_ignore_ascii_case(s)).unwrap_or("unknown")
}

/// This month against the same month a year earlier.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct YearOnYear {
    /// The count in the same month a year earlier.
    pub previous: i64,
    /// This month's count less that one.
    pub change: i64,
    /// The change as a percentage of the year-earlier count, to one decimal place; `None` when
    /// there was nothing a year earlier to compare with.
    pub change_pct: Option<f64>,
}

pub fn year_on_year(current: i64, previous: i64) -> YearOnYear {
    let change = current - previous;
    let change_pct = (previous != 0).then(|| (change as f64 * 1000.0 / previous as f64).round() / 10.0);
    YearOnYear { previous, change, change_pct }
}

impl YearOnYear {
    /// "+12 (+10.8%)", "−3 (−20.0%)", "+5 (none a year earlier)", "no change".
    pub fn words(&self) -> String {
        let sign = |v: f64| {
            if v > 0.0 {
                "+"
            } else if v < 0.0 {
                "−"
            } else {
                ""
            }
        };
        let n = format!("{}{}", sign(self.change as f64), self.change.abs());
        match self.change_pct {
            _ if self.change == 0 && self.previous != 0 => "no change".into(),
            Some(p) => format!("{n} ({}{:.1}%)", sign(p), p.abs()),
            None if self.change == 0 => "none either year".into(),
            None => format!("{n} (none a year earlier)"),
        }
    }
}

/// The acute-victim rule's settings (`acute-victim.toml`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AcuteVictimPolicy {
    #[serde(flatten)]
    pub meta: PolicyMeta,
    pub window_days: i64,
    pub min_reports: i64,
}

impl AcuteVictimPolicy {
    pub fn check(&self) -> Result<(), String> {
        if self.window_days <= 0 || self.window_days > 3 * 365 {
            return Err("window_days must be between 1 and 1095".into());
        }
        if self.min_reports < 2 {
            return Err("min_reports must be at least 2".into());
        }
        Ok(())
    }
}

/// What the store counts for one person, for the victim rules.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct VictimCounts {
    /// Reports with the person as the victim in the repeat-victim window.
    pub repeat_window_reports: i64,
    /// Reports with the person as the victim in the acute window.
    pub acute_window_reports: i64,
    /// The latest report in the known-vulnerable window assessed at a listed risk level…
    pub assessed_on: Option<String>,
    /// …and the latest given the vulnerable qualifier, with the person as other than a subject.
    pub qualified_on: Option<String>,
}

/// One person judged by the victim rules.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VictimVerdict {
    pub repeat: bool,
    pub vulnerable: bool,
    pub acute: bool,
    /// The rules applied, as `id vN`.
    pub rules: Vec<String>,
    pub reason: String,
}

/// The rules the victims list applies: repeat victim (from the repeat-victim policy, counting
/// reports as the victim), known vulnerable and acute.
#[derive(Debug, Clone, Copy)]
pub struct VictimRules<'a> {
    pub repeat: &'a RepeatVictimPolicy,
    pub vulnerable: &'a VulnerabilityPolicy,
    pub acute: &'a AcuteVictimPolicy,
}

/// A rule as the page and the API state it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleText {
    pub rule: String,
    pub version: u32,
    pub text: String,
}

impl<'a> VictimRules<'a> {
    pub fn of(p: &'a crate::Policies) -> VictimRules<'a> {
        VictimRules { repeat: &p.repeat_victim, vulnerable: &p.vulnerability, acute: &p.acute_victim }
    }

    /// Reports as the victim in the window that make a repeat victim: the earlier reports the
    /// repeat-victim rule asks for, and the one that repeats them.
    pub fn repeat_min_reports(&self) -> i64 {
        self.repeat.min_earlier_reports as i64 + 1
    }

    pub fn describe(&self) -> Vec<RuleText> {
        let levels: Vec<&str> = self.vulnerable.levels.iter().map(|l| l.as_str()).collect();
        vec![
            RuleText {
                rule: self.repeat.meta.id.clone(),
                version: self.repeat.meta.version,
                text: format!(
                    "Repeat victim: {} or more reports of ASB, to any agency, with the person as the victim in the last {} — {}.",
                    self.repeat_min_reports(),
                    window_words(self.repeat.window_days),
                    self.repeat.meta.cite()
                ),
            },
            RuleText {
                rule: self.vulnerable.meta.id.clone(),
                version: self.vulnerable.meta.version,
                text: format!(
                    "Known vulnerable: on a report in the last {}, with the person as other than the subject, assessed {} risk or given qualifier {} (vulnerable) — {}.",
                    window_words(self.vulnerable.window_days),
                    levels.join(" or "),
                    self.vulnerable.qualifier,
                    self.vulnerable.meta.cite()
                ),
            },
            RuleText {
                rule: self.acute.meta.id.clone(),
                version: self.acute.meta.version,
                text: format!(
                    "Acute victim: known vulnerable and {} or more reports with the person as the victim in the last {} — {}.",
                    self.acute.min_reports,
                    window_words(self.acute.window_days),
                    self.acute.meta.cite()
                ),
            },
        ]
    }

    pub fn judge(&self, c: &VictimCounts) -> VictimVerdict {
        let repeat = c.repeat_window_reports >= self.repeat_min_reports();
        let vulnerable = c.assessed_on.is_some() || c.qualified_on.is_some();
        let acute = vulnerable && c.acute_window_reports >= self.acute.min_reports;
        let mut parts = vec![format!(
            "{} as the victim in the last {}{}",
            plural(c.repeat_window_reports, "report", "reports"),
            window_words(self.repeat.window_days),
            if repeat { ": a repeat victim" } else { "" }
        )];
        parts.push(match (&c.assessed_on, &c.qualified_on) {
            (Some(r), _) => format!("known vulnerable (assessed medium or high risk on {r})"),
            (None, Some(r)) => {
                format!("known vulnerable (recorded as vulnerable, {}, on {r})", self.vulnerable.qualifier)
            }
            (None, None) => "not known to be vulnerable".into(),
        });
        parts.push(if acute {
            format!(
                "acute: vulnerable with {} reports in the last {}",
                c.acute_window_reports,
                window_words(self.acute.window_days)
            )
        } else {
            format!(
                "not acute ({} of the {} reports in {} the acute rule needs{})",
                c.acute_window_reports,
                self.acute.min_reports,
                window_words(self.acute.window_days),
                if vulnerable { "" } else { ", with vulnerability" }
            )
        });
        let cite = |m: &PolicyMeta| m.cite();
        VictimVerdict {
            repeat,
            vulnerable,
            acute,
            rules: [&self.repeat.meta, &self.vulnerable.meta, &self.acute.meta]
                .iter()
                .map(|m| format!("{} v{}", m.id, m.version))
                .collect(),
            reason: format!(
                "{} — {}, {}, {}",
                capital(&parts.join("; ")),
                cite(&self.repeat.meta),
                cite(&self.vulnerable.meta),
                cite(&self.acute.meta)
            ),
        }
    }
}

fn plural(n: i64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policies;
    use chrono::TimeZone;

    #[test]
    fn months_parse_strictly_and_count() {
        let m: Month = "2026-11".parse().unwrap();
        assert_eq!(m.to_string(), "2026-11");
        assert_eq!(m.plus(2).to_string(), "2027-01");
        assert_eq!(m.plus(-11).to_string(), "2025-12");
        assert_eq!(m.year_before().to_string(), "2025-11");
        assert_eq!(m.label(), "Nov 2026");
        assert_eq!("2026-01".parse::<Month>().unwrap().until(m), 10);
        assert_eq!(m.start(), Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap());
        assert_eq!("2025-12".parse::<Month>().unwrap().through(m.plus(-10)).len(), 2);
        for bad in ["2026-13", "2026-00", "26-11", "2026/11", "2026-1", "november", ""] {
            assert!(bad.parse::<Month>().unwrap_err().contains("YYYY-MM"), "{bad}");
        }
    }

    #[test]
    fn month_ranges_default_and_name_bad_fields() {
        let now = Utc.with_ymd_and_hms(2026, 11, 26, 10, 0, 0).unwrap();
        let (f, t) = month_range(None, None, now, 12, 60).unwrap();
        assert_eq!((f.to_string(), t.to_string()), ("2025-12".into(), "2026-11".into()));
        let e = month_range(Some("2026-13"), Some("x"), now, 12, 60).unwrap_err();
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["to", "from"]);
        assert_eq!(month_range(Some("2026-11"), Some("2026-10"), now, 12, 60).unwrap_err()[0].field, "from");
        assert!(month_range(Some("2020-01"), Some("2026-11"), now, 12, 60).unwrap_err()[0].message.contains("60"));
        assert!(month_range(Some("2021-12"), Some("2026-11"), now, 12, 60).is_ok(), "60 months exactly");
    }

    #[test]
    fn area_codes() {
        assert_eq!(area_code(" e09000007 ").unwrap(), "E09000007");
        assert_eq!(area_code("MPS-E09000007").unwrap(), "E09000007");
        assert_eq!(area_code("W06000015").unwrap(), "W06000015");
        for bad in ["Camden", "E0900000", "X09000007", "E09000007X"] {
            assert!(area_code(bad).unwrap_err().contains("ONS code"), "{bad}");
        }
    }

    #[test]
    fn categories_and_year_on_year() {
        assert_eq!(category_key(Some("Nuisance")), "nuisance");
        assert_eq!(category_key(None), "unknown");
        assert_eq!(category_key(Some("burglary")), "unknown");
        let y = year_on_year(12, 10);
        assert_eq!((y.previous, y.change, y.change_pct), (10, 2, Some(20.0)));
        assert_eq!(y.words(), "+2 (+20.0%)");
        assert_eq!(year_on_year(2, 3).change_pct, Some(-33.3));
        assert_eq!(year_on_year(2, 3).words(), "−1 (−33.3%)");
        assert_eq!(year_on_year(5, 0).change_pct, None);
        assert_eq!(year_on_year(5, 0).words(), "+5 (none a year earlier)");
        assert_eq!(year_on_year(4, 4).words(), "no change");
        assert_eq!(year_on_year(0, 0).words(), "none either year");
    }

    #[test]
    fn repeat_vulnerable_and_acute_victims() {
        let p = Policies::defaults();
        let rules = VictimRules::of(&p);
        assert_eq!(rules.repeat_min_reports(), 2);
        let once =
            rules.judge(&VictimCounts { repeat_window_reports: 1, acute_window_reports: 1, ..Default::default() });
        assert!(!once.repeat && !once.acute);
        let twice =
            rules.judge(&VictimCounts { repeat_window_reports: 2, acute_window_reports: 2, ..Default::default() });
        assert!(twice.repeat && !twice.vulnerable && !twice.acute);
        assert!(
            twice.reason.starts_with("2 reports as the victim in the last 12 months: a repeat victim"),
            "{}",
            twice.reason
        );
        // Ten reports but not known vulnerable: not acute.
        let many =
            rules.judge(&VictimCounts { repeat_window_reports: 10, acute_window_reports: 10, ..Default::default() });
        assert!(many.repeat && !many.acute, "{many:?}");
        assert!(many.reason.contains("with vulnerability"), "{}", many.reason);
        // Vulnerable with nine: not acute; with ten: acute.
        let v = |n| VictimCounts {
            repeat_window_reports: n,
            acute_window_reports: n,
            assessed_on: Some("ASB-26-0000012".into()),
            qualified_on: None,
        };
        assert!(!rules.judge(&v(9)).acute);
        let acute = rules.judge(&v(10));
        assert!(acute.acute && acute.vulnerable, "{acute:?}");
        assert!(acute.reason.contains("assessed medium or high risk on ASB-26-0000012"), "{}", acute.reason);
        assert!(acute.reason.contains("acute victim rule v1"), "{}", acute.reason);
        assert_eq!(acute.rules, ["repeat-victim v1", "known-vulnerable v1", "acute-victim v1"]);
        let q = rules.judge(&VictimCounts { assessed_on: None, qualified_on: Some("ASB-26-0000001".into()), ..v(10) });
        assert!(q.acute && q.reason.contains("recorded as vulnerable, 635, on ASB-26-0000001"), "{}", q.reason);
        let texts = rules.describe();
        assert_eq!(texts.len(), 3);
        assert!(texts[2].text.starts_with("Acute victim: known vulnerable and 10 or more reports"), "{:?}", texts[2]);
        assert!(texts[1].text.contains("medium or high") && texts[1].text.contains("635"), "{:?}", texts[1]);
    }

    #[test]
    fn a_bad_acute_rule_is_refused() {
        let mut a = Policies::defaults().acute_victim;
        a.min_reports = 1;
        assert!(a.check().unwrap_err().contains("min_reports"));
    }
}
