//! UK postcodes, normalised to "SW1A 1AA".

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize, Serializer};
use thiserror::Error;

/// A full UK postcode: uppercase, one space before the inward code.
/// Always ASCII, so byte slicing at char positions is sound.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Postcode(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PostcodeError {
    #[error("Enter a postcode, like SW1A 1AA")]
    Empty,
    #[error("Enter the full postcode, like SW1A 1AA, not just the first part")]
    OutwardOnly,
    #[error("Enter a real UK postcode, like SW1A 1AA")]
    Invalid,
}

/// Letters Royal Mail never uses in the inward code.
const INWARD_EXCLUDED: &[u8] = b"CIKMOV";

impl Postcode {
    pub fn parse(input: &str) -> Result<Postcode, PostcodeError> {
        let compact = compact_upper(input);
        if compact.is_empty() {
            return Err(PostcodeError::Empty);
        }
        // ASCII-only also makes the byte split below land on a char boundary.
        if !compact.is_ascii() {
            return Err(PostcodeError::Invalid);
        }
        if compact == "GIR0AA" {
            return Ok(Postcode("GIR 0AA".to_owned()));
        }
        let n = compact.len();
        if !(5..=7).contains(&n) {
            return Err(if is_outward(&compact) { PostcodeError::OutwardOnly } else { PostcodeError::Invalid });
        }
        let (outward, inward) = compact.split_at(n - 3);
        if !is_outward(outward) || !is_inward(inward) {
            return Err(PostcodeError::Invalid);
        }
        Ok(Postcode(format!("{outward} {inward}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The outward code, e.g. "SW1A".
    pub fn outward(&self) -> &str {
        self.0.split(' ').next().unwrap_or_default()
    }

    /// The postal district; the same as the outward code.
    pub fn district(&self) -> &str {
        self.outward()
    }

    /// The postcode area: the leading letters, e.g. "SW".
    pub fn area(&self) -> &str {
        let out = self.outward();
        let letters = out.bytes().take_while(u8::is_ascii_alphabetic).count();
        out.get(..letters).unwrap_or_default()
    }

    /// The sector: outward code plus the inward digit, e.g. "SW1A 1".
    pub fn sector(&self) -> &str {
        self.0.get(..self.0.len().saturating_sub(2)).unwrap_or_default()
    }
}

/// Uppercase with all whitespace removed.
fn compact_upper(input: &str) -> String {
    input.chars().filter(|c| !c.is_whitespace()).map(|c| c.to_ascii_uppercase()).collect()
}

/// Outward code shapes: A9, A99, AA9, AA99, A9A, AA9A.
fn is_outward(s: &str) -> bool {
    let shape: String = s
        .chars()
        .map(|c| match c {
            'A'..='Z' => 'A',
            '0'..='9' => '9',
            _ => '?',
        })
        .collect();
    matches!(shape.as_str(), "A9" | "A99" | "AA9" | "AA99" | "A9A" | "AA9A")
}

fn is_inward(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 3
        && b[0].is_ascii_digit()
        && b[1..].iter().all(|c| c.is_ascii_uppercase() && !INWARD_EXCLUDED.contains(c))
}

/// If `input` is just an outward code (e.g. "nw1", " SW1A "), returns it
/// normalised ("NW1"); otherwise `None`. Useful for area searches.
pub fn parse_partial(input: &str) -> Option<String> {
    let compact = compact_upper(input);
    is_outward(&compact).then_some(compact)
}

impl FromStr for Postcode {
    type Err = PostcodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Postcode::parse(s)
    }
}

impl TryFrom<String> for Postcode {
    type Error = PostcodeError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Postcode::parse(&s)
    }
}

impl fmt::Display for Postcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Postcode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn norm(s: &str) -> Result<String, PostcodeError> {
        Postcode::parse(s).map(|p| p.as_str().to_owned())
    }

    #[test]
    fn normalises_case_and_spacing() {
        assert_eq!(norm("sw1a1aa"), Ok("SW1A 1AA".into()));
        assert_eq!(norm(" SW1A  1AA "), Ok("SW1A 1AA".into()));
        assert_eq!(norm("s w 1 a 1 a a"), Ok("SW1A 1AA".into()));
        assert_eq!(norm("\tm1 1ae\n"), Ok("M1 1AE".into()));
        assert_eq!(norm("gir0aa"), Ok("GIR 0AA".into()));
    }

    #[test]
    fn accepts_every_outward_shape() {
        for s in ["M1 1AE", "B33 8TH", "CR2 6XH", "DN55 1PT", "W1A 0AX", "EC1A 1BB"] {
            assert_eq!(norm(s), Ok(s.to_owned()));
        }
    }

    #[test]
    fn rejects_invalid_postcodes() {
        use PostcodeError::*;
        let cases: &[(&str, PostcodeError)] = &[
            ("", Empty),
            ("   ", Empty),
            ("NW1", OutwardOnly),
            ("sw1a", OutwardOnly),
            ("SW1A 1", Invalid),
            ("SW1A 1A", Invalid),
            ("SW1A 1CA", Invalid), // C never used inward
            ("SW1A 1AI", Invalid),
            ("SW1A 1AK", Invalid),
            ("SW1A 1MA", Invalid),
            ("SW1A 1AO", Invalid),
            ("SW1A 1VA", Invalid),
            ("SW1A AAA", Invalid),
            ("1W1A 1AA", Invalid),
            ("SWAA 1AA", Invalid),
            ("SW1AA 1AA", Invalid),
            ("SW1A-1AA", Invalid),
            ("ŚW1A 1AA", Invalid),
            ("SW1A 1AA X", Invalid),
            ("GIR 0AB", Invalid),
            ("W1Aé1A", Invalid), // multi-byte char where the split would fall
        ];
        for (input, want) in cases {
            assert_eq!(Postcode::parse(input), Err(*want), "input {input:?}");
        }
    }

    #[test]
    fn parts() {
        let Ok(p) = Postcode::parse("sw1a 1aa") else {
            panic!("valid postcode rejected");
        };
        assert_eq!(p.outward(), "SW1A");
        assert_eq!(p.district(), "SW1A");
        assert_eq!(p.area(), "SW");
        assert_eq!(p.sector(), "SW1A 1");
        assert_eq!(p.to_string(), "SW1A 1AA");
        let Ok(m) = Postcode::parse("M1 1AE") else {
            panic!("valid postcode rejected");
        };
        assert_eq!((m.outward(), m.area(), m.sector()), ("M1", "M", "M1 1"));
    }

    #[test]
    fn partial_outward_codes() {
        assert_eq!(parse_partial("nw1"), Some("NW1".into()));
        assert_eq!(parse_partial(" sw1a "), Some("SW1A".into()));
        assert_eq!(parse_partial("M1"), Some("M1".into()));
        assert_eq!(parse_partial("NW1 1AA"), None);
        assert_eq!(parse_partial("NW"), None);
        assert_eq!(parse_partial(""), None);
        assert_eq!(parse_partial("1NW"), None);
    }

    #[test]
    fn serde_round_trip() {
        let json = serde_json::to_string(&Postcode::parse("sw1a1aa").ok());
        assert_eq!(json.ok(), Some("\"SW1A 1AA\"".to_owned()));
        let back: Result<Postcode, _> = serde_json::from_str("\"sw1a1aa\"");
        assert_eq!(back.ok().map(|p| p.to_string()), Some("SW1A 1AA".into()));
        assert!(serde_json::from_str::<Postcode>("\"nope\"").is_err());
    }

    fn valid_postcode() -> impl Strategy<Value = String> {
        let outward = prop_oneof![
            "[A-Z][0-9]",
            "[A-Z][0-9]{2}",
            "[A-Z]{2}[0-9]",
            "[A-Z]{2}[0-9]{2}",
            "[A-Z][0-9][A-Z]",
            "[A-Z]{2}[0-9][A-Z]",
        ];
        let inward = "[0-9][ABD-HJLNP-UW-Z]{2}";
        (outward, inward).prop_map(|(o, i)| format!("{o} {i}"))
    }

    /// Randomly change case and insert whitespace anywhere.
    fn messy(canonical: String) -> impl Strategy<Value = (String, String)> {
        let n = canonical.chars().count();
        (
            prop::collection::vec(any::<bool>(), n),
            prop::collection::vec(prop::sample::select(vec!["", "", " ", "  ", "\t"]), n + 1),
        )
            .prop_map(move |(lower, spaces)| {
                let mut out = String::new();
                for (i, c) in canonical.chars().enumerate() {
                    out.push_str(spaces[i]);
                    if c != ' ' {
                        out.push(if lower[i] { c.to_ascii_lowercase() } else { c });
                    }
                }
                out.push_str(spaces[n]);
                (canonical.clone(), out)
            })
    }

    proptest! {
        #[test]
        fn messy_input_normalises_to_canonical((canonical, written) in valid_postcode().prop_flat_map(messy)) {
            let p = Postcode::parse(&written);
            prop_assert_eq!(p.as_ref().map(Postcode::as_str), Ok(canonical.as_str()));
            if let Ok(p) = p {
                prop_assert_eq!(Postcode::parse(p.as_str()), Ok(p.clone()));
                prop_assert_eq!(parse_partial(p.outward()), Some(p.outward().to_owned()));
                prop_assert!(p.sector().starts_with(p.outward()));
            }
        }

        #[test]
        fn parse_is_idempotent_on_anything(s in "\\PC{0,12}|[A-Za-z0-9 ]{0,10}") {
            if let Ok(p) = Postcode::parse(&s) {
                prop_assert_eq!(Postcode::parse(p.as_str()), Ok(p.clone()));
            }
            if let Some(o) = parse_partial(&s) {
                prop_assert_eq!(parse_partial(&o), Some(o.clone()));
            }
        }
    }
}
