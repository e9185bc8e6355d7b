//! Which cases run, in which order, and why the others do not.

use std::collections::BTreeSet;

use hopquy_case::{Case, Effect, ProfileFile};

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
    /// Already finished in the bundle being resumed.
    AlreadyDone,
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub cases: Vec<(PlannedCase, Option<Skip>)>,
}

/// Select the cases that map to `regulation` (optionally filtered by id), and order them so
/// that nothing a case does to the device can spoil a later one.
pub fn plan(
    cases: &[Case],
    regulation: &str,
    profile: &ProfileFile,
    only: Option<&BTreeSet<String>>,
    allow_destructive: bool,
    done: &BTreeSet<String>,
) -> Plan {
    let mut selected: Vec<(PlannedCase, Option<Skip>)> = cases
        .iter()
        .filter(|c| only.is_none_or(|o| o.contains(c.id.get_ref())))
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
    // Stable sort: within one effect class, file order (which is clause order) is kept.
    selected.sort_by_key(|(p, _)| effect_rank(&p.case));
    Plan { cases: selected }
}

fn is_destructive(c: &Case) -> bool {
    c.effect == Effect::Destructive || c.steps.iter().any(|s| s.destructive == Some(true))
}

fn effect_rank(c: &Case) -> u8 {
    if is_destructive(c) {
        return 3;
    }
    match c.effect {
        Effect::ReadOnly => 0,
        Effect::LocksAccount => 1,
        Effect::Configures => 2,
        Effect::Destructive => 3,
    }
}
