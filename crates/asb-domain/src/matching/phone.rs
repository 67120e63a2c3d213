//! UK phone numbers, held in E.164 form ("+447700900123").

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize, Serializer};
use thiserror::Error;

/// A valid UK phone number. The inner string is always `+44` followed by the
/// 9 or 10 digit national significant number (NSN), so it is ASCII digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct PhoneNumber(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum PhoneError {
    #[error("Enter a phone number, like 07700 900123")]
    Empty,
    #[error("A phone number can only contain numbers, spaces, brackets and dashes. Enter a UK phone number, like 07700 900123")]
    InvalidCharacter,
    #[error("Only UK phone numbers can be used. Enter a UK phone number, like 07700 900123 or +44 7700 900123")]
    NotUk,
    #[error("Enter the phone number starting with 0 or +44, like 07700 900123")]
    MissingPrefix,
    #[error("UK phone numbers start with 01, 02, 03, 05, 07, 08 or 09. Enter a UK phone number, like 07700 900123")]
    InvalidPrefix,
    #[error("The phone number is too short. Enter a UK phone number, like 07700 900123")]
    TooShort,
    #[error("The phone number is too long. Enter a UK phone number, like 07700 900123")]
    TooLong,
}

/// Longest raw input considered; anything longer is not a phone number.
const MAX_INPUT_CHARS: usize = 64;

impl PhoneNumber {
    pub fn parse(input: &str) -> Result<PhoneNumber, PhoneError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(PhoneError::Empty);
        }
        if s.chars().count() > MAX_INPUT_CHARS {
            return Err(PhoneError::TooLong);
        }

        let mut digits = String::new();
        let mut plus = false;
        for c in s.chars() {
            match c {
                '0'..='9' => digits.push(c),
                // "+" only makes sense once, before any digit.
                '+' if !plus && digits.is_empty() => plus = true,
                '.' | '-' | '(' | ')' | '/' | '\u{2010}'..='\u{2015}' => {}
                c if c.is_whitespace() => {}
                _ => return Err(PhoneError::InvalidCharacter),
            }
        }
        if digits.is_empty() {
            return Err(if plus { PhoneError::TooShort } else { PhoneError::Empty });
        }

        let nsn = if plus {
            international_rest(&digits)?
        } else if let Some(rest) = digits.strip_prefix("00") {
            international_rest(rest)?
        } else if let Some(rest) = digits.strip_prefix('0') {
            rest
        } else if digits.starts_with("44") && (11..=12).contains(&digits.len()) {
            // "447700900123": E.164 with the "+" lost, e.g. by a spreadsheet.
            &digits[2..]
        } else {
            return Err(PhoneError::MissingPrefix);
        };

        validate_nsn(nsn)?;
        Ok(PhoneNumber(format!("+44{nsn}")))
    }

    pub fn as_e164(&self) -> &str {
        &self.0
    }

    /// The national significant number: the digits after "+44".
    fn nsn(&self) -> &str {
        self.0.get(3..).unwrap_or_default()
    }

    /// National format for display: "07700 900123", "020 7946 0000".
    pub fn national(&self) -> String {
        let nsn = self.nsn();
        // The inner string is ASCII digits, so these splits always succeed.
        if nsn.len() == 10 && nsn.starts_with('2') {
            let (area, rest) = split(nsn, 2);
            let (mid, last) = split(rest, 4);
            format!("0{area} {mid} {last}")
        } else if nsn.len() == 9 && nsn.starts_with("800") {
            let (area, rest) = split(nsn, 3);
            let (mid, last) = split(rest, 3);
            format!("0{area} {mid} {last}")
        } else {
            // Mobiles and everything else (including 9-digit 01 numbers): 5-then-rest.
            let (area, rest) = split(nsn, 4);
            format!("0{area} {rest}")
        }
    }

    /// National format with all but the first two and last three digits hidden,
    /// for users who may know a number exists but not see it: "07*** ***123".
    pub fn masked(&self) -> String {
        let national = self.national();
        let total_digits = national.chars().filter(char::is_ascii_digit).count();
        let mut seen = 0;
        national
            .chars()
            .map(|c| {
                if !c.is_ascii_digit() {
                    return c;
                }
                seen += 1;
                if seen <= 2 || seen > total_digits.saturating_sub(3) {
                    c
                } else {
                    '*'
                }
            })
            .collect()
    }
}

