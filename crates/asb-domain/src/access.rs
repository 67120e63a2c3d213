//! Who may do what: the roles of the people who use asb, and the permission table (role ×
//! action). This is the one place the table is written; the server maps every route to one
//! action and asks `allows` before the handler runs, for pages and API alike.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    CallHandler,
    ResponseOfficer,
    NeighbourhoodOfficer,
    /// ASB coordinator, the single point of contact who runs cases.
    Spoc,
    Sergeant,
    Inspector,
    ChiefInspector,
    Analyst,
    PartnerCaseworker,
    Administrator,
}

impl Role {
    pub const ALL: [Role; 10] = [
        Role::CallHandler,
        Role::ResponseOfficer,
        Role::NeighbourhoodOfficer,
        Role::Spoc,
        Role::Sergeant,
        Role::Inspector,
        Role::ChiefInspector,
        Role::Analyst,
        Role::PartnerCaseworker,
        Role::Administrator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::CallHandler => "call_handler",
            Role::ResponseOfficer => "response_officer",
            Role::NeighbourhoodOfficer => "neighbourhood_officer",
            Role::Spoc => "spoc",
            Role::Sergeant => "sergeant",
            Role::Inspector => "inspector",
            Role::ChiefInspector => "chief_inspector",
            Role::Analyst => "analyst",
            Role::PartnerCaseworker => "partner_caseworker",
            Role::Administrator => "administrator",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Role::CallHandler => "Call handler",
            Role::ResponseOfficer => "Response officer",
            Role::NeighbourhoodOfficer => "Neighbourhood officer",
            Role::Spoc => "ASB coordinator (SPOC)",
            Role::Sergeant => "Sergeant",
            Role::Inspector => "Inspector",
            Role::ChiefInspector => "Chief inspector",
            Role::Analyst => "Analyst",
            Role::PartnerCaseworker => "Partner caseworker",
            Role::Administrator => "Administrator",
        }
    }

    /// The supervisory ranks, lowest first: they review incidents on the cadence policy.
    pub const SUPERVISORS: [Role; 3] = [Role::Sergeant, Role::Inspector, Role::ChiefInspector];

    pub fn is_supervisor(self) -> bool {
        Role::SUPERVISORS.contains(&self)
    }

    /// Roles from their names, comma-separated as stored; names that are not roles are dropped
    /// (they grant nothing).
    pub fn parse_list(s: &str) -> Vec<Role> {
        let mut roles: Vec<Role> = s.split(',').filter_map(|r| r.trim().parse().ok()).collect();
        roles.sort();
        roles.dedup();
        roles
    }

    /// Roles as stored: their names, comma-separated, in the order of `Role::ALL`, each once.
    pub fn join(roles: &[Role]) -> String {
        let mut roles = roles.to_vec();
        roles.sort();
        roles.dedup();
        roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::ALL.into_iter().find(|r| r.as_str() == s.trim()).ok_or_else(|| {
            let names: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
            format!("'{}' is not a role; the roles are {}", s.trim(), names.join(", "))
        })
    }
}

/// What a request does, as far as permission goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Reference material with no personal data: policies, the NSIR taxonomy, one's own account.
    UseSystem,
    /// The first-contact check: who and where is known, across every agency.
    CheckFirstContact,
    /// Record an ASB report.
    RecordContact,
    /// Read an incident with the people in it.
    ViewIncident,
    /// Record that the victim was updated.
    UpdateVictim,
    /// Work the review queue: confirm or change an incident's classification and risk.
    Supervise,
    /// Check the week's quality sample of new records.
    DipSample,
    /// The inspection measures (aggregates, no personal data).
    ViewMeasures,
    /// Analysis: trends, hotspots, repeat locations and counts of repeat and acute victims
    /// (aggregates and places; no one's name).
    ViewAnalysis,
    /// The repeat and acute victims by name: personal data, each look logged.
    ViewVictimList,
    /// Who looked at or changed a record.
    ViewAudit,
    /// Create users, set their roles, disable them.
    ManageUsers,
}

use Role::*;

