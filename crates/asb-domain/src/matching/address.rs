//! Free-text address lines and a normalised form for comparing them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize, Serializer};
use thiserror::Error;

use super::name::fold_text;

pub const MAX_ADDRESS_CHARS: usize = 300;

/// An address line as entered: trimmed, whitespace collapsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize)]
#[serde(try_from = "String")]
pub struct AddressLine(String);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AddressError {
    #[error("Enter an address")]
    Empty,
    #[error("The address must be 300 characters or fewer")]
    TooLong,
    #[error("The address contains a hidden or unusual character. Type the address again rather than pasting it")]
    ControlCharacter,
}

impl AddressLine {
    pub fn parse(input: &str) -> Result<AddressLine, AddressError> {
        // Newlines from multi-line boxes become single spaces here.
        let line = input.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            return Err(AddressError::Empty);
        }
        if line.chars().count() > MAX_ADDRESS_CHARS {
            return Err(AddressError::TooLong);
        }
        if line.chars().any(char::is_control) {
            return Err(AddressError::ControlCharacter);
        }
        Ok(AddressLine(line))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn normalised(&self) -> String {
        normalise_address(&self.0)
    }
}

/// Whole-token abbreviations and their expansions. "st" is handled
/// separately because it can mean Street or Saint.
fn expand(token: &str) -> &str {
    match token {
        "rd" => "road",
        "ave" | "av" => "avenue",
        "ln" => "lane",
        "cl" => "close",
        "ct" => "court",
        "cres" => "crescent",
        "dr" => "drive",
        "gdns" => "gardens",
        "gr" | "gro" => "grove",
        "pl" => "place",
        "sq" => "square",
        "terr" | "tce" => "terrace",
        "hse" => "house",
        "apt" | "apartment" => "flat",
        other => other,
    }
}

/// Lowercase, accents folded, punctuation removed, whitespace collapsed and
/// common abbreviations expanded, so "Flat 3, 12 High St." and
/// "flat 3 12 high street" compare equal.
pub fn normalise_address(input: &str) -> String {
    let folded = fold_text(&input.replace('&', " and "));
    let tokens: Vec<&str> = folded.split_whitespace().collect();
    let mut out: Vec<&str> = Vec::with_capacity(tokens.len());
    for (i, &token) in tokens.iter().enumerate() {
        let word = if token == "st" {
            // "St" opening a name ("St Johns Road", "12 St Marys Court")
            // is Saint; after a street name ("High St") it is Street.
            let at_name_start = i == 0 || tokens[i - 1].chars().any(|c| c.is_ascii_digit());
            if at_name_start && i + 1 < tokens.len() {
                "saint"
            } else {
                "street"
            }
        } else {
            expand(token)
        };
        out.push(word);
    }
    out.join(" ")
}

impl FromStr for AddressLine {
    type Err = AddressError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AddressLine::parse(s)
    }
}

impl TryFrom<String> for AddressLine {
    type Error = AddressError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        AddressLine::parse(&s)
    }
}

impl fmt::Display for AddressLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for AddressLine {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn equivalent_spellings_normalise_equal() {
        let pairs = [
            ("flat 3, 12 high st", "flat 3 12 high street"),
            ("Flat 3 12 High Street", "flat 3 12 high street"),
            ("Apt 3, 12 High St.", "flat 3 12 high street"),
            ("Apartment 3 12 High Street", "flat 3 12 high street"),
            ("4 Acacia Ave", "4 acacia avenue"),
            ("4 Acacia Av.", "4 acacia avenue"),
            ("1 Mill Ln", "1 mill lane"),
            ("2 Rose Cl", "2 rose close"),
            ("3 Kings Ct", "3 kings court"),
            ("5 Park Cres", "5 park crescent"),
            ("6 Oak Dr", "6 oak drive"),
            ("7 Kew Gdns", "7 kew gardens"),
            ("8 Elm Gr", "8 elm grove"),
            ("8 Elm Gro", "8 elm grove"),
            ("9 Portland Pl", "9 portland place"),
            ("10 Berkeley Sq", "10 berkeley square"),
            ("11 Albert Terr", "11 albert terrace"),
            ("11 Albert Tce", "11 albert terrace"),
            ("Rose Hse, 1 Main Rd", "rose house 1 main road"),
            ("12 St John's Rd", "12 saint johns road"),
            ("St. Mary's Court", "saint marys court"),
            ("Flat 2, St Anne's Ct", "flat 2 saint annes court"),
            ("1 Church St", "1 church street"),
            ("Café  Rouge,\n1 Rue St", "cafe rouge 1 rue street"),
            ("Smith & Sons", "smith and sons"),
            ("12-14 High St", "12 14 high street"),
        ];
        for (a, b) in pairs {
            assert_eq!(normalise_address(a), b, "input {a:?}");
            assert_eq!(normalise_address(b), b, "expected form {b:?} is a fixed point");
        }
    }

    #[test]
    fn abbreviations_only_expand_whole_tokens() {
        assert_eq!(normalise_address("1 Rdway Stanley Drive"), "1 rdway stanley drive");
        assert_eq!(normalise_address("Clive Place"), "clive place");
    }

    #[test]
    fn address_line_parse() {
        let line = AddressLine::parse("  Flat 3,\n 12 High St ");
        assert_eq!(line.as_ref().map(AddressLine::as_str), Ok("Flat 3, 12 High St"));
        assert_eq!(line.map(|l| l.normalised()), Ok("flat 3 12 high street".into()));
        assert_eq!(AddressLine::parse(""), Err(AddressError::Empty));
        assert_eq!(AddressLine::parse(" \n\t "), Err(AddressError::Empty));
        assert_eq!(AddressLine::parse(&"a".repeat(MAX_ADDRESS_CHARS + 1)), Err(AddressError::TooLong));
        assert!(AddressLine::parse(&"é".repeat(MAX_ADDRESS_CHARS)).is_ok());
        assert_eq!(AddressLine::parse("1 High\u{0}St"), Err(AddressError::ControlCharacter));
    }

    #[test]
    fn serde_round_trip() {
        let json = serde_json::to_string(&AddressLine::parse(" 1 High St ").ok());
        assert_eq!(json.ok().as_deref(), Some("\"1 High St\""));
        assert!(serde_json::from_str::<AddressLine>("\"\"").is_err());
    }

    proptest! {
        #[test]
        fn normalisation_is_idempotent(s in "\\PC{0,80}") {
            let once = normalise_address(&s);
            prop_assert_eq!(normalise_address(&once), once.clone());
        }
    }
}