/// Splits ASCII `s` at `at`; never panics.
fn split(s: &str, at: usize) -> (&str, &str) {
    s.split_at_checked(at).unwrap_or((s, ""))
}

/// Digits after "+" or "00": must be the UK code 44, optionally followed by
/// the trunk "0" people write as "+44 (0)7700…".
fn international_rest(digits: &str) -> Result<&str, PhoneError> {
    let Some(rest) = digits.strip_prefix("44") else {
        return Err(if digits.len() < 2 { PhoneError::TooShort } else { PhoneError::NotUk });
    };
    Ok(rest.strip_prefix('0').unwrap_or(rest))
}

fn validate_nsn(nsn: &str) -> Result<(), PhoneError> {
    let Some(first) = nsn.chars().next() else {
        return Err(PhoneError::TooShort);
    };
    if !matches!(first, '1' | '2' | '3' | '5' | '7' | '8' | '9') {
        return Err(PhoneError::InvalidPrefix);
    }
    // 10 digits is the norm; a few 01 areas (01xxx xxxxx) and some
    // freephone 0800 numbers have 9.
    let ok = match nsn.len() {
        10 => true,
        9 => first == '1' || nsn.starts_with("800"),
        _ => false,
    };
    match (ok, nsn.len()) {
        (true, _) => Ok(()),
        (false, n) if n < 10 => Err(PhoneError::TooShort),
        (false, _) => Err(PhoneError::TooLong),
    }
}

impl FromStr for PhoneNumber {
    type Err = PhoneError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PhoneNumber::parse(s)
    }
}

impl TryFrom<String> for PhoneNumber {
    type Error = PhoneError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        PhoneNumber::parse(&s)
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.national())
    }
}

impl Serialize for PhoneNumber {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn e164(s: &str) -> String {
        match PhoneNumber::parse(s) {
            Ok(p) => p.as_e164().to_owned(),
            Err(e) => panic!("{s:?} should parse: {e}"),
        }
    }

    #[test]
    fn accepts_common_ways_of_writing_a_mobile() {
        for s in [
            "07700 900123",
            "07700900123",
            "+44 7700 900123",
            "+447700900123",
            "(07700) 900-123",
            "0044 7700 900123",
            "+44 (0)7700 900123",
            "+44(0)7700-900-123",
            "07700.900.123",
            "  07700 900 123  ",
            "447700900123",
            "0 7 7 0 0 9 0 0 1 2 3",
        ] {
            assert_eq!(e164(s), "+447700900123", "input {s:?}");
        }
    }

    #[test]
    fn accepts_landlines_and_other_ranges() {
        assert_eq!(e164("020 7946 0000"), "+442079460000");
        assert_eq!(e164("(020) 7946-0000"), "+442079460000");
        assert_eq!(e164("0161 496 0000"), "+441614960000");
        assert_eq!(e164("01632 960123"), "+441632960123");
        assert_eq!(e164("016977 3456"), "+44169773456"); // 9-digit 01 area
        assert_eq!(e164("0300 123 4567"), "+443001234567");
        assert_eq!(e164("0800 123 456"), "+44800123456");
        assert_eq!(e164("0800 123 4567"), "+448001234567");
        assert_eq!(e164("0909 879 0000"), "+449098790000");
        assert_eq!(e164("056 1234 5678"), "+445612345678");
    }

    #[test]
    fn rejects_bad_input_with_specific_errors() {
        use PhoneError::*;
        let cases: &[(&str, PhoneError)] = &[
            ("", Empty),
            ("   ", Empty),
            ("()", Empty),
            ("+", TooShort),
            ("07700 9OO123", InvalidCharacter),
            ("07700 900123 ext 4", InvalidCharacter),
            ("tel: 07700900123", InvalidCharacter),
            ("07700+900123", InvalidCharacter),
            ("+1 202 555 0123", NotUk),
            ("001 202 555 0123", NotUk),
            ("+33 1 23 45 67 89", NotUk),
            ("7700 900123", MissingPrefix),
            ("999", MissingPrefix),
            ("04700 900123", InvalidPrefix),
            ("06700 900123", InvalidPrefix),
            ("00700 900123", NotUk),
            ("+44 0 0700 900123", InvalidPrefix),
            ("0", TooShort),
            ("+44", TooShort),
            ("07700 90012", TooShort),
            ("020 7946 000", TooShort),
            ("07700 9001234", TooLong),
            ("+44 7700 9001234", TooLong),
        ];
        for (input, want) in cases {
            assert_eq!(PhoneNumber::parse(input), Err(*want), "input {input:?}");
        }
        let long = "0".repeat(MAX_INPUT_CHARS + 1);
        assert_eq!(PhoneNumber::parse(&long), Err(TooLong));
    }