/// Everyone who takes reports and works cases: every role but the analyst and the administrator.
const CASEWORK: &[Role] =
    &[CallHandler, ResponseOfficer, NeighbourhoodOfficer, Spoc, Sergeant, Inspector, ChiefInspector, PartnerCaseworker];

/// The permission table: each action and the roles allowed it. Least privilege: an analyst sees
/// aggregates, not people; an administrator manages accounts and reads the audit trail but
/// does not search or read incidents.
pub const PERMISSIONS: &[(Action, &[Role])] = &[
    (Action::UseSystem, &Role::ALL),
    (Action::CheckFirstContact, CASEWORK),
    (Action::RecordContact, CASEWORK),
    (Action::ViewIncident, CASEWORK),
    (
        Action::UpdateVictim,
        &[ResponseOfficer, NeighbourhoodOfficer, Spoc, Sergeant, Inspector, ChiefInspector, PartnerCaseworker],
    ),
    (Action::Supervise, &[Sergeant, Inspector, ChiefInspector]),
    (Action::DipSample, &[Sergeant, Inspector, ChiefInspector]),
    (Action::ViewMeasures, &[Sergeant, Inspector, ChiefInspector, Analyst, Administrator]),
    // Analysis serves those who plan and task the response to ASB: the analyst, the
    // neighbourhood officer and the SPOC who work problems, and the supervising ranks. Call
    // handlers and response officers see what they need per call (the first-contact check);
    // partners wait for an information sharing agreement to name it; administrators do not
    // need it for managing accounts.
    (Action::ViewAnalysis, &[NeighbourhoodOfficer, Spoc, Sergeant, Inspector, ChiefInspector, Analyst]),
    // The victims themselves only for those who act on the list (the SPOC and neighbourhood
    // officer who contact and support them, the ranks who oversee it); not the analyst, who
    // sees aggregates only.
    (Action::ViewVictimList, &[NeighbourhoodOfficer, Spoc, Sergeant, Inspector, ChiefInspector]),
    (Action::ViewAudit, &[Administrator]),
    (Action::ManageUsers, &[Administrator]),
];

/// The roles allowed `action`.
pub fn roles_for(action: Action) -> &'static [Role] {
    PERMISSIONS.iter().find(|(a, _)| *a == action).map_or(&[], |(_, r)| r)
}

/// Whether any of `roles` is allowed `action`.
pub fn allows(roles: &[Role], action: Action) -> bool {
    let allowed = roles_for(action);
    roles.iter().any(|r| allowed.contains(r))
}

/// A username as typed: 2–40 lower-case letters, digits, dots, hyphens or underscores,
/// starting with a letter. Returns it trimmed and lower-cased.
pub fn check_username(s: &str) -> Result<String, String> {
    let u = s.trim().to_lowercase();
    let ok_char = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_');
    if !(2..=40).contains(&u.len()) || !u.chars().all(ok_char) || !u.starts_with(|c: char| c.is_ascii_lowercase()) {
        return Err(
            "Enter a username of 2 to 40 letters, digits, dots, hyphens or underscores, starting with a letter".into(),
        );
    }
    Ok(u)
}

/// A new password: at least 12 characters (NCSC: length, not composition rules), and not the
/// username.
pub fn check_password(password: &str, username: &str) -> Result<(), String> {
    if password.chars().count() < 12 {
        return Err("Enter a password of at least 12 characters".into());
    }
    if password.trim().eq_ignore_ascii_case(username.trim()) {
        return Err("The password must not be the username".into());
    }
    Ok(())
}

/// An organisation as the own-work rule sees it: its id and kind (`force`, `borough`,
/// `council`, `housing`, `victim_support` …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgRef<'a> {
    pub id: i64,
    pub kind: &'a str,
}

/// The kinds of organisation that are the police: the force, its boroughs (basic command
/// units) and their neighbourhood teams.
pub const POLICE_KINDS: [&str; 3] = ["force", "borough", "neighbourhood_team"];

/// Whether an organisation of this kind is the police.
pub fn is_police(kind: &str) -> bool {
    POLICE_KINDS.contains(&kind)
}

