//! The OpenAPI 3.1 description of `/api/v1`. Kept beside the routes it describes; a test checks
//! that every route in `api::routes` appears here.

use serde_json::{json, Value};

fn problem_responses() -> Value {
    json!({
        "400": {"description": "The body or query could not be read", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
        "401": {"description": "No valid bearer token", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
        "403": {"description": "The token's roles do not allow this (see the permission table, GET /me)", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}},
        "422": {"description": "Some fields are not valid; `errors` names each", "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    })
}

fn merge(mut a: Value, b: Value) -> Value {
    if let (Some(a), Value::Object(b)) = (a.as_object_mut(), b) {
        a.extend(b);
    }
    a
}

/// The analysis endpoints (`/analysis/...`): their parameters, formats and what they answer.
fn analysis_paths() -> Value {
    let param = |name: &str, description: &str, example: Value| json!({"name": name, "in": "query", "required": false, "schema": {"type": "string"}, "description": description, "example": example});
    let months = vec![
        param("from", "First month, YYYY-MM (default: the period's length before `to`)", json!("2026-01")),
        param("to", "Last month, YYYY-MM, included (default: this month)", json!("2026-11")),
    ];
    let borough = param("borough", "An area: the local authority's ONS code (E09000007) or the borough's code (MPS-E09000007). Unknown codes are refused (422, field borough)", json!("E09000007"));
    let limit =
        |default: i64, max: i64| param("limit", &format!("Rows, 1 to {max} (default {default})"), json!(default));
    let format = |formats: &str| {
        param("format", &format!("{formats}; or send Accept: text/csv (application/geo+json)"), json!("json"))
    };
    let csv = |header: &str| json!({"schema": {"type": "string"}, "example": header});
    let ok = |what: &str, content: Value| {
        merge(json!({"200": {"description": what, "content": content}}), problem_responses())
    };
    let with = |mut list: Vec<Value>, more: Vec<Value>| {
        list.extend(more);
        list
    };
    json!({
        "/analysis/trends": {"get": {
            "summary": "ASB reports by month, area and NSIR category, with the change on the same month a year earlier",
            "description": "asb's own incidents (by month received and their place's borough) and the published police.uk records (by month and local authority) together, counted side by side. Published records carry no category (unknown). At most 60 months. Analysts and above.",
            "parameters": with(months.clone(), vec![borough.clone(), format("json or csv")]),
            "responses": ok("The trends", json!({"application/json": {"schema": {"type": "object", "required": ["from", "to", "months", "rows"]}}, "text/csv": csv(crate::analysis::TRENDS_CSV)}))
        }},
        "/analysis/hotspots": {"get": {
            "summary": "H3 cells ranked by reports, and the emerging hotspots",
            "description": "Cells at `resolution` (6–10, default 8) derived from the stored resolution-11 cells; the emerging-hotspot rule (its id, version and plain words in `rule`; the settings in GET /policies, emerging_hotspot) judges each cell over the months ending with `to`, with a reason per cell. Default period: the last 3 months. `format=geojson` gives a FeatureCollection of the hexagons (Polygon, WGS84) with count and emerging properties.",
            "parameters": with(months.clone(), vec![param("resolution", "H3 resolution, 6 (about 36 km² a cell) to 10 (about 0.015 km²); default 8", json!(8)), borough.clone(), limit(50, 500), format("json, csv or geojson")]),
            "responses": ok("The cells", json!({"application/json": {"schema": {"type": "object", "required": ["resolution", "rule", "cells", "emerging"]}}, "application/geo+json": {"schema": {"type": "object", "required": ["type", "features"]}}, "text/csv": csv(crate::analysis::HOTSPOTS_CSV)}))
        }},
        "/analysis/repeat-locations": {"get": {
            "summary": "Places (asb's own records) and published map points with the most reports in the period",
            "parameters": with(months, vec![borough.clone(), limit(20, 500), format("json, csv or geojson")]),
            "responses": ok("The places and points, ranked", json!({"application/json": {"schema": {"type": "object", "required": ["places", "points"]}}, "application/geo+json": {"schema": {"type": "object"}}, "text/csv": csv(crate::analysis::LOCATIONS_CSV)}))
        }},
        "/analysis/victims": {"get": {
            "summary": "How many repeat, vulnerable repeat and acute victims there are now (counts only, no one named)",
            "description": "In the 12 months to now, by the repeat-victim, known-vulnerable and acute-victim rules (stated in `rules`). With `borough`, people who reported as the victim there; their reports count wherever they were made.",
            "parameters": [borough.clone(), format("json or csv")],
            "responses": ok("The counts", json!({"application/json": {"schema": {"type": "object", "required": ["repeat_victims", "acute_victims", "rules"]}}, "text/csv": csv("measure,count")}))
        }},
        "/analysis/victims/people": {"get": {
            "summary": "The repeat and acute victims by name (personal data; every look is logged)",
            "description": "Neighbourhood officers, SPOCs and supervising ranks only (not analysts). Vulnerable people first, then by reports, each with the rules' verdict and reason. A user in a borough lists that borough's victims only. The audit event names whose records were listed.",
            "parameters": [borough, param("acute", "yes: acute victims only", json!("yes")), limit(200, 1000), format("json or csv")],
            "responses": ok("The people", json!({"application/json": {"schema": {"type": "object", "required": ["people", "repeat_victims", "acute_victims"]}}, "text/csv": csv(crate::analysis::VICTIMS_CSV)}))
        }}
    })
}

pub fn document() -> Value {
    let verdict = json!({
        "type": "object",
        "required": ["flag", "rule", "version", "reason", "earlier"],
        "properties": {
            "flag": {"type": "boolean"},
            "rule": {"type": "string", "description": "Policy id, e.g. repeat-victim"},
            "version": {"type": "integer"},
            "reason": {"type": "string", "description": "Plain-English reason naming the rule and version"},
            "earlier": {"type": "array", "items": {"type": "string"}, "description": "References of the earlier reports that count, newest first"}
        }
    });
    let text = json!({"type": ["string", "null"]});
    let check_params: Vec<Value> = ["phone", "name", "date_of_birth", "postcode", "address", "lat", "lon", "subject"]
        .iter()
        .map(|p| json!({"name": p, "in": "query", "required": false, "schema": {"type": "string"}}))
        .collect();
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "asb API",
            "version": "1",
            "description": "Anti-social behaviour reports for police forces and partners: first-contact checks, recording contacts to NSIR 2011, incidents and policies. Staff calls need `Authorization: Bearer <token>` (`asb token issue --user NAME`)."
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": merge(analysis_paths(), json!({
            "/contacts": {"post": {
                "summary": "Record a contact (one report of an ASB incident)",
                "description": "In one transaction: the caller and place matched or created, the incident with category, type and qualifiers, the risk assessment, the system's own qualifiers (610 when a repeat rule fires, 635 at medium or high risk) and an audit event.",
                "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ContactInput"}}}},
                "responses": merge(json!({"201": {"description": "Recorded", "headers": {"Location": {"schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/RecordOutcome"}}}}}), problem_responses())
            }},
            "/first-contact-check": {"get": {
                "summary": "What the record holds about a caller, a place or a subject, with the verdicts",
                "parameters": check_params,
                "responses": merge(json!({"200": {"description": "People matched (with why), the place's history, verdicts and case-review progress", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CheckResult"}}}}}), problem_responses())
            }},
            "/incidents/{reference}": {"get": {
                "summary": "One incident in full",
                "parameters": [{"name": "reference", "in": "path", "required": true, "schema": {"type": "string", "example": "ASB-26-0000013"}}],
                "responses": merge(json!({"200": {"description": "The incident", "content": {"application/json": {"schema": {"type": "object"}}}}, "404": {"description": "No such incident"}}), problem_responses())
            }},
            "/policies": {"get": {"summary": "The policies in force (repeat, vulnerability, case review, risk questionnaire, next steps) with ids and versions", "responses": {"200": {"description": "Policies", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/taxonomy": {"get": {"summary": "NSIR 2011 categories with definitions, the 13 MPS type codes and the qualifiers", "responses": {"200": {"description": "Taxonomy", "content": {"application/json": {"schema": {"type": "object"}}}}}}},
            "/me": {"get": {"summary": "Who the token belongs to: username, organisation, roles, and the actions the permission table allows them", "responses": merge(json!({"200": {"description": "The user", "content": {"application/json": {"schema": {"type": "object", "required": ["username", "roles", "allowed"]}}}}}), problem_responses())}},
            "/audit": {"get": {
                "summary": "Who has looked at or changed a record (administrators only)",
                "description": "Every audit event about the record, oldest first: collection, alteration, consultation (views and the searches that showed it) and disclosure, each with who, when and why. Reading the trail is itself logged.",
                "parameters": [{"name": "subject", "in": "query", "required": true, "schema": {"type": "string", "example": "incident:ASB-26-0000013"}, "description": "incident:REFERENCE, person:ID, case:ID or user:ID"}],
                "responses": merge(json!({"200": {"description": "The events", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/AuditEvent"}}}}}}), problem_responses())
            }},
            "/users": {"get": {"summary": "Every user account with organisation, roles, second factor and status (administrators only)", "responses": merge(json!({"200": {"description": "The accounts", "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}}}), problem_responses())}},
            "/openapi.json": {"get": {"summary": "This document", "security": [], "responses": {"200": {"description": "OpenAPI 3.1"}}}}
        })),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "Problem": {"type": "object", "description": "RFC 9457", "required": ["type", "title", "status"], "properties": {
                    "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"}, "detail": {"type": "string"},
                    "errors": {"type": "array", "items": {"type": "object", "required": ["field", "message"], "properties": {"field": {"type": "string"}, "message": {"type": "string"}}}}
                }},
                "Verdict": verdict,
                "AuditEvent": {"type": "object", "required": ["id", "at", "user", "action", "subject_type", "purpose"], "properties": {
                    "id": {"type": "integer", "description": "Position in the hash chain"},
                    "at": {"type": "string", "format": "date-time"},
                    "user": {"type": ["string", "null"], "description": "Username; null for the system"},
                    "action": {"enum": ["collection", "alteration", "consultation", "disclosure", "combination", "erasure"]},
                    "subject_type": {"type": "string"}, "subject_id": {"type": ["string", "null"]},
                    "purpose": {"type": "string"}, "detail": {"description": "Which fields were searched and which records were seen; never the values searched for"}
                }},
                "ContactInput": {"type": "object", "additionalProperties": false, "required": ["channel", "caller_is_victim", "location", "narrative", "category", "type_code", "risk_answers"], "properties": {
                    "channel": {"enum": ["phone_101", "phone_999", "online", "in_person", "email", "partner_referral"]},
                    "received_at": {"type": ["string", "null"], "format": "date-time"},
                    "organisation": {"type": ["string", "null"], "description": "Organisation code; default the force (MPS)"},
                    "caller": {"type": "object", "additionalProperties": false, "properties": {"name": text, "phone": text, "date_of_birth": {"type": ["string", "null"], "format": "date"}, "address": text, "postcode": text}},
                    "caller_is_victim": {"type": "boolean"},
                    "self_reported_repeat": {"type": ["boolean", "null"]},
                    "location": {"type": "object", "additionalProperties": false, "properties": {"address": text, "postcode": text, "lat": {"type": ["number", "null"]}, "lon": {"type": ["number", "null"]}}},
                    "narrative": {"type": "string", "maxLength": 10000},
                    "category": {"enum": ["personal", "nuisance", "environmental"]},
                    "type_code": {"type": ["integer", "string"], "description": "MPS code: 200, 201, 202, 204, 205, 206, 207, 209, 210, 211, 212, 213, 217"},
                    "subjects": {"type": ["array", "null"], "items": {"type": "object", "additionalProperties": false, "properties": {"name": text, "description": text}}},
                    "qualifiers": {"type": ["array", "null"], "items": {"enum": [606, 609, 610, 631, 635, 636, 637, 638]}},
                    "risk_answers": {"type": "object", "additionalProperties": {"type": "boolean"}, "description": "Question id → answer; ids from GET /policies"},
                    "risk_override": {"type": ["object", "null"], "additionalProperties": false, "properties": {"level": {"enum": ["standard", "medium", "high"]}, "reason": {"type": "string"}}}
                }},
                "RecordOutcome": {"type": "object", "required": ["reference", "repeat_victim", "repeat_location", "vulnerable", "risk", "qualifiers", "next_steps"], "properties": {
                    "reference": {"type": "string"},
                    "repeat_victim": {"$ref": "#/components/schemas/Verdict"},
                    "repeat_location": {"$ref": "#/components/schemas/Verdict"},
                    "repeat_subject": {"$ref": "#/components/schemas/Verdict"},
                    "vulnerable": {"$ref": "#/components/schemas/Verdict"},
                    "risk": {"type": "object", "required": ["score", "level", "questionnaire"], "properties": {"score": {"type": "integer"}, "level": {"enum": ["standard", "medium", "high"]}, "questionnaire": {"type": "string"}, "assessed_level": {"enum": ["standard", "medium", "high"]}, "reason": {"type": "string"}}},
                    "qualifiers": {"type": "array", "items": {"type": "integer"}},
                    "case_review": {"$ref": "#/components/schemas/CaseReview"},
                    "next_steps": {"type": "string", "description": "What to tell the caller"}
                }},
                "CaseReview": {"type": "object", "required": ["qualifying_complaints", "threshold", "met"], "properties": {"qualifying_complaints": {"type": "integer"}, "threshold": {"type": "integer"}, "met": {"type": "boolean"}, "reason": {"type": "string"}}},
                "CheckResult": {"type": "object", "required": ["people", "place", "repeat_victim", "repeat_location", "vulnerable", "case_review"], "properties": {
                    "people": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"}, "name": text, "matched_on": {"type": "array", "items": {"type": "string"}}, "history": {"type": "object"}, "incidents": {"type": "array", "items": {"type": "object"}}}}},
                    "place": {"type": "object"},
                    "repeat_victim": {"$ref": "#/components/schemas/Verdict"},
                    "repeat_location": {"$ref": "#/components/schemas/Verdict"},
                    "repeat_subject": {"$ref": "#/components/schemas/Verdict"},
                    "vulnerable": {"$ref": "#/components/schemas/Verdict"},
                    "case_review": {"$ref": "#/components/schemas/CaseReview"}
                }}
            }
        }
    })
}
