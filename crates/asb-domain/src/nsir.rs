//! The National Standard for Incident Recording (NSIR 2011) for ASB: three categories, the 13
//! MPS type codes and the opening/closing qualifiers, with the words a page shows beside each.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Category {
    Personal,
    Nuisance,
    Environmental,
}

impl Category {
    pub const ALL: [Category; 3] = [Category::Personal, Category::Nuisance, Category::Environmental];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Personal => "personal",
            Category::Nuisance => "nuisance",
            Category::Environmental => "environmental",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Category::Personal => "Personal",
            Category::Nuisance => "Nuisance",
            Category::Environmental => "Environmental",
        }
    }

    /// Home Office NSIR 2011 definition, near verbatim.
    pub fn definition(self) -> &'static str {
        match self {
            Category::Personal => "Incidents that the caller, call handler or anyone else perceives as deliberately targeted at an individual or group, or having an impact on an individual or group rather than the community at large.",
            Category::Nuisance => "An act, condition, thing or person causes trouble, annoyance, inconvenience, offence or suffering to the local community in general rather than to individual victims.",
            Category::Environmental => "The interface between people and places: individuals and groups have an impact on their surroundings, including natural, built and social environments.",
        }
    }

    /// The MPS opening code for the category (214/215/216).
    pub fn opening_code(self) -> u16 {
        match self {
            Category::Personal => 214,
            Category::Nuisance => 215,
            Category::Environmental => 216,
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Category {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "personal" => Ok(Category::Personal),
            "nuisance" => Ok(Category::Nuisance),
            "environmental" => Ok(Category::Environmental),
            _ => Err("Choose a category: personal, nuisance or environmental".into()),
        }
    }
}

/// One of the 13 ASB types, by its MPS command-and-control code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(try_from = "u16", into = "u16")]
pub struct TypeCode(u16);

pub struct AsbType {
    pub code: u16,
    pub label: &'static str,
    pub hint: &'static str,
}

/// The 13 types (LSE/MOPAC code list; London Datastore headings).
pub const TYPES: [AsbType; 13] = [
    AsbType {
        code: 200,
        label: "Vehicle abandoned (not stolen)",
        hint: "A vehicle left on a road or land, apparently abandoned, and not reported stolen.",
    },
    AsbType {
        code: 201,
        label: "Vehicle nuisance / inappropriate use",
        hint:
            "Vehicles driven or used in a way that causes alarm or annoyance: racing, wheel-spinning, off-road bikes.",
    },
    AsbType {
        code: 202,
        label: "Rowdy or inconsiderate behaviour",
        hint: "Shouting, swearing, groups behaving in a way that causes alarm or distress in a public place.",
    },
    AsbType {
        code: 204,
        label: "Rowdy / nuisance neighbours",
        hint: "Behaviour by neighbours: shouting, banging, arguments, comings and goings.",
    },
    AsbType {
        code: 205,
        label: "Littering / drugs paraphernalia",
        hint: "Litter, fly-tipping, discarded needles or other drugs paraphernalia.",
    },
    AsbType {
        code: 206,
        label: "Animal problems",
        hint: "Animals causing nuisance or fear: dogs out of control, barking, fouling.",
    },
    AsbType { code: 207, label: "Trespass", hint: "People on land or in buildings where they have no right to be." },
    AsbType {
        code: 209,
        label: "Street drinking",
        hint: "Drinking alcohol in public places in a way that causes nuisance.",
    },
    AsbType {
        code: 210,
        label: "Prostitution-related activity",
        hint: "Soliciting, kerb-crawling, cards in phone boxes, related litter.",
    },
    AsbType {
        code: 211,
        label: "Noise",
        hint: "Loud music, parties, alarms or other noise. Category depends on whether it targets someone.",
    },
    AsbType { code: 212, label: "Begging / vagrancy", hint: "Begging, or rough sleeping that causes nuisance." },
    AsbType { code: 213, label: "Fireworks", hint: "Fireworks used in a way that causes alarm, distress or danger." },
    AsbType {
        code: 217,
        label: "Malicious / nuisance communications",
        hint: "Calls, messages or posts meant to cause annoyance, alarm or distress.",
    },
];

impl TypeCode {
    pub fn new(code: u16) -> Result<TypeCode, String> {
        if TYPES.iter().any(|t| t.code == code) {
            Ok(TypeCode(code))
        } else {
            Err(format!("{code} is not an ASB type code; use one of the 13 MPS codes, such as 202 (rowdy or inconsiderate behaviour) or 211 (noise)"))
        }
    }
    pub fn code(self) -> u16 {
        self.0
    }
    pub fn info(self) -> &'static AsbType {
        TYPES.iter().find(|t| t.code == self.0).unwrap_or(&TYPES[0])
    }
    pub fn label(self) -> &'static str {
        self.info().label
    }
    pub fn all() -> impl Iterator<Item = TypeCode> {
        TYPES.iter().map(|t| TypeCode(t.code))
    }
}

impl TryFrom<u16> for TypeCode {
    type Error = String;
    fn try_from(v: u16) -> Result<Self, Self::Error> {
        TypeCode::new(v)
    }
}
impl From<TypeCode> for u16 {
    fn from(t: TypeCode) -> u16 {
        t.0
    }
}

/// MPS opening/closing qualifiers (DOMAIN.md §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(try_from = "u16", into = "u16")]
pub struct Qualifier(u16);

pub const QUALIFIERS: [(u16, &str); 8] = [
    (606, "Domestic"),
    (609, "Child or young person at risk"),
    (610, "Repeat caller and/or victim"),
    (631, "Honour-based"),
    (635, "Vulnerable"),
    (636, "Intimidation"),
    (637, "Local priority"),
    (638, "Quality of life"),
];

impl Qualifier {
    pub const REPEAT: Qualifier = Qualifier(610);
    pub const VULNERABLE: Qualifier = Qualifier(635);

    pub fn new(code: u16) -> Result<Qualifier, String> {
        if QUALIFIERS.iter().any(|(c, _)| *c == code) {
            Ok(Qualifier(code))
        } else {
            Err(format!("{code} is not a qualifier; use one of 606, 609, 610, 631, 635, 636, 637, 638"))
        }
    }
    pub fn code(self) -> u16 {
        self.0
    }
    pub fn label(self) -> &'static str {
        QUALIFIERS.iter().find(|(c, _)| *c == self.0).map(|(_, l)| *l).unwrap_or("")
    }
}

impl TryFrom<u16> for Qualifier {
    type Error = String;
    fn try_from(v: u16) -> Result<Self, Self::Error> {
        Qualifier::new(v)
    }
}
impl From<Qualifier> for u16 {
    fn from(q: Qualifier) -> u16 {
        q.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thirteen_types_with_unique_codes() {
        let mut codes: Vec<u16> = TYPES.iter().map(|t| t.code).collect();
        codes.dedup();
        assert_eq!(codes.len(), 13);
        assert!(TypeCode::new(203).is_err(), "203 is not an ASB type");
        assert!(TypeCode::new(325).is_err(), "hoax calls are no longer ASB");
        assert_eq!(TypeCode::new(211).unwrap().label(), "Noise");
    }

    #[test]
    fn categories_parse_case_insensitively() {
        assert_eq!("Personal".parse::<Category>(), Ok(Category::Personal));
        assert!("crime".parse::<Category>().is_err());
        assert_eq!(Category::Environmental.opening_code(), 216);
    }

    #[test]
    fn qualifiers_known() {
        assert_eq!(Qualifier::new(635).unwrap(), Qualifier::VULNERABLE);
        assert!(Qualifier::new(611).is_err());
    }
}
