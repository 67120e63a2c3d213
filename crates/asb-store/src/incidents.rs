//! Reading one incident in full: the record a handler or officer opens by reference.

use crate::engine::{on, Db, Json, Ts};
use crate::{read_only, AuditEvent, Result, Store};
use asb_domain::access::{own_work, OrgRef};
use asb_domain::matching::PhoneNumber;
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct IncidentPerson {
    pub role: String,
    pub person_id: Option<i64>,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub date_of_birth: Option<chrono::NaiveDate>,
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
    pub score: Option<i32>,
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
    Ts,
    String,
    String,
    i32,
    String,
    i32,
    String,
    Option<String>,
    Option<String>,
    Option<f64>,
    Option<f64>,
    Option<String>,
);
type PersonRow = (String, Option<i64>, Option<String>, Option<String>, Option<chrono::NaiveDate>, Option<String>);
type RiskRow =
    (Option<i32>, Option<String>, Option<String>, Option<String>, Option<Json>, Option<String>, bool, Option<Json>);
type Parts =
    (Head, RiskRow, Vec<(i32, String, Option<String>)>, Vec<PersonRow>, Vec<(String, String, Ts, Option<String>)>);

/// The rows of one incident, or `None` when no incident has the reference.
async fn read(db: &mut Db<'_>, reference: &str) -> Result<Option<Parts>> {
    let sql = "SELECT i.id, i.reference, o.name, i.received_at, i.status, i.opening_category, i.opening_type_code,
                i.category, i.type_code, i.narrative, p.address, p.postcode, p.lat, p.lon, b.name
         FROM incidents i JOIN organisations o ON o.id = i.organisation_id
         LEFT JOIN places p ON p.id = i.place_id LEFT JOIN organisations b ON b.id = p.borough_id
         WHERE i.reference = $1";
    let head: Option<Head> = on!(db, c => sqlx::query_as(sql).bind(reference).fetch_optional(c).await?);
    let Some(head) = head else { return Ok(None) };
    let id = head.0;
    let risk_sql = "SELECT risk_score, risk_level, risk_assessed_level, risk_questionnaire, risk_answers,
                risk_override_reason, self_reported_repeat, verdicts FROM incidents WHERE id = $1 AND received_at = $2";
    let risk: RiskRow = on!(db, c => sqlx::query_as(risk_sql).bind(id).bind(head.3).fetch_one(c).await?);
    let quals_sql = "SELECT code, applied_by, reason FROM incident_qualifiers WHERE incident_id = $1 ORDER BY code";
    let quals = on!(db, c => sqlx::query_as(quals_sql).bind(id).fetch_all(c).await?);
    let people_sql = format!(
        "SELECT ip.role, ip.person_id, p.name, p.phone, p.date_of_birth, COALESCE(ip.description, p.description)
         FROM incident_people ip LEFT JOIN people p ON p.id = ip.person_id WHERE ip.incident_id = $1 ORDER BY {}",
        db.engine().insertion_order("ip")
    );
    let people = on!(db, c => sqlx::query_as(&people_sql).bind(id).fetch_all(c).await?);
    let contacts_sql = "SELECT c.channel, o.name, c.received_at, u.username
         FROM contacts c JOIN organisations o ON o.id = c.organisation_id
         LEFT JOIN users u ON u.id = c.taken_by WHERE c.incident_id = $1 ORDER BY c.received_at";
    let contacts = on!(db, c => sqlx::query_as(contacts_sql).bind(id).fetch_all(c).await?);
    Ok(Some((head, risk, quals, people, contacts)))
}

/// Who is reading a record, for the own-work rule, and the reason they gave if any.
#[derive(Debug, Clone, Copy)]
pub struct Reader<'a> {
    pub user_id: i64,
    pub organisation_id: i64,
    pub reason: Option<&'a str>,
}

