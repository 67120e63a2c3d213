//! Risk assessment at first contact: the questionnaire (a policy), its score and level, and the
//! rule that a practitioner may raise a level with a reason but only a supervisor may lower it.

use crate::policy::PolicyMeta;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    Standard,
    Medium,
    High,
}

impl RiskLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            RiskLevel::Standard => "standard",
            RiskLevel::Medium => "medium",
            RiskLevel::High => "high",
        }
    }
}

impl fmt::Display for RiskLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RiskLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "standard" => Ok(RiskLevel::Standard),
            "medium" => Ok(RiskLevel::Medium),
            "high" => Ok(RiskLevel::High),
            _ => Err("Choose a risk level: standard, medium or high".into()),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Question {
    pub id: String,
    pub text: String,
    pub weight: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Default)]
pub struct LevelRule {
    pub min_score: u32,
    /// Any one of these answered yes gives the level whatever the score.
    #[serde(default)]
    pub any_yes: Vec<String>,
    /// Each group answered all yes gives the level whatever the score.
    #[serde(default)]
    pub all_yes: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Levels {
    pub high: LevelRule,
    pub medium: LevelRule,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Questionnaire {
    #[serde(flatten)]
    pub meta: PolicyMeta,
    pub repeat_victim_bonus: u32,
    pub levels: Levels,
    pub questions: Vec<Question>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Assessment {
    pub score: u32,
    pub level: RiskLevel,
    /// `risk-questionnaire@1`: the questionnaire and version that produced the score.
    pub questionnaire: String,
    /// Why the level is what it is, in words.
    pub reason: String,
}

impl Questionnaire {
    pub fn label(&self) -> String {
        format!("{}@{}", self.meta.id, self.meta.version)
    }

    pub fn question(&self, id: &str) -> Option<&Question> {
        self.questions.iter().find(|q| q.id == id)
    }

    pub(crate) fn check(&self) -> Result<(), String> {
        let ids: BTreeSet<&str> = self.questions.iter().map(|q| q.id.as_str()).collect();
        if ids.len() != self.questions.len() {
            return Err("question ids must be unique".into());
        }
        for rule in [&self.levels.high, &self.levels.medium] {
            for id in rule.any_yes.iter().chain(rule.all_yes.iter().flatten()) {
                if !ids.contains(id.as_str()) {
                    return Err(format!("level rule names unknown question '{id}'"));
                }
            }
        }
        if self.levels.medium.min_score > self.levels.high.min_score {
            return Err("medium min_score must not exceed high min_score".into());
        }
        Ok(())
    }

    /// Score the answers. Unanswered questions count as no; ids must already be validated.
    pub fn assess(&self, answers: &BTreeMap<String, bool>, repeat_victim: bool) -> Assessment {
        let yes = |id: &str| answers.get(id).copied().unwrap_or(false);
        let mut score: u32 = self.questions.iter().filter(|q| yes(&q.id)).map(|q| q.weight).sum();
        if repeat_victim {
            score += self.repeat_victim_bonus;
        }
        let level_by = |rule: &LevelRule| -> Option<String> {
            if let Some(id) = rule.any_yes.iter().find(|id| yes(id)) {
                let text = self.question(id).map(|q| q.text.as_str()).unwrap_or(id);
                return Some(format!("answered yes to \"{text}\""));
            }
            if let Some(group) = rule.all_yes.iter().find(|g| !g.is_empty() && g.iter().all(|id| yes(id))) {
                return Some(format!("answered yes to all of: {}", group.join(", ")));
            }
            (score >= rule.min_score).then(|| format!("score {score} is {} or more", rule.min_score))
        };
        let bonus = if repeat_victim {
            format!(" (including {} for a repeat victim)", self.repeat_victim_bonus)
        } else {
            String::new()
        };
        let (level, why) = if let Some(why) = level_by(&self.levels.high) {
            (RiskLevel::High, why)
        } else if let Some(why) = level_by(&self.levels.medium) {
            (RiskLevel::Medium, why)
        } else {
            (RiskLevel::Standard, format!("score {score} is below {}", self.levels.medium.min_score))
        };
        Assessment {
            score,
            level,
            questionnaire: self.label(),
            reason: format!(
                "{} risk: {why}; score {score}{bonus} — {} v{}",
                capitalise(level.as_str()),
                self.meta.title.to_lowercase(),
                self.meta.version
            ),
        }
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OverrideError {
    #[error("Give a reason for raising the risk level")]
    MissingReason,
    #[error("Lowering a risk level from {from} to {to} needs a supervisor's review; record it at the assessed level")]
    Lowering { from: RiskLevel, to: RiskLevel },
}

/// The level a practitioner records: the assessed level, or a higher one with a written reason.
pub fn apply_override(assessed: RiskLevel, requested: RiskLevel, reason: &str) -> Result<RiskLevel, OverrideError> {
    if requested < assessed {
        return Err(OverrideError::Lowering { from: assessed, to: requested });
    }
    if requested > assessed && reason.trim().is_empty() {
        return Err(OverrideError::MissingReason);
    }
    Ok(requested)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policies;
    use proptest::prelude::*;

    fn q() -> Questionnaire {
        Policies::defaults().risk
    }

    fn answers(yes: &[&str]) -> BTreeMap<String, bool> {
        q().questions.iter().map(|x| (x.id.clone(), yes.contains(&x.id.as_str()))).collect()
    }

    #[test]
    fn all_yes_is_high_and_all_no_is_standard() {
        let all: Vec<String> = q().questions.iter().map(|x| x.id.clone()).collect();
        let refs: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
        let a = q().assess(&answers(&refs), false);
        assert_eq!(a.level, RiskLevel::High);
        assert_eq!(a.score, 32);
        let none = q().assess(&answers(&[]), false);
        assert_eq!((none.level, none.score), (RiskLevel::Standard, 0));
        assert_eq!(none.questionnaire, "risk-questionnaire@1");
    }

    #[test]
    fn threats_alone_are_high() {
        let a = q().assess(&answers(&["threats_or_violence"]), false);
        assert_eq!(a.level, RiskLevel::High);
        assert_eq!(a.score, 5);
        assert!(a.reason.contains("threatened"), "{}", a.reason);
    }

    #[test]
    fn hate_and_targeted_together_are_high_apart_medium() {
        assert_eq!(q().assess(&answers(&["hate_motivated", "feel_targeted"]), false).level, RiskLevel::High);
        assert_eq!(
            q().assess(&answers(&["hate_motivated", "health_sleep_work", "reported_elsewhere"]), false).level,
            RiskLevel::Standard
        );
        assert_eq!(
            q().assess(&answers(&["hate_motivated", "unsafe_at_home", "reported_elsewhere"]), false).level,
            RiskLevel::Medium
        );
    }

    #[test]
    fn thresholds_at_their_boundaries() {
        // 2+2+2 = 6, +3 repeat bonus = 9 >= 8: medium only because of the repeat.
        let a = answers(&["happened_before", "health_sleep_work", "children_affected"]);
        assert_eq!(q().assess(&a, false).level, RiskLevel::Standard);
        assert_eq!(q().assess(&a, true).level, RiskLevel::Medium);
        // 3+3+3+3+2+2 = 16: high on score alone.
        let b = answers(&[
            "feel_targeted",
            "disability_or_illness",
            "unsafe_at_home",
            "fear_of_reprisal",
            "isolated",
            "considering_moving",
        ]);
        assert_eq!(
            q().assess(&b, false),
            Assessment {
                score: 16,
                level: RiskLevel::High,
                questionnaire: "risk-questionnaire@1".into(),
                reason: q().assess(&b, false).reason
            }
        );
        let c = answers(&["feel_targeted", "disability_or_illness", "unsafe_at_home", "fear_of_reprisal", "isolated"]);
        assert_eq!(q().assess(&c, false).level, RiskLevel::Medium);
    }

    #[test]
    fn overrides_go_up_with_a_reason_and_never_down() {
        assert_eq!(apply_override(RiskLevel::Standard, RiskLevel::High, "caller is terrified"), Ok(RiskLevel::High));
        assert_eq!(apply_override(RiskLevel::Standard, RiskLevel::Medium, "  "), Err(OverrideError::MissingReason));
        assert!(matches!(
            apply_override(RiskLevel::High, RiskLevel::Medium, "fine"),
            Err(OverrideError::Lowering { .. })
        ));
        assert_eq!(apply_override(RiskLevel::Medium, RiskLevel::Medium, ""), Ok(RiskLevel::Medium));
    }

    proptest! {
        #[test]
        fn score_is_the_sum_of_yes_weights(mask in proptest::collection::vec(any::<bool>(), 12), repeat in any::<bool>()) {
            let qs = q();
            let a: BTreeMap<String, bool> = qs.questions.iter().zip(&mask).map(|(x, y)| (x.id.clone(), *y)).collect();
            let expected: u32 = qs.questions.iter().zip(&mask).filter(|(_, y)| **y).map(|(x, _)| x.weight).sum::<u32>() + if repeat { 3 } else { 0 };
            let r = qs.assess(&a, repeat);
            prop_assert_eq!(r.score, expected);
            // The level follows DOMAIN.md §4 exactly.
            let yes = |id: &str| a[id];
            let high = expected >= 16 || yes("threats_or_violence") || (yes("hate_motivated") && yes("feel_targeted"));
            let want = if high { RiskLevel::High } else if expected >= 8 { RiskLevel::Medium } else { RiskLevel::Standard };
            prop_assert_eq!(r.level, want);
        }

        #[test]
        fn more_yes_answers_never_lower_the_level(mask in proptest::collection::vec(any::<bool>(), 12), extra in 0usize..12) {
            let qs = q();
            let mut a: BTreeMap<String, bool> = qs.questions.iter().zip(&mask).map(|(x, y)| (x.id.clone(), *y)).collect();
            let before = qs.assess(&a, false).level;
            a.insert(qs.questions[extra].id.clone(), true);
            prop_assert!(qs.assess(&a, false).level >= before);
        }
    }
}
