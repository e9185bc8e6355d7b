//! Which cases run, in which order, and why the others do not.

use std::collections::BTreeSet;

use hopquy_case::{Case, Effect, LabNetOp, LabNetUse, ProfileFile, StepAction};

#[derive(Debug, Clone)]
pub struct PlannedCase {
    pub case: Case,
    /// Clause ids of the selected regulation this case maps to.
    pub clauses: Vec<String>,
}

/// A case that is in the plan but will not execute its steps.
#[derive(Debug, Clone, PartialEq)]
pub enum Skip {
    /// The profile lacks operations the case needs: not_applicable, with the reason.
    MissingOps(Vec<String>),
    /// Destructive without `--allow-destructive`: inconclusive (the evidence was not
    /// gathered), never a pass.
    DestructiveNotAllowed,
    /// An `effect = "intrusive"` case without `--allow-destructive`.
    IntrusiveNotAllowed,
    /// Already finished in the bundle being resumed.
    AlreadyDone,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub cases: Vec<(PlannedCase, Option<Skip>)>,
}

/// Select the cases that map to `regulation` (optionally filtered by id), and order them so
/// that nothing a case does to the device can spoil a later one. With a lab network
/// (`lab_net`) the cases that judge its record replace the operator's manual captures;
/// without one those run instead (`LabNetUse`).
pub fn plan(
    cases: &[Case],
    regulation: &str,
    profile: &ProfileFile,
    only: Option<&BTreeSet<String>>,
    allow_destructive: bool,
    lab_net: bool,
    done: &BTreeSet<String>,
) -> Plan {
    let mut selected: Vec<(PlannedCase, Option<Skip>)> = cases
        .iter()
        .filter(|c| only.is_none_or(|o| o.contains(c.id.get_ref())))
        .filter(|c| LabNetUse::runs_with(c.lab_net, lab_net))
        .filter_map(|c| {
            let clauses: Vec<String> = c.clauses.get(regulation)?.iter().map(|s| s.get_ref().clone()).collect();
            if clauses.is_empty() {
                return None;
            }
            let missing: Vec<String> = c
                .needs
                .iter()
                .map(|n| n.get_ref().clone())
                .filter(|n| !profile.ops.contains_key(n))
                .collect();
            let skip = if done.contains(c.id.get_ref()) {
                Some(Skip::AlreadyDone)
            } else if !missing.is_empty() {
                Some(Skip::MissingOps(missing))
            } else if is_destructive(c) && !allow_destructive {
                Some(Skip::DestructiveNotAllowed)
            } else if needs_allow_destructive(c) && !allow_destructive {
                Some(Skip::IntrusiveNotAllowed)
            } else {
                None
            };
            Some((
                PlannedCase {
                    case: c.clone(),
                    clauses,
                },
                skip,
            ))
        })
        .collect();
    // Stable sort: within one effect class, a case that measures something for the others
    // (`measures = "lockout"`: the dictionaries are paced from the lock it finds) goes first;
    // otherwise file order (which is clause order) is kept.
    selected.sort_by_key(|(p, _)| (effect_rank(&p.case), p.case.measures.is_none()));
    Plan { cases: selected }
}

use crate::selection::{is_destructive, needs_allow_destructive};

/// Destructive cases last; before them the cases that cut the camera's uplink, because a
/// camera that misbehaves after an outage (slow to come back, local services down) must not
/// spoil the cases that would otherwise follow.
fn effect_rank(c: &Case) -> u8 {
    if is_destructive(c) {
        return 5;
    }
    if cuts_uplink(c) {
        return 4;
    }
    match c.effect {
        Effect::ReadOnly => 0,
        Effect::LocksAccount => 1,
        Effect::Configures => 2,
        Effect::Intrusive => 3,
        Effect::Destructive => 5,
    }
}

