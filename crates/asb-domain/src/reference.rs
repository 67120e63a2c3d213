//! Incident references people can read over the phone: `ASB-26-0048173` — the year, a sequence
//! number within the year and a final check digit (Luhn), so a misheard digit is caught.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IncidentRef {
    year: u16,
    sequence: u64,
}

fn luhn_digit(digits: &str) -> u32 {
    // The check digit that makes digits+check pass the Luhn test.
    let mut sum = 0;
    for (i, ch) in digits.chars().rev().enumerate() {
        let mut d = ch.to_digit(10).unwrap_or(0);
        if i % 2 == 0 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    (10 - sum % 10) % 10
}

impl IncidentRef {
    /// `year` is the full year (2026); `sequence` starts at 1 each year.
    pub fn new(year: i32, sequence: u64) -> IncidentRef {
        IncidentRef { year: (year.rem_euclid(100)) as u16, sequence }
    }
    pub fn sequence(&self) -> u64 {
        self.sequence
    }
    fn body(&self) -> String {
        format!("{:02}{:06}", self.year, self.sequence)
    }
}

impl fmt::Display for IncidentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let body = self.body();
        write!(f, "ASB-{:02}-{:06}{}", self.year, self.sequence, luhn_digit(&body))
    }
}

impl From<IncidentRef> for String {
    fn from(r: IncidentRef) -> String {
        r.to_string()
    }
}

impl TryFrom<String> for IncidentRef {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

impl FromStr for IncidentRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("'{}' is not an incident reference; they look like ASB-26-0048173", s.trim());
        let compact: String = s.chars().filter(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_uppercase();
        let digits = compact.strip_prefix("ASB").ok_or_else(bad)?;
        if digits.len() < 9 || digits.len() > 15 || !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let (body, check) = digits.split_at(digits.len() - 1);
        let year: u16 = body[..2].parse().map_err(|_| bad())?;
        let sequence: u64 = body[2..].parse().map_err(|_| bad())?;
        let r = IncidentRef { year, sequence };
        if r.body() != body || check.parse::<u32>().ok() != Some(luhn_digit(body)) {
            return Err(format!("'{}' has a wrong check digit; please read the reference again", s.trim()));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_tolerates_spacing() {
        let r = IncidentRef::new(2026, 4817);
        let s = r.to_string();
        assert!(s.starts_with("ASB-26-004817"), "{s}");
        assert_eq!(s.parse::<IncidentRef>().unwrap(), r);
        let spoken = s.to_lowercase().replace('-', " ");
        assert_eq!(spoken.parse::<IncidentRef>().unwrap(), r);
    }

    #[test]
    fn a_misheard_digit_is_caught() {
        let s = IncidentRef::new(2026, 4817).to_string();
        let mut chars: Vec<char> = s.chars().collect();
        let i = 9; // a digit of the sequence
        chars[i] = if chars[i] == '9' { '8' } else { ((chars[i] as u8) + 1) as char };
        let wrong: String = chars.into_iter().collect();
        assert!(wrong.parse::<IncidentRef>().is_err(), "{wrong}");
    }

    #[test]
    fn large_sequences_still_work() {
        let r = IncidentRef::new(2027, 12_345_678);
        assert_eq!(r.to_string().parse::<IncidentRef>().unwrap(), r);
        assert!("XYZ-26-0000011".parse::<IncidentRef>().is_err());
    }
}