/// A record shown, or held back until the reader states why they need it.
#[derive(Debug, Clone)]
pub enum Shown<T> {
    Record(Box<T>),
    /// Another organisation's record, and no reason given.
    ReasonNeeded {
        recorded_by: String,
    },
}

impl Store {
    /// One incident by reference for `reader`. Another organisation's record (see
    /// `asb_domain::access::own_work`) is shown only with a stated reason, which is logged with
    /// the consultation.
    pub async fn incident_for(
        &self,
        reference: &str,
        reader: &Reader<'_>,
        purpose: &str,
    ) -> Result<Option<Shown<IncidentDetail>>> {
        let sql = "SELECT o.id, o.kind, o.name, (SELECT kind FROM organisations WHERE id = $2)
             FROM incidents i JOIN organisations o ON o.id = i.organisation_id WHERE i.reference = $1";
        type OrgRow = (i64, String, String, Option<String>);
        let by = reader.organisation_id;
        let mut row: Option<OrgRow> = read_only!(self, |db| on!(db, c => sqlx::query_as(sql)
            .bind(reference)
            .bind(by)
            .fetch_optional(c)
            .await
            .map_err(crate::StoreError::from)))?;
        if row.is_none() && self.has_replicas() {
            let mut c = self.current().await?;
            row = on!(&mut c.db(), c => sqlx::query_as(sql).bind(reference).bind(by).fetch_optional(c).await?);
        }
        let Some((org, kind, name, reader_kind)) = row else { return Ok(None) };
        let reader_org = OrgRef { id: by, kind: reader_kind.as_deref().unwrap_or("") };
        let reason = reader.reason.map(str::trim).filter(|r| !r.is_empty());
        if reason.is_none() && !own_work(reader_org, OrgRef { id: org, kind: &kind }) {
            return Ok(Some(Shown::ReasonNeeded { recorded_by: name }));
        }
        Ok(self
            .read_logged(reference, Some(reader.user_id), purpose, reason)
            .await?
            .map(|d| Shown::Record(Box::new(d))))
    }

    /// One incident by reference, logged as a consultation by `user_id`.
    pub async fn incident(
        &self,
        reference: &str,
        user_id: Option<i64>,
        purpose: &str,
    ) -> Result<Option<IncidentDetail>> {
        self.read_logged(reference, user_id, purpose, None).await
    }

    async fn read_logged(
        &self,
        reference: &str,
        user_id: Option<i64>,
        purpose: &str,
        reason: Option<&str>,
    ) -> Result<Option<IncidentDetail>> {
        // A replica may not hold an incident recorded a moment ago; the primary does.
        let mut parts = read_only!(self, |db| read(db, reference).await)?;
        if parts.is_none() && self.has_replicas() {
            parts = read(&mut self.current().await?.db(), reference).await?;
        }
        let Some((head, risk, qualifiers, people, contacts)) = parts else { return Ok(None) };
        let (_, reference, org, at, status, ocat, otype, cat, typ, narrative, address, postcode, lat, lon, borough) =
            head;
        let (score, level, assessed, questionnaire, answers, override_reason, self_rep, verdicts) = risk;
        let type_label =
            |t: i32| asb_domain::TypeCode::new(t as u16).map(|t| t.label().to_string()).unwrap_or_default();
        let detail = IncidentDetail {
            reference: reference.clone(),
            organisation: org,
            received_at: at.0,
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
                answers: answers.map(|a| a.0).unwrap_or_default(),
                override_reason,
            }),
            self_reported_repeat: self_rep,
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
                    received_at: at.0,
                    taken_by,
                })
                .collect(),
            verdicts: verdicts.map(|v| v.0).unwrap_or_default(),
        };
        let mut event = AuditEvent::new(user_id, "consultation", "incident", Some(reference), purpose);
        if let Some(r) = reason {
            event = event.with_detail(serde_json::json!({ "reason": r }));
        }
        self.audit(&event).await?;
        Ok(Some(detail))
    }
}
