//! The first-contact journey against the record: the check while the caller speaks, and
//! recording the contact in one transaction. The store finds people, places and history; the
//! domain's rules give the verdicts.

use crate::analysis_counts::{self, Counted, CountedPlace};
use crate::engine::{exec, on, Db, Json, Ts};
use crate::history;
use crate::matching::{exact_places, find_people, find_places, PersonMatch, PlaceMatch};
use crate::{audit, orgs, read_only, AuditEvent, Result, Store, StoreError};
use asb_domain::areas::AreaIndex;
use asb_domain::contact::{ValidCheck, ValidContact};
use asb_domain::history::{HistoryEntry, Role};
use asb_domain::matching::{geo, AddressLine, GeoPoint, PersonName, PhoneNumber, Postcode};
use asb_domain::risk::{apply_override, RiskLevel};
use asb_domain::verdict::{self, CaseReview, Verdict};
use asb_domain::{boroughs, FieldError, IncidentRef, Policies, Qualifier};
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct IncidentSummary {
    pub reference: String,
    pub received_at: DateTime<Utc>,
    pub category: String,
    pub type_code: u16,
    pub type_label: String,
    pub risk_level: Option<RiskLevel>,
    pub organisation: String,
    pub by_partner: bool,
    pub role: Option<String>,
    pub status: String,
    pub qualifiers: Vec<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_m: Option<f64>,
}

impl From<&HistoryEntry> for IncidentSummary {
    fn from(e: &HistoryEntry) -> Self {
        IncidentSummary {
            reference: e.reference.clone(),
            received_at: e.received_at,
            category: e.category.to_string(),
            type_code: e.type_code,
            type_label: asb_domain::TypeCode::new(e.type_code).map(|t| t.label().to_string()).unwrap_or_default(),
            risk_level: e.risk_level,
            organisation: e.organisation.clone(),
            by_partner: e.by_partner(),
            role: e.role.map(|r| r.to_string()),
            status: e.status.clone(),
            qualifiers: e.qualifiers.clone(),
            distance_m: e.distance_m.map(|d| (d * 10.0).round() / 10.0),
        }
    }
}

/// Counts over an ASB history in the policy windows. `total` is all time; the rest cover the
/// last 12 months (the longest policy window).
#[derive(Debug, Clone, Serialize, Default)]
pub struct HistoryCounts {
    pub total: usize,
    pub last_90_days: usize,
    pub last_12_months: usize,
    pub by_partners: usize,
    pub last_at: Option<DateTime<Utc>>,
    pub categories: BTreeMap<String, usize>,
    pub highest_risk: Option<RiskLevel>,
    /// Open matters: incidents not yet closed.
    pub open: Vec<String>,
}

fn counts(now: DateTime<Utc>, entries: &[&HistoryEntry], total: usize) -> HistoryCounts {
    let mut c = HistoryCounts { total, ..Default::default() };
    for e in entries {
        let age = now - e.received_at;
        if age <= Duration::days(90) {
            c.last_90_days += 1;
        }
        if age <= Duration::days(365) {
            c.last_12_months += 1;
        }
        if e.by_partner() {
            c.by_partners += 1;
        }
        *c.categories.entry(e.category.to_string()).or_default() += 1;
        c.highest_risk = c.highest_risk.max(e.risk_level);
        if e.is_open() {
            c.open.push(e.reference.clone());
        }
        c.last_at = Some(c.last_at.map_or(e.received_at, |f| f.max(e.received_at)));
    }
    c
}

const SHOWN: usize = 20;