impl OrgRef<'_> {
    fn is_police(&self) -> bool {
        is_police(self.kind)
    }
}

/// Whether a record made by `record` is the viewer's own work: their own organisation's, or, for
/// police staff, the force's or any of its boroughs'. Reading anyone else's record is a
/// disclosure across agencies, and asb asks for (and logs) the reason first.
pub fn own_work(viewer: OrgRef<'_>, record: OrgRef<'_>) -> bool {
    viewer.id == record.id || (viewer.is_police() && record.is_police())
}

/// Signing in, as the force sets it in `policies/access.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessPolicy {
    #[serde(flatten)]
    pub meta: crate::policy::PolicyMeta,
    pub max_failed_sign_ins: u32,
    pub lockout_minutes: i64,
    pub session_hours: i64,
    pub require_second_factor: Vec<Role>,
}

pub const DEFAULT_ACCESS_POLICY: &str = include_str!("../../../policies/access.toml");

impl AccessPolicy {
    pub fn defaults() -> AccessPolicy {
        // The shipped file is tested below; failing here is a build defect, not bad input.
        AccessPolicy::from_toml(DEFAULT_ACCESS_POLICY).expect("the shipped access policy is valid")
    }

    /// The policy from a force's `access.toml`; errors name what is wrong.
    pub fn from_toml(text: &str) -> Result<AccessPolicy, String> {
        let p: AccessPolicy = toml::from_str(text).map_err(|e| format!("access.toml: {e}"))?;
        if p.max_failed_sign_ins == 0 {
            return Err("access.toml: max_failed_sign_ins must be at least 1".into());
        }
        if !(1..=24 * 60).contains(&p.lockout_minutes) {
            return Err("access.toml: lockout_minutes must be between 1 and 1440".into());
        }
        if !(1..=24).contains(&p.session_hours) {
            return Err("access.toml: session_hours must be between 1 and 24".into());
        }
        Ok(p)
    }

    /// Whether someone with `roles` must use a second factor.
    pub fn second_factor_required(&self, roles: &[Role]) -> bool {
        roles.iter().any(|r| self.require_second_factor.contains(r))
    }

    /// When an account with these failed sign-ins is locked until, if it is locked at `now`:
    /// `max_failed_sign_ins` failures within `lockout_minutes` of each other lock it for
    /// `lockout_minutes` from the last of them. (Attempts while locked are not counted, so the
    /// lock cannot be kept on for ever by guessing.)
    pub fn locked_until(
        &self,
        failures: &[chrono::DateTime<chrono::Utc>],
        now: chrono::DateTime<chrono::Utc>,
    ) -> Option<chrono::DateTime<chrono::Utc>> {
        let window = chrono::Duration::minutes(self.lockout_minutes);
        let n = self.max_failed_sign_ins as usize;
        let mut times = failures.to_vec();
        times.sort();
        times
            .windows(n)
            .filter(|w| w[n - 1] - w[0] < window)
            .map(|w| w[n - 1] + window)
            .max()
            .filter(|until| now < *until)
    }

    /// How far back `locked_until` needs failures to decide.
    pub fn failures_window(&self) -> chrono::Duration {
        chrono::Duration::minutes(2 * self.lockout_minutes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_has_a_row_and_every_role_a_name() {
        for (action, _) in PERMISSIONS {
            assert_eq!(PERMISSIONS.iter().filter(|(a, _)| a == action).count(), 1, "{action:?} twice");
        }
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>(), Ok(r));
        }
        assert!("superuser".parse::<Role>().unwrap_err().contains("call_handler"));
    }

