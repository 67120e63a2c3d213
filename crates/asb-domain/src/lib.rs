//! The rules of handling anti-social behaviour, with no I/O: the NSIR 2011 taxonomy, matching
//! keys, versioned policies, risk scoring and the first-contact verdicts. Everything a user can
//! state as a sentence lives here, so the HTTP API, the pages and the CLI all reach one rule.

pub mod access;
pub mod analysis;
pub mod areas;
pub mod boroughs;
pub mod contact;
pub mod history;
pub mod hotspots;
pub mod matching;
pub mod nsir;
pub mod police_uk;
pub mod policy;
pub mod reference;
pub mod risk;
pub mod supervision;
pub mod verdict;

pub use contact::{ContactInput, FieldError, ValidContact};
pub use nsir::{Category, Qualifier, TypeCode};
pub use policy::Policies;
pub use reference::IncidentRef;
pub use risk::RiskLevel;