#[derive(Debug, Clone, Serialize)]
pub struct MatchedPerson {
    pub id: i64,
    pub name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub postcode: Option<String>,
    /// Why this record is believed to be the caller.
    pub matched_on: Vec<String>,
    pub history: HistoryCounts,
    /// The most recent incidents, newest first.
    pub incidents: Vec<IncidentSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PlaceSummary {
    /// Anything recorded at the address or within the radius.
    pub known: bool,
    pub address: Option<String>,
    pub postcode: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub places_matched: usize,
    pub radius_m: f64,
    pub history: HistoryCounts,
    pub incidents: Vec<IncidentSummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub checked_at: DateTime<Utc>,
    pub people: Vec<MatchedPerson>,
    pub place: PlaceSummary,
    pub repeat_victim: Verdict,
    pub repeat_location: Verdict,
    pub vulnerable: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat_subject: Option<Verdict>,
    pub case_review: CaseReview,
}

#[derive(Debug, Clone, Serialize)]
pub struct RiskOutcome {
    pub score: u32,
    pub level: RiskLevel,
    pub questionnaire: String,
    pub assessed_level: RiskLevel,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_reason: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecordOutcome {
    pub reference: String,
    pub repeat_victim: Verdict,
    pub repeat_location: Verdict,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat_subject: Option<Verdict>,
    pub vulnerable: Verdict,
    pub risk: RiskOutcome,
    pub qualifiers: Vec<u16>,
    pub case_review: CaseReview,
    pub next_steps: String,
    pub self_reported_repeat: bool,
    pub person_id: Option<i64>,
    pub place_id: i64,
    pub organisation: String,
    pub received_at: DateTime<Utc>,
}

/// What the record says about a caller and a place, before any verdict.
struct Findings {
    people: Vec<PersonMatch>,
    /// The matched people's incidents, and beside each (`history_of`) the person it is for.
    person_history: Vec<HistoryEntry>,
    history_of: Vec<i64>,
    /// Whether a location was given at all (an unknown one still gets a repeat-location count).
    located: bool,
    places: PlaceMatch,
    /// Reports at the place in the repeat-location window and in 12 months, and open ones.
    place_counts: history::PlaceCounts,
    place_history: Vec<HistoryEntry>,
    subject_history: Option<Vec<HistoryEntry>>,
}

struct Keys<'a> {
    phone: Option<&'a PhoneNumber>,
    name: Option<&'a PersonName>,
    dob: Option<NaiveDate>,
    address: Option<&'a AddressLine>,
    postcode: Option<&'a Postcode>,
    point: Option<GeoPoint>,
    /// Where the caller lives, when it is not where it happened.
    home: Option<(Option<&'a AddressLine>, Option<&'a Postcode>)>,
    subject: Option<&'a PersonName>,
}

/// Who and where the keys name: the places, and the people matched there or by phone, name and
/// date of birth.
async fn locate(db: &mut Db<'_>, radius_m: f64, k: &Keys<'_>) -> Result<(PlaceMatch, Vec<PersonMatch>)> {
    let places = find_places(db, k.address, k.postcode, k.point, radius_m).await?;
    let home_places = match k.home {
        Some((a, pc)) => exact_places(db, a, pc).await?.into_iter().map(|r| r.0).collect(),
        None => places.exact.clone(),
    };
    let at_home = if k.address.is_some() || k.home.is_some() { &home_places[..] } else { &[] };
    let people = find_people(db, k.phone, k.name, k.dob, at_home).await?;
    Ok((places, people))
}

/// The histories of what `locate` found, and of the subject named.
async fn histories(
    db: &mut Db<'_>,
    p: &Policies,
    now: DateTime<Utc>,
    k: &Keys<'_>,
    (places, people): (PlaceMatch, Vec<PersonMatch>),
) -> Result<Findings> {
    let ids: Vec<i64> = people.iter().map(|m| m.id).collect();
    let until = history::horizon(now);
    // Entries as far back as the longest policy window; all-time totals come with the match.
    let longest =
        p.repeat_victim.window_days.max(p.vulnerability.window_days).max(i64::from(p.case_review.window_months) * 31);
    let (history_of, person_history) =
        history::for_people(db, &ids, Ts(now - Duration::days(longest)), until).await?.into_iter().unzip();
    let window = Ts(now - Duration::days(p.repeat_location.window_days));
    let (place_history, place_counts) =
        history::for_places(db, &places.near, window, Ts(now - Duration::days(365)), until, SHOWN as i64).await?;
    let subject_history = match k.subject {
        Some(s) => Some(
            history::for_subject(db, s.normalised(), Ts(now - Duration::days(p.repeat_subject.window_days)), until)
                .await?,
        ),
        None => None,
    };
    Ok(Findings {
        people,
        person_history,
        history_of,
        located: k.address.is_some() || k.postcode.is_some() || k.point.is_some(),
        places,
        place_counts,
        place_history,
        subject_history,
    })
}

async fn find(db: &mut Db<'_>, p: &Policies, now: DateTime<Utc>, k: &Keys<'_>) -> Result<Findings> {
    let found = locate(db, p.repeat_location.radius_m, k).await?;
    histories(db, p, now, k, found).await
}

/// Verdicts from findings. `recording` counts the contact being recorded in the case review.
fn verdicts(
    p: &Policies,
    now: DateTime<Utc>,
    f: &Findings,
    recording: bool,
) -> (Verdict, Verdict, Verdict, CaseReview, Option<Verdict>) {
    let known_person = !f.people.is_empty();
    (
        verdict::repeat_victim(&p.repeat_victim, now, &f.person_history, known_person),
        verdict::repeat_location_counted(&p.repeat_location, now, &f.place_history, f.place_counts.recent, f.located),
        verdict::vulnerable(&p.vulnerability, now, &f.person_history),
        verdict::case_review(&p.case_review, now, &f.person_history, recording),
        f.subject_history.as_ref().map(|h| verdict::repeat_subject(&p.repeat_subject, now, h, recording)),
    )
}

fn describe_people(now: DateTime<Utc>, f: &Findings) -> Vec<MatchedPerson> {
    f.people
        .iter()
        .map(|m| {
            let c = &m.card;
            let mine: Vec<&HistoryEntry> =
                f.history_of.iter().zip(&f.person_history).filter(|(p, _)| **p == m.id).map(|(_, e)| e).collect();
            let total = m.total as usize;
            MatchedPerson {
                id: m.id,
                name: c.name.clone(),
                date_of_birth: c.date_of_birth,
                phone: c.phone.as_deref().and_then(|p| PhoneNumber::parse(p).ok()).map(|p| p.national()),
                address: c.address.clone(),
                postcode: c.postcode.clone(),
                matched_on: m.reasons.clone(),
                history: counts(now, &mine, total),
                incidents: mine.iter().take(SHOWN).map(|e| IncidentSummary::from(*e)).collect(),
            }
        })
        .collect()
}

fn place_summary(p: &Policies, now: DateTime<Utc>, k: &Keys<'_>, f: &Findings) -> PlaceSummary {
    let entries: Vec<&HistoryEntry> = f.place_history.iter().collect();
    PlaceSummary {
        known: !f.places.near.is_empty(),
        address: k.address.map(|a| a.as_str().to_string()),
        postcode: k.postcode.map(|p| p.as_str().to_string()),
        lat: f.places.centre.map(|c| c.lat()),
        lon: f.places.centre.map(|c| c.lon()),
        places_matched: f.places.near.len(),
        radius_m: p.repeat_location.radius_m,
        history: HistoryCounts {
            last_90_days: f.place_counts.recent,
            last_12_months: f.place_counts.since,
            open: f.place_counts.open.clone(),
            ..counts(now, &entries, f.place_counts.since)
        },
        incidents: entries.iter().take(SHOWN).map(|e| IncidentSummary::from(*e)).collect(),
    }
}

impl Store {
    /// The first-contact check, logged as a consultation by `user_id`.
    pub async fn first_contact_check(
        &self,
        p: &Policies,
        now: DateTime<Utc>,
        c: &ValidCheck,
        user_id: Option<i64>,
    ) -> Result<CheckResult> {
        let keys = Keys {
            phone: c.phone.as_ref(),
            name: c.name.as_ref(),
            dob: c.date_of_birth,
            address: c.address.as_ref(),
            postcode: c.postcode.as_ref(),
            point: c.point,
            home: None,
            subject: c.subject.as_ref(),
        };
        // Which keys were searched and whose records were seen — never the values searched for.
        let used: Vec<&str> = [
            ("phone", c.phone.is_some()),
            ("name", c.name.is_some()),
            ("date_of_birth", c.date_of_birth.is_some()),
            ("address", c.address.is_some()),
            ("postcode", c.postcode.is_some()),
            ("point", c.point.is_some()),
            ("subject", c.subject.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, used)| used.then_some(k))
        .collect();
        let event = |seen: &[i64]| {
            AuditEvent::new(user_id, "consultation", "search", None, "first-contact check")
                .with_detail(serde_json::json!({"fields": used, "people": seen}))
        };
        let f = if c.phone.is_none() && c.name.is_none() && c.subject.is_none() {
            // A place alone shows nobody's record: the log entry is known before the search, so
            // it is written while the search runs (and still before the answer goes back).
            let search = async { read_only!(self, |db| find(db, p, now, &keys).await) };
            let logged = event(&[]);
            tokio::try_join!(search, self.audit(&logged))?.0
        } else {
            // Once the people are known, their log entry is written while their histories load.
            read_only!(self, |db| async {
                let found = locate(db, p.repeat_location.radius_m, &keys).await?;
                let logged = event(&found.1.iter().map(|m| m.id).collect::<Vec<_>>());
                tokio::try_join!(histories(db, p, now, &keys, found), self.audit(&logged)).map(|r| r.0)
            }
            .await)?
        };
        let people = describe_people(now, &f);
        let (repeat_victim, repeat_location, vulnerable, case_review, repeat_subject) = verdicts(p, now, &f, false);
        let result = CheckResult {
            checked_at: now,
            place: place_summary(p, now, &keys, &f),
            people,
            repeat_victim,
            repeat_location,
            vulnerable,
            repeat_subject,
            case_review,
        };
        Ok(result)
    }