fn cuts_uplink(c: &Case) -> bool {
    c.steps
        .iter()
        .any(|s| matches!(s.action.get_ref(), StepAction::LabNet(l) if *l.op.get_ref() == LabNetOp::Cut))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn case(id: &str, effect: &str, measures: bool) -> Case {
        let measures = if measures { "measures = \"lockout\"\n" } else { "" };
        toml::from_str(&format!(
            "id = \"{id}\"\ntitle = \"t\"\ntitle_vi = \"t\"\nkind = \"automated\"\nmethod = \"functional\"\neffect = \"{effect}\"\n{measures}since = \"0.1.0\"\nsummary = \"s\"\n[clauses]\nqcvn135-2024 = [\"2.1.1\"]\n[[steps]]\nid = \"s\"\naction = \"wait\"\nseconds = 0\n"
        ))
        .unwrap()
    }

    #[test]
    fn lockout_measuring_cases_run_before_the_dictionaries_they_pace() {
        let cases = [
            case("default-credentials-http", "locks-account", false),
            case("configures", "configures", false),
            case("default-credentials-rtsp", "locks-account", false),
            case("lockout-http", "locks-account", true),
            case("read-only", "read-only", false),
            case("lockout-rtsp", "locks-account", true),
        ];
        let profile: ProfileFile = toml::from_str("name = \"p\"\ndescription = \"d\"").unwrap();
        let planned = plan(&cases, "qcvn135-2024", &profile, None, false, false, &BTreeSet::new());
        let order: Vec<&str> = planned
            .cases
            .iter()
            .map(|(p, _)| p.case.id.get_ref().as_str())
            .collect();
        assert_eq!(
            order,
            [
                "read-only",
                "lockout-http",
                "lockout-rtsp",
                "default-credentials-http",
                "default-credentials-rtsp",
                "configures"
            ]
        );
    }

    #[test]
    fn intrusive_cases_wait_for_the_flag_and_run_after_everything_but_destructive_ones() {
        let cases = [
            case("intrusive", "intrusive", false),
            case("destructive", "destructive", false),
            case("configures", "configures", false),
            case("read-only", "read-only", false),
        ];
        let profile: ProfileFile = toml::from_str("name = \"p\"\ndescription = \"d\"").unwrap();
        let skips = |allow: bool| -> Vec<(String, Option<Skip>)> {
            plan(&cases, "qcvn135-2024", &profile, None, allow, false, &BTreeSet::new())
                .cases
                .into_iter()
                .map(|(p, skip)| (p.case.id.get_ref().clone(), skip))
                .collect()
        };
        let without = skips(false);
        let order: Vec<&str> = without.iter().map(|(id, _)| id.as_str()).collect();
        assert_eq!(order, ["read-only", "configures", "intrusive", "destructive"]);
        assert_eq!(without[2].1, Some(Skip::IntrusiveNotAllowed));
        assert_eq!(without[3].1, Some(Skip::DestructiveNotAllowed));
        assert!(skips(true).iter().all(|(_, skip)| skip.is_none()));
    }

    fn lab_case(id: &str, lab_net: &str, op: &str) -> Case {
        toml::from_str(&format!(
            "id = \"{id}\"\ntitle = \"t\"\ntitle_vi = \"t\"\nkind = \"automated\"\nmethod = \"functional\"\nlab_net = \"{lab_net}\"\nsince = \"0.1.0\"\nsummary = \"s\"\n[clauses]\nqcvn135-2024 = [\"2.8.3\"]\n[[steps]]\nid = \"s\"\naction = \"{action}\"\n{op}\n",
            action = if op.is_empty() { "wait" } else { "lab-net" },
            op = if op.is_empty() { "seconds = 0".to_string() } else { format!("op = \"{op}\"") },
        ))
        .unwrap()
    }

    #[test]
    fn the_lab_network_cases_replace_the_manual_captures_and_outages_come_last() {
        let cases = [
            lab_case("outage", "required", "cut"),
            lab_case("manual-capture", "replaced", ""),
            lab_case("traffic", "required", "snapshot"),
            case("configures", "configures", false),
            case("read-only", "read-only", false),
            case("destructive", "destructive", false),
        ];
        let profile: ProfileFile = toml::from_str("name = \"p\"\ndescription = \"d\"").unwrap();
        let order = |lab_net: bool| -> Vec<String> {
            plan(&cases, "qcvn135-2024", &profile, None, true, lab_net, &BTreeSet::new())
                .cases
                .into_iter()
                .map(|(p, _)| p.case.id.get_ref().clone())
                .collect()
        };
        assert_eq!(
            order(true),
            ["traffic", "read-only", "configures", "outage", "destructive"]
        );
        assert_eq!(
            order(false),
            ["manual-capture", "read-only", "configures", "destructive"]
        );
    }
}