    #[test]
    fn formats_for_display() {
        let p = |s| PhoneNumber::parse(s).map(|p| p.national());
        assert_eq!(p("+447700900123"), Ok("07700 900123".into()));
        assert_eq!(p("+442079460000"), Ok("020 7946 0000".into()));
        assert_eq!(p("+441632960123"), Ok("01632 960123".into()));
        assert_eq!(p("+44169773456"), Ok("01697 73456".into()));
        assert_eq!(p("+448001234567"), Ok("08001 234567".into()));
        assert_eq!(p("+44800123456"), Ok("0800 123 456".into()));
        let mobile = PhoneNumber::parse("07700900123").map(|p| p.to_string());
        assert_eq!(mobile, Ok("07700 900123".into()));
    }

    #[test]
    fn masks_all_but_last_three_digits() {
        let m = |s| PhoneNumber::parse(s).map(|p| p.masked());
        assert_eq!(m("07700 900123"), Ok("07*** ***123".into()));
        assert_eq!(m("020 7946 0000"), Ok("02* **** *000".into()));
        assert_eq!(m("016977 3456"), Ok("01*** **456".into()));
    }

    #[test]
    fn serde_uses_e164_and_validates() {
        let p = PhoneNumber::parse("07700 900123").map_err(|e| e.to_string());
        let json = p.as_ref().map(|p| serde_json::to_string(p).map_err(|e| e.to_string()));
        assert_eq!(json, Ok(Ok("\"+447700900123\"".to_owned())));
        let back: Result<PhoneNumber, _> = serde_json::from_str("\"07700 900123\"");
        assert_eq!(back.ok(), p.ok());
        assert!(serde_json::from_str::<PhoneNumber>("\"not a phone\"").is_err());
    }

    #[test]
    fn error_messages_are_plain_english() {
        assert_eq!(PhoneError::Empty.to_string(), "Enter a phone number, like 07700 900123");
        assert!(PhoneError::NotUk.to_string().contains("UK phone number"));
    }

    /// A valid mobile NSN, written with a random prefix style and random
    /// separators between digits.
    fn written_mobile() -> impl Strategy<Value = (String, String)> {
        let seps = prop::collection::vec(prop::sample::select(vec!["", " ", "-", ".", "  ", " - "]), 9);
        ("7[0-9]{9}", 0..5usize, seps, any::<bool>()).prop_map(|(nsn, prefix, seps, bracket)| {
            let mut body = String::new();
            for (i, d) in nsn.chars().enumerate() {
                if bracket && i == 0 {
                    body.push('(');
                }
                body.push(d);
                if bracket && i == 3 {
                    body.push(')');
                }
                if let Some(sep) = seps.get(i) {
                    body.push_str(sep);
                }
            }
            let prefix = ["0", "+44 ", "0044 ", "+44 (0)", "+44"][prefix];
            (nsn, format!("{prefix}{body}"))
        })
    }

    proptest! {
        #[test]
        fn any_written_form_of_a_mobile_parses_to_the_same_e164((nsn, written) in written_mobile()) {
            let parsed = PhoneNumber::parse(&written);
            prop_assert_eq!(parsed.map(|p| p.as_e164().to_owned()), Ok(format!("+44{nsn}")));
        }

        #[test]
        fn national_form_round_trips(nsn in "[1235789][0-9]{9}|1[0-9]{8}|800[0-9]{6}") {
            let p = PhoneNumber::parse(&format!("+44{nsn}"));
            prop_assert!(p.is_ok());
            if let Ok(p) = p {
                prop_assert_eq!(PhoneNumber::parse(&p.national()), Ok(p.clone()));
                prop_assert_eq!(PhoneNumber::parse(p.as_e164()), Ok(p.clone()));
                prop_assert!(p.masked().ends_with(&nsn[nsn.len() - 3..]));
            }
        }

        #[test]
        fn never_panics(s in "\\PC{0,80}") {
            let _ = PhoneNumber::parse(&s);
        }
    }
}
