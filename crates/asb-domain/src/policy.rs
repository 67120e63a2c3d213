//! Policies are data: versioned TOML files (the defaults in `policies/` are embedded here) that a
//! force can replace. Each rule keeps its id and version so every verdict can name them.

use crate::risk::Questionnaire;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Identity common to every policy file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PolicyMeta {
    pub id: String,
    pub version: u32,
    pub effective_from: chrono::NaiveDate,
    pub title: String,
    pub source: String,
}

impl PolicyMeta {
    /// "repeat victim rule v1", as a call handler reads it.
    pub fn cite(&self) -> String {
        // Lower-case the title as a phrase, but keep acronyms such as "ASB" as written.
        let title: Vec<String> = self
            .title
            .split(' ')
            .map(|w| {
                if w.len() > 1 && w.chars().all(|c| c.is_ascii_uppercase()) {
                    w.to_string()
                } else {
                    w.to_lowercase()
                }
            })
            .collect();
        format!("{} rule v{}", title.join(" "), self.version)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RepeatVictimPolicy {
    #[serde(flatten)]
    pub meta: PolicyMeta,
    pub window_days: i64,
    pub min_earlier_reports: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RepeatLocationPolicy {
    #[serde(flatten)]
    pub meta: PolicyMeta,
    pub window_days: i64,
    pub radius_m: f64,
    pub min_earlier_reports: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RepeatSubjectPolicy {
    #[serde(flatten)]
    pub meta: PolicyMeta,
    pub window_days: i64,
    pub min_reports: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct VulnerabilityPolicy {
    #[serde(flatten)]
    pub meta: PolicyMeta,
    pub window_days: i64,
    pub levels: Vec<crate::RiskLevel>,
    pub qualifier: u16,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CaseReviewPolicy {
    #[serde(flatten)]
    pub meta: PolicyMeta,
    pub threshold: usize,
    pub window_months: u32,
    pub tell_victim_at: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NextStepsPolicy {
    #[serde(flatten)]
    pub meta: PolicyMeta,
    pub levels: BTreeMap<crate::RiskLevel, String>,
    pub extras: NextStepsExtras,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NextStepsExtras {
    pub repeat: String,
    pub case_review: String,
}

/// Every policy the first-contact journey uses.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Policies {
    pub repeat_victim: RepeatVictimPolicy,
    pub repeat_location: RepeatLocationPolicy,
    pub repeat_subject: RepeatSubjectPolicy,
    pub vulnerability: VulnerabilityPolicy,
    pub case_review: CaseReviewPolicy,
    pub risk: Questionnaire,
    pub next_steps: NextStepsPolicy,
    pub supervision: crate::supervision::SupervisionPolicy,
    pub emerging_hotspot: crate::hotspots::EmergingPolicy,
    pub acute_victim: crate::analysis::AcuteVictimPolicy,
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
    #[error("policy file {0} is missing")]
    Missing(String),
}

/// The policy files, by file name, as shipped in `policies/`.
pub const DEFAULT_FILES: [(&str, &str); 10] = [
    ("repeat-victim.toml", include_str!("../../../policies/repeat-victim.toml")),
    ("repeat-location.toml", include_str!("../../../policies/repeat-location.toml")),
    ("repeat-subject.toml", include_str!("../../../policies/repeat-subject.toml")),
    ("vulnerability.toml", include_str!("../../../policies/vulnerability.toml")),
    ("case-review.toml", include_str!("../../../policies/case-review.toml")),
    ("risk-questionnaire.toml", include_str!("../../../policies/risk-questionnaire.toml")),
    ("next-steps.toml", include_str!("../../../policies/next-steps.toml")),
    ("supervision.toml", include_str!("../../../policies/supervision.toml")),
    ("emerging-hotspot.toml", include_str!("../../../policies/emerging-hotspot.toml")),
    ("acute-victim.toml", include_str!("../../../policies/acute-victim.toml")),
];

fn parse<T: serde::de::DeserializeOwned>(files: &BTreeMap<String, String>, name: &str) -> Result<T, PolicyError> {
    let text = files.get(name).ok_or_else(|| PolicyError::Missing(name.to_string()))?;
    toml::from_str(text).map_err(|e| PolicyError::Invalid { file: name.to_string(), message: e.to_string() })
}

impl Policies {
    /// The project defaults shipped with asb.
    pub fn defaults() -> Policies {
        let files = DEFAULT_FILES.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
        // The shipped files are tested below; failing here is a build defect, not bad input.
        Policies::from_files(&files).expect("the shipped policy files are valid")
    }

    /// Policies from file contents keyed by file name (a force's own `policies/` folder); any
    /// file not given falls back to the shipped default.
    pub fn from_files(given: &BTreeMap<String, String>) -> Result<Policies, PolicyError> {
        let mut files: BTreeMap<String, String> =
            DEFAULT_FILES.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
        for (k, v) in given {
            files.insert(k.clone(), v.clone());
        }
        let policies = Policies {
            repeat_victim: parse(&files, "repeat-victim.toml")?,
            repeat_location: parse(&files, "repeat-location.toml")?,
            repeat_subject: parse(&files, "repeat-subject.toml")?,
            vulnerability: parse(&files, "vulnerability.toml")?,
            case_review: parse(&files, "case-review.toml")?,
            risk: parse(&files, "risk-questionnaire.toml")?,
            next_steps: parse(&files, "next-steps.toml")?,
            supervision: parse(&files, "supervision.toml")?,
            emerging_hotspot: parse(&files, "emerging-hotspot.toml")?,
            acute_victim: parse(&files, "acute-victim.toml")?,
        };
        policies.check()?;
        Ok(policies)
    }

    fn check(&self) -> Result<(), PolicyError> {
        let invalid = |file: &str, message: &str| PolicyError::Invalid { file: file.into(), message: message.into() };
        if self.case_review.threshold == 0 || self.case_review.threshold > 3 {
            return Err(invalid("case-review.toml", "threshold must be between 1 and 3: the Act sets three qualifying complaints as the most a local procedure may require"));
        }
        if self.repeat_victim.window_days <= 0
            || self.repeat_location.window_days <= 0
            || self.repeat_subject.window_days <= 0
        {
            return Err(invalid("repeat-*.toml", "window_days must be positive"));
        }
        if !(1.0..=1000.0).contains(&self.repeat_location.radius_m) {
            return Err(invalid("repeat-location.toml", "radius_m must be between 1 and 1000 metres"));
        }
        self.risk.check().map_err(|m| invalid("risk-questionnaire.toml", &m))?;
        for level in [crate::RiskLevel::Standard, crate::RiskLevel::Medium, crate::RiskLevel::High] {
            if !self.next_steps.levels.contains_key(&level) {
                return Err(invalid("next-steps.toml", &format!("no text for level {level}")));
            }
        }
        self.supervision.check().map_err(|m| invalid("supervision.toml", &m))?;
        self.emerging_hotspot.check().map_err(|m| invalid("emerging-hotspot.toml", &m))?;
        self.acute_victim.check().map_err(|m| invalid("acute-victim.toml", &m))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_defaults_parse_with_domain_md_values() {
        let p = Policies::defaults();
        assert_eq!(p.repeat_victim.window_days, 365);
        assert_eq!(p.repeat_victim.min_earlier_reports, 1);
        assert_eq!(p.repeat_location.window_days, 90);
        assert_eq!(p.repeat_location.radius_m, 50.0);
        assert_eq!(p.case_review.threshold, 3);
        assert_eq!(p.risk.questions.len(), 12);
        assert_eq!(p.repeat_victim.meta.cite(), "repeat victim rule v1");
        assert_eq!(p.case_review.meta.cite(), "ASB case review threshold rule v1");
    }

    #[test]
    fn a_force_file_replaces_one_policy() {
        let mut files = BTreeMap::new();
        files.insert(
            "repeat-victim.toml".to_string(),
            DEFAULT_FILES[0].1.replace("version = 1", "version = 2").replace("window_days = 365", "window_days = 90"),
        );
        let p = Policies::from_files(&files).unwrap();
        assert_eq!(p.repeat_victim.meta.version, 2);
        assert_eq!(p.repeat_victim.window_days, 90);
    }

    #[test]
    fn a_case_review_threshold_above_three_is_refused() {
        let mut files = BTreeMap::new();
        files.insert("case-review.toml".to_string(), DEFAULT_FILES[4].1.replace("threshold = 3", "threshold = 4"));
        let err = Policies::from_files(&files).unwrap_err().to_string();
        assert!(err.contains("case-review.toml"), "{err}");
    }

    #[test]
    fn a_supervision_policy_without_a_high_risk_cadence_is_refused() {
        let mut files = BTreeMap::new();
        let text = DEFAULT_FILES[7].1;
        let cut = text.find("[cadence.high]").unwrap();
        let end = text.find("# Each week").unwrap();
        files.insert("supervision.toml".to_string(), format!("{}{}", &text[..cut], &text[end..]));
        let err = Policies::from_files(&files).unwrap_err().to_string();
        assert!(err.starts_with("supervision.toml") && err.contains("cadence.high"), "{err}");
        files.insert("supervision.toml".to_string(), text.replace("first_review_hours = 24", "first_review_hours = 0"));
        assert!(Policies::from_files(&files).unwrap_err().to_string().contains("first_review_hours"));
    }

    #[test]
    fn the_analysis_rules_ship_and_a_bad_one_is_named() {
        let p = Policies::defaults();
        assert_eq!(p.emerging_hotspot.meta.cite(), "emerging hotspot rule v1");
        assert_eq!((p.acute_victim.min_reports, p.acute_victim.window_days), (10, 365));
        let mut files = BTreeMap::new();
        files.insert(
            "emerging-hotspot.toml".to_string(),
            DEFAULT_FILES[8].1.replace("significance = 0.01", "significance = 0.9"),
        );
        let err = Policies::from_files(&files).unwrap_err().to_string();
        assert!(err.starts_with("emerging-hotspot.toml") && err.contains("significance"), "{err}");
    }

    #[test]
    fn malformed_toml_names_the_file() {
        let mut files = BTreeMap::new();
        files.insert("repeat-location.toml".to_string(), "id = ".to_string());
        let err = Policies::from_files(&files).unwrap_err().to_string();
        assert!(err.starts_with("repeat-location.toml"), "{err}");
    }
}