    /// Record a contact: person and place matched or created, the incident with its category,
    /// type, qualifiers and risk assessment, the contact, and the audit event — all or nothing.
    pub async fn record_contact(
        &self,
        p: &Policies,
        now: DateTime<Utc>,
        c: &ValidContact,
        user_id: Option<i64>,
    ) -> Result<RecordOutcome> {
        let received_at = c.received_at.unwrap_or(now);
        // Outside the transaction: a reload of the boundaries must not hold the writer.
        let areas = self.area_index().await?;
        let mut tx = self.begin().await?;
        let db = &mut tx.db();
        // A report belongs to the organisation named, else to the recording user's own.
        let users_org = match (&c.organisation, user_id) {
            (None, Some(u)) => orgs::of_user(db, u).await?,
            _ => None,
        };
        let org = match users_org {
            Some(o) => o,
            None => {
                let code = c.organisation.as_deref().unwrap_or(orgs::FORCE_CODE);
                orgs::by_code(db, code).await?.ok_or_else(|| {
                    StoreError::Invalid(vec![FieldError::new(
                        "organisation",
                        format!("'{code}' is not an organisation in this system"),
                    )])
                })?
            }
        };

        let keys = Keys {
            phone: c.caller.phone.as_ref(),
            name: c.caller.name.as_ref(),
            dob: c.caller.date_of_birth,
            address: c.location.address.as_ref(),
            postcode: c.location.postcode.as_ref(),
            point: c.location.point,
            home: (c.caller.address.is_some() || c.caller.postcode.is_some())
                .then_some((c.caller.address.as_ref(), c.caller.postcode.as_ref())),
            subject: c.subjects.iter().find_map(|s| s.name.as_ref()),
        };
        // Histories as they stood just before this report.
        let f = find(db, p, received_at, &keys).await?;
        let (repeat_victim, repeat_location, known_vulnerable, case_review, repeat_subject) =
            verdicts(p, received_at, &f, true);

        let assessment = p.risk.assess(&c.risk_answers, repeat_victim.flag && c.caller_is_victim);
        let (level, override_reason) = match &c.risk_override {
            None => (assessment.level, None),
            Some((requested, reason)) => match apply_override(assessment.level, *requested, reason) {
                Ok(l) => (l, (l != assessment.level).then(|| reason.clone())),
                Err(e) => return Err(StoreError::Invalid(vec![FieldError::new("risk_override.level", e)])),
            },
        };

        // Qualifiers: the handler's, then the system's own with the rule that applied them.
        let mut qualifiers: Vec<(Qualifier, &str, Option<String>)> =
            c.qualifiers.iter().map(|q| (*q, "user", None)).collect();
        let mut apply = |q: Qualifier, reason: String| {
            if let Some(existing) = qualifiers.iter_mut().find(|(x, _, _)| *x == q) {
                existing.2 = Some(reason);
            } else {
                qualifiers.push((q, "system", Some(reason)));
            }
        };
        if repeat_victim.flag || repeat_location.flag {
            let why = if repeat_victim.flag { &repeat_victim.reason } else { &repeat_location.reason };
            apply(Qualifier::REPEAT, why.clone());
        }
        if level >= RiskLevel::Medium {
            apply(Qualifier::VULNERABLE, format!("assessed {level} risk"));
        }
        qualifiers.sort_by_key(|q| q.0);

        let vulnerable = if level >= RiskLevel::Medium && !known_vulnerable.flag {
            Verdict {
                flag: true,
                reason: format!("Assessed {level} risk on this report — {}", p.vulnerability.meta.cite()),
                ..known_vulnerable.clone()
            }
        } else {
            known_vulnerable.clone()
        };

        let place = upsert_place(db, c, &f, received_at, &areas).await?;
        let place_id = place.id;
        let person_id = upsert_caller(db, c, &f, received_at, place_id).await?;

        let reference = next_reference(db, received_at.year()).await?;
        let risk = RiskOutcome {
            score: assessment.score,
            level,
            questionnaire: assessment.questionnaire.clone(),
            assessed_level: assessment.level,
            reason: assessment.reason.clone(),
            override_reason: override_reason.clone(),
        };
        let mut next_steps = p.next_steps.levels.get(&level).cloned().unwrap_or_default();
        if repeat_victim.flag {
            next_steps = format!("{next_steps} {}", p.next_steps.extras.repeat);
        }
        if case_review.tell_caller {
            let extra = p
                .next_steps
                .extras
                .case_review
                .replace("{count}", &case_review.qualifying_complaints.to_string())
                .replace("{months}", &p.case_review.window_months.to_string())
                .replace("{threshold}", &case_review.threshold.to_string());
            next_steps = format!("{next_steps} {extra}");
        }
        let verdicts_json = serde_json::json!({
            "repeat_victim": repeat_victim, "repeat_location": repeat_location, "vulnerable": vulnerable,
            "repeat_subject": repeat_subject, "case_review": case_review, "risk": risk, "next_steps": next_steps,
        });
        let insert = "INSERT INTO incidents (reference, organisation_id, received_at, place_id, opening_category,
               opening_type_code, category, type_code, narrative, status, risk_score, risk_level, risk_assessed_level,
               risk_questionnaire, risk_answers, risk_override_reason, self_reported_repeat, verdicts, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $5, $6, $7, 'open', $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING id";
        let answers = Json::from(serde_json::to_value(&c.risk_answers).unwrap_or_default());
        let incident_id: i64 = on!(db, conn => sqlx::query_scalar(insert)
            .bind(reference.to_string())
            .bind(org.id)
            .bind(Ts(received_at))
            .bind(place_id)
            .bind(c.category.as_str())
            .bind(i32::from(c.type_code.code()))
            .bind(&c.narrative)
            .bind(i64::from(assessment.score))
            .bind(level.as_str())
            .bind(assessment.level.as_str())
            .bind(&assessment.questionnaire)
            .bind(answers)
            .bind(&override_reason)
            .bind(c.self_reported_repeat)
            .bind(Json::from(verdicts_json))
            .bind(user_id)
            .bind(Ts(now))
            .fetch_one(conn)
            .await?);

        let insert = "INSERT INTO incident_qualifiers (incident_id, code, applied_by, reason) VALUES ($1, $2, $3, $4)";
        for (q, by, reason) in &qualifiers {
            exec!(db, conn => sqlx::query(insert)
                .bind(incident_id)
                .bind(i32::from(q.code()))
                .bind(by)
                .bind(reason)
                .execute(conn)
                .await?);
        }
        if let Some(person) = person_id {
            let role = if c.caller_is_victim { Role::Victim } else { Role::Reporter };
            link(db, incident_id, Some(person), role, None).await?;
        }
        for s in &c.subjects {
            let subject_person = match &s.name {
                Some(n) => Some(upsert_subject(db, n, received_at).await?),
                None => None,
            };
            link(db, incident_id, subject_person, Role::Subject, s.description.as_deref()).await?;
        }
        let insert = "INSERT INTO contacts (incident_id, person_id, organisation_id, channel, received_at, taken_by)
             VALUES ($1, $2, $3, $4, $5, $6)";
        exec!(db, conn => sqlx::query(insert)
            .bind(incident_id)
            .bind(person_id)
            .bind(org.id)
            .bind(c.channel.as_str())
            .bind(Ts(received_at))
            .bind(user_id)
            .execute(conn)
            .await?);
        crate::supervision::schedule_new(
            db,
            &p.supervision,
            &org.kind,
            incident_id,
            received_at,
            &reference.to_string(),
            place_id,
            level,
            now,
        )
        .await?;
        // Last before the audit event: the counts' rows are shared, so hold their locks briefly.
        let counted = Counted { received_at, category: c.category.as_str(), place: Some(place) };
        analysis_counts::add_incident(db, &counted).await?;
        audit::write(
            db,
            &AuditEvent::new(user_id, "collection", "incident", Some(reference.to_string()), "recording an ASB report").with_detail(
                serde_json::json!({"channel": c.channel.as_str(), "organisation": org.code, "person": person_id, "place": place_id}),
            ),
        )
        .await?;
        tx.commit().await?;

        Ok(RecordOutcome {
            reference: reference.to_string(),
            repeat_victim,
            repeat_location,
            repeat_subject,
            vulnerable,
            risk,
            qualifiers: qualifiers.iter().map(|q| q.0.code()).collect(),
            case_review,
            next_steps,
            self_reported_repeat: c.self_reported_repeat,
            person_id,
            place_id,
            organisation: org.name,
            received_at,
        })
    }
}

async fn link(
    db: &mut Db<'_>,
    incident: i64,
    person: Option<i64>,
    role: Role,
    description: Option<&str>,
) -> Result<()> {
    let sql = "INSERT INTO incident_people (incident_id, person_id, role, description) VALUES ($1, $2, $3, $4)";
    exec!(db, c => sqlx::query(sql).bind(incident).bind(person).bind(role.as_str()).bind(description).execute(c).await?);
    Ok(())
}

async fn next_reference(db: &mut Db<'_>, year: i32) -> Result<IncidentRef> {
    let sql = "INSERT INTO reference_counters (year, next_value) VALUES ($1, 2)
         ON CONFLICT (year) DO UPDATE SET next_value = reference_counters.next_value + 1 RETURNING next_value - 1";
    let seq: i64 = on!(db, c => sqlx::query_scalar(sql).bind(year).fetch_one(c).await?);
    Ok(IncidentRef::new(year, seq as u64))
}

/// The borough a new place is in: by the imported boundaries where there are any (its ONS code),
/// else by its postcode district, else the nearest borough centre.
fn borough_for(point: Option<GeoPoint>, postcode: Option<&Postcode>, areas: &AreaIndex) -> Option<String> {
    point
        .and_then(|p| areas.locate(p.lat(), p.lon()))
        .map(|a| a.code.clone())
        .or_else(|| postcode.and_then(|p| boroughs::by_district(p.district())).map(|b| b.ons_code.to_string()))
        .or_else(|| point.map(|p| boroughs::nearest(p.lat(), p.lon()).ons_code.to_string()))
}

async fn upsert_place(
    db: &mut Db<'_>,
    c: &ValidContact,
    f: &Findings,
    at: DateTime<Utc>,
    areas: &AreaIndex,
) -> Result<CountedPlace> {
    let l = &c.location;
    // The same address is the same place; a bare point or postcode makes a new one.
    if l.address.is_some() {
        if let Some(&id) = f.places.exact.first() {
            if let Some(pt) = l.point {
                let sql = "UPDATE places SET lat = $1, lon = $2, h3 = $3 WHERE id = $4 AND lat IS NULL";
                let h3 = geo::to_i64(pt.cell());
                let located = on!(db, conn => sqlx::query(sql)
                    .bind(pt.lat())
                    .bind(pt.lon())
                    .bind(h3)
                    .bind(id)
                    .execute(conn)
                    .await?
                    .rows_affected());
                if located > 0 {
                    analysis_counts::place_located(db, id, h3).await?;
                }
            }
            let sql = "SELECT borough_id, h3 FROM places WHERE id = $1";
            let (borough_id, h3) = on!(db, conn => sqlx::query_as(sql).bind(id).fetch_one(conn).await?);
            return Ok(CountedPlace { id, borough_id, h3 });
        }
    }
    let point = l.point.or(f.places.centre);
    let borough = match borough_for(point, l.postcode.as_ref(), areas) {
        Some(code) => orgs::by_code(db, &orgs::borough_code(&code)).await?.map(|o| o.id),
        None => None,
    };
    let sql = "INSERT INTO places (address, address_norm, postcode, lat, lon, h3, borough_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id";
    let h3 = point.map(|p| geo::to_i64(p.cell()));
    let id = on!(db, conn => sqlx::query_scalar(sql)
        .bind(l.address.as_ref().map(|a| a.as_str()))
        .bind(l.address.as_ref().map(|a| a.normalised()))
        .bind(l.postcode.as_ref().map(|p| p.as_str()))
        .bind(point.map(|p| p.lat()))
        .bind(point.map(|p| p.lon()))
        .bind(h3)
        .bind(borough)
        .bind(Ts(at))
        .fetch_one(conn)
        .await?);
    Ok(CountedPlace { id, borough_id: borough, h3 })
}

/// The caller's person record: the best existing match (filling in what it lacked), or a new one.
async fn upsert_caller(
    db: &mut Db<'_>,
    c: &ValidContact,
    f: &Findings,
    at: DateTime<Utc>,
    place_id: i64,
) -> Result<Option<i64>> {
    if c.caller.is_anonymous() {
        return Ok(None);
    }
    let caller = &c.caller;
    let home_place =
        if caller.address.is_none() && caller.postcode.is_none() && c.caller_is_victim { Some(place_id) } else { None };
    let (address, postcode) = if home_place.is_some() {
        (c.location.address.as_ref(), c.location.postcode.as_ref())
    } else {
        (caller.address.as_ref(), caller.postcode.as_ref())
    };
    if let Some(best) = f.people.iter().max_by_key(|m| m.reasons.len()) {
        let sql = "UPDATE people SET phone = COALESCE(phone, $1), date_of_birth = COALESCE(date_of_birth, $2),
               name = COALESCE(name, $3), name_norm = COALESCE(name_norm, $4), name_key = COALESCE(name_key, $5),
               address = COALESCE(address, $6), postcode = COALESCE(postcode, $7),
               home_place_id = COALESCE(home_place_id, $8)
             WHERE id = $9";
        exec!(db, conn => sqlx::query(sql)
            .bind(caller.phone.as_ref().map(|p| p.as_e164()))
            .bind(caller.date_of_birth)
            .bind(caller.name.as_ref().map(|n| n.display()))
            .bind(caller.name.as_ref().map(|n| n.normalised()))
            .bind(caller.name.as_ref().map(|n| n.phonetic_key()))
            .bind(address.map(|a| a.as_str()))
            .bind(postcode.map(|p| p.as_str()))
            .bind(home_place)
            .bind(best.id)
            .execute(conn)
            .await?);
        return Ok(Some(best.id));
    }
    let sql = "INSERT INTO people (name, name_norm, name_key, date_of_birth, phone, address, postcode, home_place_id, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id";
    let id: i64 = on!(db, conn => sqlx::query_scalar(sql)
        .bind(caller.name.as_ref().map(|n| n.display()))
        .bind(caller.name.as_ref().map(|n| n.normalised()))
        .bind(caller.name.as_ref().map(|n| n.phonetic_key()))
        .bind(caller.date_of_birth)
        .bind(caller.phone.as_ref().map(|p| p.as_e164()))
        .bind(address.map(|a| a.as_str()))
        .bind(postcode.map(|p| p.as_str()))
        .bind(home_place)
        .bind(Ts(at))
        .fetch_one(conn)
        .await?);
    Ok(Some(id))
}

/// A named subject: the person already recorded as a subject under this exact name, or a new one.
async fn upsert_subject(db: &mut Db<'_>, name: &PersonName, at: DateTime<Utc>) -> Result<i64> {
    let sql = "SELECT p.id FROM people p JOIN incident_people ip ON ip.person_id = p.id AND ip.role = 'subject'
         WHERE p.name_norm = $1 LIMIT 1";
    let existing: Option<i64> = on!(db, c => sqlx::query_scalar(sql).bind(name.normalised()).fetch_optional(c).await?);
    if let Some(id) = existing {
        return Ok(id);
    }
    let sql = "INSERT INTO people (name, name_norm, name_key, created_at) VALUES ($1, $2, $3, $4) RETURNING id";
    Ok(on!(db, c => sqlx::query_scalar(sql)
        .bind(name.display())
        .bind(name.normalised())
        .bind(name.phonetic_key())
        .bind(Ts(at))
        .fetch_one(c)
        .await?))
}
