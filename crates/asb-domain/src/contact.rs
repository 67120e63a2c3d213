//! The edge of the domain: a contact (one report of an incident) and a first-contact check as
//! they arrive from a form or the API, checked field by field into validated types. Every bad
//! field is named, so the caller can fix them all at once.

use crate::matching::{AddressLine, GeoPoint, PersonName, PhoneNumber, Postcode};
use crate::risk::{Questionnaire, RiskLevel};
use crate::{Category, Qualifier, TypeCode};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl fmt::Display) -> FieldError {
        FieldError { field: field.into(), message: message.to_string() }
    }
}

/// How the report reached the organisation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Phone101,
    Phone999,
    Online,
    InPerson,
    Email,
    PartnerReferral,
}

impl Channel {
    pub const ALL: [Channel; 6] = [
        Channel::Phone101,
        Channel::Phone999,
        Channel::Online,
        Channel::InPerson,
        Channel::Email,
        Channel::PartnerReferral,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Phone101 => "phone_101",
            Channel::Phone999 => "phone_999",
            Channel::Online => "online",
            Channel::InPerson => "in_person",
            Channel::Email => "email",
            Channel::PartnerReferral => "partner_referral",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Channel::Phone101 => "Phone (101)",
            Channel::Phone999 => "Phone (999)",
            Channel::Online => "Online",
            Channel::InPerson => "In person",
            Channel::Email => "Email",
            Channel::PartnerReferral => "Referral from a partner",
        }
    }
}

