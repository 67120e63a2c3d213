//! Reading one incident in full: the record a handler or officer opens by reference.

use crate::{from_ts, AuditEvent, Result, Store};
use asb_domain::matching::PhoneNumber;
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct IncidentPerson {
    pub role: String,
    pub person_id: Option<i64>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub date_of_birth: Option<String>,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct QualifierRecord {
    pub code: u16,
    pub label: String,
    pub applied_by: String,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ContactRecord {
    pub channel: String,
    pub organisation: String,
    pub received_at: DateTime<Utc>,
    pub taken_by: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IncidentDetail {
    pub reference: String,
    pub organisation: String,
    pub received_at: DateTime<Utc>,
    pub status: String,
    pub opening_category: String,
    pub opening_type_code: u16,
    pub category: String,
    pub type_code: u16,
    pub type_label: String,
    pub narrative: String,
    pub location: Location,
    pub risk: Option<Risk>,
    pub self_reported_repeat: bool,
    pub qualifiers: Vec<QualifierRecord>,
    pub people: Vec<IncidentPerson>,
    pub contacts: Vec<ContactRecord>,
    /// The verdicts shown when the report was taken, each naming its rule and version.
    pub verdicts: serde_json::Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Location {
    pub address: Option<String>,
    pub postcode: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub borough: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Risk {
    pub score: Option<i64>,
    pub level: Option<String>,
    pub assessed_level: Option<String>,
    pub questionnaire: Option<String>,
    pub answers: serde_json::Value,
    pub override_reason: Option<String>,
}

type Head = (
    i64,
    String,
    String,
    i64,
    String,
    String,
    i64,
    String,
    i64,
    String,
    Option<String>,
    Option<String>,
    Option<f64>,
    Option<f64>,
    Option<String>,
);
type PersonRow = (String, Option<i64>, Option<String>, Option<String>, Option<String>, Option<String>);
type RiskRow =
    (Option<i64>, Option<String>, Option<String>, Option<String>, Option<String>, Option<String>, i64, Option<String>);

impl Store {
    /// One incident by reference, logged as a consultation by `user_id`.
    pub async fn incident(
        &self,
        reference: &str,
        user_id: Option<i64>,
        purpose: &str,
    ) -> Result<Option<IncidentDetail>> {
        let mut conn = self.read.acquire().await?;
        let head: Option<Head> = sqlx::query_as(
            "SELECT i.id, i.reference, o.name, i.received_at, i.status, i.opening_category, i.opening_type_code, i.category, i.type_code,
                    i.narrative, p.address, p.postcode, p.lat, p.lon, b.name
             FROM incidents i JOIN organisations o ON o.id = i.organisation_id
             LEFT JOIN places p ON p.id = i.place_id LEFT JOIN organisations b ON b.id = p.borough_id
             WHERE i.reference = ?",
        )
        .bind(reference)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((
            id,
            reference,
            org,
            at,
            status,
            ocat,
            otype,
            cat,
            typ,
            narrative,
            address,
            postcode,
            lat,
            lon,
            borough,
        )) = head
        else {
            return Ok(None);
        };
        let (score, level, assessed, questionnaire, answers, override_reason, self_rep, verdicts): RiskRow = sqlx::query_as(
            "SELECT risk_score, risk_level, risk_assessed_level, risk_questionnaire, risk_answers, risk_override_reason,
                    self_reported_repeat, verdicts FROM incidents WHERE id = ?",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
        let qualifiers: Vec<(i64, String, Option<String>)> = sqlx::query_as(
            "SELECT code, applied_by, reason FROM incident_qualifiers WHERE incident_id = ? ORDER BY code",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        let people: Vec<PersonRow> = sqlx::query_as(
            "SELECT ip.role, ip.person_id, p.name, p.phone, p.date_of_birth, COALESCE(ip.description, p.description)
             FROM incident_people ip LEFT JOIN people p ON p.id = ip.person_id WHERE ip.incident_id = ? ORDER BY ip.rowid",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        let contacts: Vec<(String, String, i64, Option<String>)> = sqlx::query_as(
            "SELECT c.channel, o.name, c.received_at, u.username FROM contacts c JOIN organisations o ON o.id = c.organisation_id
             LEFT JOIN users u ON u.id = c.taken_by WHERE c.incident_id = ? ORDER BY c.received_at",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        drop(conn);
        let type_label =
            |t: i64| asb_domain::TypeCode::new(t as u16).map(|t| t.label().to_string()).unwrap_or_default();
        let detail = IncidentDetail {
            reference: reference.clone(),
            organisation: org,
            received_at: from_ts(at),
            status,
            opening_category: ocat,
            opening_type_code: otype as u16,
            category: cat,
            type_code: typ as u16,
            type_label: type_label(typ),
            narrative,
            location: Location { address, postcode, lat, lon, borough },
            risk: level.is_some().then(|| Risk {
                score,
                level,
                assessed_level: assessed,
                questionnaire,
                answers: answers.and_then(|a| serde_json::from_str(&a).ok()).unwrap_or_default(),
                override_reason,
            }),
            self_reported_repeat: self_rep != 0,
            qualifiers: qualifiers
                .into_iter()
                .map(|(code, by, reason)| QualifierRecord {
                    code: code as u16,
                    label: asb_domain::Qualifier::new(code as u16).map(|q| q.label().to_string()).unwrap_or_default(),
                    applied_by: by,
                    reason,
                })
                .collect(),
            people: people
                .into_iter()
                .map(|(role, person_id, name, phone, dob, description)| IncidentPerson {
                    role,
                    person_id,
                    name,
                    phone: phone.and_then(|p| PhoneNumber::parse(&p).ok()).map(|p| p.national()),
                    date_of_birth: dob,
                    description,
                })
                .collect(),
            contacts: contacts
                .into_iter()
                .map(|(channel, organisation, at, taken_by)| ContactRecord {
                    channel,
                    organisation,
                    received_at: from_ts(at),
                    taken_by,
                })
                .collect(),
            verdicts: verdicts.and_then(|v| serde_json::from_str(&v).ok()).unwrap_or_default(),
        };
        self.audit(&AuditEvent::new(user_id, "consultation", "incident", Some(reference), purpose)).await?;
        Ok(Some(detail))
    }
}