    #[test]
    fn least_privilege() {
        assert!(allows(&[Administrator], Action::ViewAudit));
        assert!(!allows(&[Administrator], Action::CheckFirstContact), "administrators do not search people");
        assert!(!allows(&[Analyst], Action::ViewIncident), "analysts see aggregates only");
        assert!(allows(&[Analyst], Action::ViewAnalysis));
        assert!(!allows(&[Analyst], Action::ViewVictimList), "analysts see counts of victims, not names");
        assert!(!allows(&[Administrator], Action::ViewVictimList));
        assert!(!allows(&[CallHandler, PartnerCaseworker], Action::ViewVictimList));
        for r in roles_for(Action::ViewVictimList) {
            assert!(allows(&[*r], Action::ViewAnalysis), "{r} lists victims, so sees the analysis it sits in");
        }
        assert!(!allows(&[CallHandler], Action::Supervise));
        assert!(!allows(&[Sergeant, Inspector], Action::ViewAudit));
        assert!(allows(&[CallHandler, Sergeant], Action::Supervise), "any one role suffices");
        assert!(!allows(&[], Action::UseSystem), "no role, no access");
    }

    #[test]
    fn lock_out_after_repeated_failures_for_the_window() {
        use chrono::{Duration, TimeZone, Utc};
        let p = AccessPolicy::defaults();
        assert_eq!((p.max_failed_sign_ins, p.lockout_minutes), (5, 15));
        let t0 = Utc.with_ymd_and_hms(2026, 11, 26, 9, 0, 0).unwrap();
        let fails: Vec<_> = (0..5).map(|i| t0 + Duration::minutes(i)).collect();
        assert_eq!(p.locked_until(&fails[..4], t0 + Duration::minutes(5)), None, "four failures do not lock");
        let until = t0 + Duration::minutes(4 + 15);
        assert_eq!(p.locked_until(&fails, t0 + Duration::minutes(5)), Some(until));
        assert!(p.locked_until(&fails, until - Duration::seconds(1)).is_some(), "still locked a second before");
        // Fifteen minutes after the latest failure, the earliest have left the window.
        assert_eq!(p.locked_until(&fails, until), None);
    }

    #[test]
    fn second_factor_by_role_and_bad_files_named() {
        let mut p = AccessPolicy::defaults();
        assert!(!p.second_factor_required(&[Administrator]), "the shipped default asks for none");
        p.require_second_factor = vec![Administrator];
        assert!(p.second_factor_required(&[CallHandler, Administrator]));
        assert!(!p.second_factor_required(&[CallHandler]));
        let bad = DEFAULT_ACCESS_POLICY.replace("lockout_minutes = 15", "lockout_minutes = 0");
        assert!(AccessPolicy::from_toml(&bad).unwrap_err().contains("lockout_minutes"));
        let bad = DEFAULT_ACCESS_POLICY.replace("require_second_factor = []", "require_second_factor = [\"root\"]");
        assert!(AccessPolicy::from_toml(&bad).unwrap_err().starts_with("access.toml"));
    }

    #[test]
    fn usernames_and_passwords() {
        assert_eq!(check_username(" Sergeant.Jones "), Ok("sergeant.jones".into()));
        assert!(check_username("1abc").is_err());
        assert!(check_username("a b").is_err());
        assert!(check_password("short", "x").unwrap_err().contains("12"));
        assert!(check_password("callhandler1", "callhandler1").is_err());
        assert!(check_password("a long passphrase", "x").is_ok());
    }

    #[test]
    fn own_work_is_ones_own_organisation_or_for_police_the_force() {
        let force = OrgRef { id: 1, kind: "force" };
        let camden = OrgRef { id: 2, kind: "borough" };
        let team = OrgRef { id: 5, kind: "neighbourhood_team" };
        let council = OrgRef { id: 3, kind: "council" };
        let housing = OrgRef { id: 4, kind: "housing" };
        assert!(own_work(camden, force) && own_work(force, camden) && own_work(team, camden));
        assert!(own_work(council, council));
        assert!(!own_work(council, camden), "a council reading a police record states why");
        assert!(!own_work(force, council), "and the police reading the council's");
        assert!(!own_work(housing, council));
    }

    #[test]
    fn stored_lists_parse_and_drop_unknown_names() {
        assert_eq!(Role::parse_list("sergeant, call_handler,bogus,sergeant"), vec![CallHandler, Sergeant]);
        assert_eq!(Role::join(&[Sergeant, CallHandler, Sergeant]), "call_handler,sergeant");
    }
}