impl FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s.trim()).ok_or_else(|| {
            "Choose a channel: phone_101, phone_999, online, in_person, email or partner_referral".into()
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CallerInput {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub date_of_birth: Option<String>,
    pub address: Option<String>,
    pub postcode: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LocationInput {
    pub address: Option<String>,
    pub postcode: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SubjectInput {
    pub name: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideInput {
    pub level: Option<String>,
    pub reason: Option<String>,
}

/// `POST /api/v1/contacts` as sent. Loose types here; `validate` makes them strict.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ContactInput {
    pub channel: Option<String>,
    pub received_at: Option<String>,
    pub organisation: Option<String>,
    #[serde(default)]
    pub caller: CallerInput,
    pub caller_is_victim: Option<bool>,
    /// The caller says "this has happened before" (recorded even where no record matches).
    pub self_reported_repeat: Option<bool>,
    #[serde(default)]
    pub location: LocationInput,
    pub narrative: Option<String>,
    pub category: Option<String>,
    pub type_code: Option<serde_json::Value>,
    pub subjects: Option<Vec<SubjectInput>>,
    /// Qualifiers the handler applies (606, 609, 631, 636, 637, 638 …); 610 and 635 are also
    /// applied by the system when its rules fire.
    pub qualifiers: Option<Vec<u16>>,
    pub risk_answers: Option<BTreeMap<String, bool>>,
    pub risk_override: Option<OverrideInput>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Caller {
    pub name: Option<PersonName>,
    pub phone: Option<PhoneNumber>,
    pub date_of_birth: Option<NaiveDate>,
    pub address: Option<AddressLine>,
    pub postcode: Option<Postcode>,
}

impl Caller {
    pub fn is_anonymous(&self) -> bool {
        self.name.is_none() && self.phone.is_none()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Location {
    pub address: Option<AddressLine>,
    pub postcode: Option<Postcode>,
    pub point: Option<GeoPoint>,
}

impl Location {
    pub fn is_empty(&self) -> bool {
        self.address.is_none() && self.postcode.is_none() && self.point.is_none()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Subject {
    pub name: Option<PersonName>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ValidContact {
    pub channel: Channel,
    pub received_at: Option<DateTime<Utc>>,
    pub organisation: Option<String>,
    pub caller: Caller,
    pub caller_is_victim: bool,
    pub self_reported_repeat: bool,
    pub location: Location,
    pub narrative: String,
    pub category: Category,
    pub type_code: TypeCode,
    pub subjects: Vec<Subject>,
    pub qualifiers: Vec<Qualifier>,
    pub risk_answers: BTreeMap<String, bool>,
    pub risk_override: Option<(RiskLevel, String)>,
}

pub const MAX_NARRATIVE: usize = 10_000;
const MAX_DESCRIPTION: usize = 500;

fn text(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// Collects field errors while parsing each field once.
struct Checker {
    errors: Vec<FieldError>,
}

impl Checker {
    fn field<T, E: fmt::Display>(
        &mut self,
        name: &str,
        value: Option<&str>,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Option<T> {
        let v = value?;
        match parse(v) {
            Ok(t) => Some(t),
            Err(e) => {
                self.errors.push(FieldError::new(name, e));
                None
            }
        }
    }
    fn required<T>(&mut self, name: &str, value: Option<T>, message: &str) -> Option<T> {
        if value.is_none() {
            self.errors.push(FieldError::new(name, message));
        }
        value
    }
    fn push(&mut self, name: &str, message: impl fmt::Display) {
        self.errors.push(FieldError::new(name, message));
    }
}

/// A date of birth: ISO `YYYY-MM-DD` (or `DD/MM/YYYY` as people write it), in the past, under 120.
pub fn parse_date_of_birth(s: &str, today: NaiveDate) -> Result<NaiveDate, String> {
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .or_else(|_| NaiveDate::parse_from_str(s.trim(), "%d/%m/%Y"))
        .map_err(|_| "Enter a date of birth as YYYY-MM-DD, like 1980-03-27".to_string())?;
    if d > today {
        return Err("Date of birth must be in the past".into());
    }
    if today.year() - d.year() > 120 {
        return Err("Date of birth must be within the last 120 years".into());
    }
    Ok(d)
}

fn parse_point(
    c: &mut Checker,
    lat_field: &str,
    lon_field: &str,
    lat: Option<f64>,
    lon: Option<f64>,
) -> Option<GeoPoint> {
    match (lat, lon) {
        (None, None) => None,
        (Some(_), None) => {
            c.push(lon_field, "Give a longitude with the latitude");
            None
        }
        (None, Some(_)) => {
            c.push(lat_field, "Give a latitude with the longitude");
            None
        }
        (Some(la), Some(lo)) => match GeoPoint::new(la, lo) {
            Ok(p) => Some(p),
            Err(e) => {
                c.push(lat_field, e);
                None
            }
        },
    }
}

impl ContactInput {
    /// Check every field. `now` bounds `received_at`; the questionnaire names the valid answers.
    pub fn validate(&self, questionnaire: &Questionnaire, now: DateTime<Utc>) -> Result<ValidContact, Vec<FieldError>> {
        let mut c = Checker { errors: Vec::new() };
        let channel = c.field("channel", text(&self.channel), Channel::from_str);
        if text(&self.channel).is_none() {
            c.push("channel", "Choose how the report was made");
        }
        let received_at = c.field("received_at", text(&self.received_at), |s| {
            let t = DateTime::parse_from_rfc3339(s)
                .map_err(|_| "Enter received_at as an RFC 3339 time, like 2026-11-26T09:30:00Z".to_string())?
                .with_timezone(&Utc);
            if t > now + Duration::minutes(5) {
                return Err("received_at cannot be in the future".to_string());
            }
            if t < now - Duration::days(366 * 10) {
                return Err("received_at is more than ten years ago".to_string());
            }
            Ok(t)
        });
        let organisation = text(&self.organisation).map(str::to_string);

        let today = now.date_naive();
        let caller = Caller {
            name: c.field("caller.name", text(&self.caller.name), PersonName::parse),
            phone: c.field("caller.phone", text(&self.caller.phone), PhoneNumber::parse),
            date_of_birth: c
                .field("caller.date_of_birth", text(&self.caller.date_of_birth), |s| parse_date_of_birth(s, today)),
            address: c.field("caller.address", text(&self.caller.address), AddressLine::parse),
            postcode: c.field("caller.postcode", text(&self.caller.postcode), Postcode::parse),
        };
        let caller_is_victim =
            c.required("caller_is_victim", self.caller_is_victim, "Say whether the caller is the victim");

        let location = Location {
            address: c.field("location.address", text(&self.location.address), AddressLine::parse),
            postcode: c.field("location.postcode", text(&self.location.postcode), Postcode::parse),
            point: parse_point(&mut c, "location.lat", "location.lon", self.location.lat, self.location.lon),
        };
        let location_given = text(&self.location.address).is_some()
            || text(&self.location.postcode).is_some()
            || self.location.lat.is_some()
            || self.location.lon.is_some();
        if !location_given {
            c.push("location", "Give where it happened: an address, a postcode or a point on the map");
        }

        let narrative = match text(&self.narrative) {
            None => {
                c.push("narrative", "Describe what happened");
                None
            }
            Some(n) if n.chars().count() > MAX_NARRATIVE => {
                c.push("narrative", format!("The description must be {MAX_NARRATIVE} characters or fewer"));
                None
            }
            Some(n) => Some(n.to_string()),
        };
        let category = c.field("category", text(&self.category), Category::from_str);
        if text(&self.category).is_none() {
            c.push("category", "Choose a category: personal, nuisance or environmental");
        }
        let type_code = match &self.type_code {
            None | Some(serde_json::Value::Null) => {
                c.push("type_code", "Choose the type of ASB");
                None
            }
            Some(v) => {
                let code = v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()));
                match code.and_then(|n| u16::try_from(n).ok()) {
                    Some(n) => c.field("type_code", Some(""), |_| TypeCode::new(n)),
                    None => {
                        c.push("type_code", "type_code must be an MPS code such as 211");
                        None
                    }
                }
            }
        };

        let mut subjects = Vec::new();
        for (i, s) in self.subjects.iter().flatten().enumerate() {
            let name = c.field(&format!("subjects[{i}].name"), text(&s.name), PersonName::parse);
            let description = text(&s.description).map(str::to_string);
            if description.as_ref().is_some_and(|d| d.chars().count() > MAX_DESCRIPTION) {
                c.push(
                    &format!("subjects[{i}].description"),
                    format!("The description must be {MAX_DESCRIPTION} characters or fewer"),
                );
            }
            if text(&s.name).is_none() && description.is_none() {
                c.push(&format!("subjects[{i}]"), "Give the subject's name or a description, or remove the subject");
            }
            subjects.push(Subject { name, description });
        }

        let mut qualifiers = Vec::new();
        for (i, q) in self.qualifiers.iter().flatten().enumerate() {
            if let Some(q) = c.field(&format!("qualifiers[{i}]"), Some(""), |_| Qualifier::new(*q)) {
                if !qualifiers.contains(&q) {
                    qualifiers.push(q);
                }
            }
        }

        let risk_answers = match &self.risk_answers {
            None => {
                c.push("risk_answers", "Ask the risk questions and record the answers");
                None
            }
            Some(a) => {
                for id in a.keys() {
                    if questionnaire.question(id).is_none() {
                        c.push(
                            &format!("risk_answers.{id}"),
                            format!("'{id}' is not a question in {}", questionnaire.label()),
                        );
                    }
                }
                Some(a.clone())
            }
        };

        let risk_override = self.risk_override.as_ref().and_then(|o| {
            let level = c.field("risk_override.level", text(&o.level), RiskLevel::from_str);
            if text(&o.level).is_none() {
                c.push("risk_override.level", "Choose the level to raise the risk to");
            }
            let reason = text(&o.reason).map(str::to_string);
            if reason.is_none() {
                c.push("risk_override.reason", "Give a reason for changing the risk level");
            }
            Some((level?, reason?))
        });

        if !c.errors.is_empty() {
            return Err(c.errors);
        }
        match (channel, caller_is_victim, narrative, category, type_code, risk_answers) {
            (
                Some(channel),
                Some(caller_is_victim),
                Some(narrative),
                Some(category),
                Some(type_code),
                Some(risk_answers),
            ) => Ok(ValidContact {
                channel,
                received_at,
                organisation,
                caller,
                caller_is_victim,
                self_reported_repeat: self.self_reported_repeat.unwrap_or(false),
                location,
                narrative,
                category,
                type_code,
                subjects,
                qualifiers,
                risk_answers,
                risk_override,
            }),
            _ => Err(vec![FieldError::new("body", "The report is incomplete")]),
        }
    }
}

/// `GET /api/v1/first-contact-check` as sent: every field optional, as the handler types.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct CheckInput {
    pub phone: Option<String>,
    pub name: Option<String>,
    pub date_of_birth: Option<String>,
    pub postcode: Option<String>,
    pub address: Option<String>,
    pub lat: Option<String>,
    pub lon: Option<String>,
    /// A subject's name, for the repeat-subject rule.
    pub subject: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ValidCheck {
    pub phone: Option<PhoneNumber>,
    pub name: Option<PersonName>,
    pub date_of_birth: Option<NaiveDate>,
    pub postcode: Option<Postcode>,
    pub address: Option<AddressLine>,
    pub point: Option<GeoPoint>,
    pub subject: Option<PersonName>,
}

impl ValidCheck {
    /// Whether there is anything to look up: a date of birth alone, say, finds nobody.
    pub fn has_search_key(&self) -> bool {
        self.phone.is_some()
            || self.name.is_some()
            || self.address.is_some()
            || self.postcode.is_some()
            || self.point.is_some()
            || self.subject.is_some()
    }
}

impl CheckInput {
    pub fn validate(&self, today: NaiveDate) -> Result<ValidCheck, Vec<FieldError>> {
        let mut c = Checker { errors: Vec::new() };
        let number = |field: &str, c: &mut Checker, v: &Option<String>| -> Option<f64> {
            c.field(field, text(v), |s| s.parse::<f64>().map_err(|_| format!("{field} must be a number")))
        };
        let lat = number("lat", &mut c, &self.lat);
        let lon = number("lon", &mut c, &self.lon);
        let point = if c.errors.is_empty() { parse_point(&mut c, "lat", "lon", lat, lon) } else { None };
        let check = ValidCheck {
            phone: c.field("phone", text(&self.phone), PhoneNumber::parse),
            name: c.field("name", text(&self.name), PersonName::parse),
            date_of_birth: c.field("date_of_birth", text(&self.date_of_birth), |s| parse_date_of_birth(s, today)),
            postcode: c.field("postcode", text(&self.postcode), Postcode::parse),
            address: c.field("address", text(&self.address), AddressLine::parse),
            point,
            subject: c.field("subject", text(&self.subject), PersonName::parse),
        };
        if c.errors.is_empty() {
            Ok(check)
        } else {
            Err(c.errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Policies;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
    }

    fn good() -> ContactInput {
        serde_json::from_value(serde_json::json!({
            "channel": "phone_101",
            "caller": {"name": "John Smith", "phone": "07700 900123", "date_of_birth": "1980-03-27"},
            "caller_is_victim": true,
            "location": {"address": "12 High Street", "postcode": "nw1 1aa"},
            "narrative": "Youths kicking a ball at the windows",
            "category": "personal",
            "type_code": 202,
            "risk_answers": {"happened_before": true}
        }))
        .unwrap()
    }

    #[test]
    fn a_good_contact_validates() {
        let v = good().validate(&Policies::defaults().risk, now()).unwrap();
        assert_eq!(v.type_code.code(), 202);
        assert_eq!(v.location.postcode.unwrap().as_str(), "NW1 1AA");
        assert_eq!(v.caller.phone.unwrap().as_e164(), "+447700900123");
    }

    #[test]
    fn every_bad_field_is_named() {
        let mut bad = good();
        bad.channel = Some("pigeon".into());
        bad.caller.phone = Some("not a phone".into());
        bad.caller.date_of_birth = Some("2030-01-01".into());
        bad.location.postcode = Some("ZZZ".into());
        bad.category = Some("crime".into());
        bad.type_code = Some(serde_json::json!(999));
        bad.narrative = Some("  ".into());
        bad.risk_answers = Some([("made_up".to_string(), true)].into());
        bad.risk_override = Some(OverrideInput { level: Some("extreme".into()), reason: None });
        let errs = bad.validate(&Policies::defaults().risk, now()).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "channel",
            "caller.phone",
            "caller.date_of_birth",
            "location.postcode",
            "category",
            "type_code",
            "narrative",
            "risk_answers.made_up",
            "risk_override.level",
            "risk_override.reason",
        ] {
            assert!(fields.contains(&f), "{f} missing from {fields:?}");
        }
    }

    #[test]
    fn a_location_is_required_and_lat_needs_lon() {
        let mut bad = good();
        bad.location = LocationInput::default();
        let errs = bad.validate(&Policies::defaults().risk, now()).unwrap_err();
        assert_eq!(errs[0].field, "location");
        bad.location.lat = Some(51.5);
        let errs = bad.validate(&Policies::defaults().risk, now()).unwrap_err();
        assert_eq!(errs[0].field, "location.lon");
    }

    #[test]
    fn future_received_at_refused() {
        let mut bad = good();
        bad.received_at = Some("2027-01-01T00:00:00Z".into());
        let errs = bad.validate(&Policies::defaults().risk, now()).unwrap_err();
        assert_eq!(errs[0].field, "received_at");
    }

    #[test]
    fn check_input_names_bad_fields() {
        let input = CheckInput { phone: Some("123".into()), lat: Some("north".into()), ..Default::default() };
        let errs = input.validate(now().date_naive()).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, vec!["lat", "phone"]);
        let ok = CheckInput { phone: Some("+44 7700 900123".into()), ..Default::default() }
            .validate(now().date_naive())
            .unwrap();
        assert!(ok.has_search_key());
        let dob_only = CheckInput { date_of_birth: Some("1980-01-01".into()), ..Default::default() };
        assert!(!dob_only.validate(now().date_naive()).unwrap().has_search_key());
    }
}
