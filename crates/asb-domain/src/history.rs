//! What the record already holds about a person or a place, as the verdicts need it. The store
//! fills these from every organisation in the system; the rules in `verdict` read them.

use crate::{Category, RiskLevel};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The part a person plays in an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Victim,
    Reporter,
    Witness,
    Subject,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Victim => "victim",
            Role::Reporter => "reporter",
            Role::Witness => "witness",
            Role::Subject => "subject",
        }
    }
    /// A report "by or about" the person, for the repeat-victim and case-review rules.
    pub fn is_complainant(self) -> bool {
        matches!(self, Role::Victim | Role::Reporter)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "victim" => Ok(Role::Victim),
            "reporter" => Ok(Role::Reporter),
            "witness" => Ok(Role::Witness),
            "subject" => Ok(Role::Subject),
            _ => Err(format!("unknown role '{s}'")),
        }
    }
}

/// One earlier incident in someone's (or somewhere's) history.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct HistoryEntry {
    pub reference: String,
    pub received_at: DateTime<Utc>,
    pub category: Category,
    pub type_code: u16,
    pub risk_level: Option<RiskLevel>,
    pub qualifiers: Vec<u16>,
    pub organisation: String,
    /// `force`, `borough`, `council`, `housing`, … — partners' reports count the same.
    pub organisation_kind: String,
    /// The person's role; `None` for a place's history.
    pub role: Option<Role>,
    pub status: String,
    /// Metres from the place asked about, for a place's history.
    pub distance_m: Option<f64>,
}

impl HistoryEntry {
    pub fn is_open(&self) -> bool {
        self.status == "open"
    }
    pub fn by_partner(&self) -> bool {
        !crate::access::is_police(&self.organisation_kind)
    }
}
