//! Which cases a lab asked for: by id, by clause, by kind, method or effect, minus skipped ids.
//!
//! Invariant: a selection names only what exists. An unknown case id or clause is an error
//! with a did-you-mean before anything is sent to the device, so a typo never turns into a
//! run that silently tests less than the lab believes.

use std::collections::BTreeSet;

use hopquy_case::{Case, CaseKind, Effect, Method, Regulation};
use hopquy_evidence::SelectionCriteria;

/// The command-line selection. Empty fields select everything; every non-empty field must
/// hold for a case to be selected (ids in `cases`, a clause in `clauses`, …), and `skip` and
/// `skip_effects` then take cases out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub cases: BTreeSet<String>,
    /// Clause ids (`2.1.5`) or clause-group prefixes (`2.1` selects 2.1.1, 2.1.2, …).
    pub clauses: BTreeSet<String>,
    pub kinds: Vec<CaseKind>,
    pub methods: Vec<Method>,
    pub effects: BTreeSet<EffectFilter>,
    pub skip_effects: BTreeSet<EffectFilter>,
    pub skip: BTreeSet<String>,
}

/// What a case may do to the device, as a lab filters on it. `needs-operator` is not an
/// `effect` key of a case but its kind: a person at the bench must act or answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum EffectFilter {
    ReadOnly,
    LocksAccount,
    Configures,
    Intrusive,
    Destructive,
    NeedsOperator,
}

impl EffectFilter {
    pub const ALL: [EffectFilter; 6] = [
        EffectFilter::ReadOnly,
        EffectFilter::LocksAccount,
        EffectFilter::Configures,
        EffectFilter::Intrusive,
        EffectFilter::Destructive,
        EffectFilter::NeedsOperator,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EffectFilter::ReadOnly => "read-only",
            EffectFilter::LocksAccount => "locks-account",
            EffectFilter::Configures => "configures",
            EffectFilter::Intrusive => "intrusive",
            EffectFilter::Destructive => "destructive",
            EffectFilter::NeedsOperator => "needs-operator",
        }
    }

    pub fn parse(s: &str) -> Option<EffectFilter> {
        EffectFilter::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// Whether `case` has this effect. A case with a destructive step is destructive,
    /// whatever its declared effect (the scheduler and `--allow-destructive` read it so).
    pub fn holds_for(self, case: &Case) -> bool {
        match self {
            EffectFilter::NeedsOperator => case.kind == CaseKind::Operator,
            EffectFilter::Destructive => is_destructive(case),
            EffectFilter::ReadOnly => !is_destructive(case) && case.effect == Effect::ReadOnly,
            EffectFilter::LocksAccount => !is_destructive(case) && case.effect == Effect::LocksAccount,
            EffectFilter::Configures => !is_destructive(case) && case.effect == Effect::Configures,
            EffectFilter::Intrusive => !is_destructive(case) && case.effect == Effect::Intrusive,
        }
    }
}

/// The effects a case has, for the plan's display: its effect class, plus `needs-operator`.
pub fn effects_of(case: &Case) -> Vec<EffectFilter> {
    EffectFilter::ALL.into_iter().filter(|e| e.holds_for(case)).collect()
}

/// Whether the case runs only with `--allow-destructive`: destructive, or intrusive.
pub fn needs_allow_destructive(case: &Case) -> bool {
    is_destructive(case) || case.effect == Effect::Intrusive
}

pub fn is_destructive(case: &Case) -> bool {
    case.effect == Effect::Destructive || case.steps.iter().any(|s| s.action.get_ref().is_destructive())
}

/// A selection naming something that does not exist.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    #[error("unknown case id `{id}`{}", hint(suggestion))]
    UnknownCase { id: String, suggestion: Option<String> },
    #[error("`{id}` is a case, but it does not map to {regulation}; its clauses are in another regulation")]
    CaseNotInRegulation { id: String, regulation: String },
    #[error("{regulation} has no clause `{id}`{}", hint(suggestion))]
    UnknownClause {
        id: String,
        regulation: String,
        suggestion: Option<String>,
    },
    #[error("the selection leaves no case to run (every case it names is skipped or filtered out)")]
    Empty,
}

fn hint(suggestion: &Option<String>) -> String {
    suggestion
        .as_ref()
        .map(|s| format!("; did you mean `{s}`?"))
        .unwrap_or_default()
}

impl Selection {
    /// Everything: no field narrows the run.
    pub fn is_everything(&self) -> bool {
        *self == Selection::default()
    }

    /// The ids of the cases of `regulation` this selection keeps, or `None` when it keeps
    /// every case (the run is then not partial). Unknown ids and clauses are errors.
    pub fn resolve(&self, cases: &[Case], regulation: &Regulation) -> Result<Option<BTreeSet<String>>, SelectionError> {
        let ids: Vec<&str> = cases.iter().map(|c| c.id.get_ref().as_str()).collect();
        let mapped = |c: &Case| c.clauses.get(&regulation.id).is_some_and(|cl| !cl.is_empty());
        for id in self.cases.iter().chain(&self.skip) {
            match cases.iter().find(|c| c.id.get_ref() == id) {
                None => {
                    return Err(SelectionError::UnknownCase {
                        id: id.clone(),
                        suggestion: hopquy_case::error::did_you_mean(id, ids.iter().copied()).map(str::to_owned),
                    });
                }
                Some(c) if !mapped(c) && self.cases.contains(id) => {
                    return Err(SelectionError::CaseNotInRegulation {
                        id: id.clone(),
                        regulation: regulation.id.clone(),
                    });
                }
                Some(_) => {}
            }
        }
        let clause_ids: Vec<&str> = regulation.clauses.iter().map(|c| c.id.as_str()).collect();
        for wanted in &self.clauses {
            if !clause_ids.iter().any(|c| clause_covers(wanted, c)) {
                return Err(SelectionError::UnknownClause {
                    id: wanted.clone(),
                    regulation: regulation.id.clone(),
                    suggestion: hopquy_case::error::did_you_mean(wanted, clause_ids.iter().copied()).map(str::to_owned),
                });
            }
        }
        if self.is_everything() {
            return Ok(None);
        }
        let kept: BTreeSet<String> = cases
            .iter()
            .filter(|c| mapped(c) && self.keeps(c, &regulation.id))
            .map(|c| c.id.get_ref().clone())
            .collect();
        if kept.is_empty() {
            return Err(SelectionError::Empty);
        }
        Ok(Some(kept))
    }

    fn keeps(&self, case: &Case, regulation: &str) -> bool {
        let id = case.id.get_ref();
        let clauses = case.clauses.get(regulation).map(Vec::as_slice).unwrap_or_default();
        (self.cases.is_empty() || self.cases.contains(id))
            && (self.clauses.is_empty()
                || clauses
                    .iter()
                    .any(|c| self.clauses.iter().any(|w| clause_covers(w, c.get_ref()))))
            && (self.kinds.is_empty() || self.kinds.contains(&case.kind))
            && (self.methods.is_empty() || self.methods.contains(&case.method))
            && (self.effects.is_empty() || self.effects.iter().any(|e| e.holds_for(case)))
            && !self.skip_effects.iter().any(|e| e.holds_for(case))
            && !self.skip.contains(id)
    }

    /// The evidence form, recorded in results.json and the report; `None` for everything.
    pub fn criteria(&self) -> Option<SelectionCriteria> {
        if self.is_everything() {
            return None;
        }
        let strings = |s: &BTreeSet<String>| s.iter().cloned().collect();
        let effects = |s: &BTreeSet<EffectFilter>| s.iter().map(|e| e.as_str().to_owned()).collect();
        Some(SelectionCriteria {
            cases: strings(&self.cases),
            clauses: strings(&self.clauses),
            kinds: self.kinds.iter().map(|k| k.as_str().to_owned()).collect(),
            methods: self.methods.iter().map(|m| method_str(*m).to_owned()).collect(),
            effects: effects(&self.effects),
            skip_effects: effects(&self.skip_effects),
            skip: strings(&self.skip),
        })
    }

    /// The selection a recorded criteria describes (a resumed or re-run bundle).
    pub fn from_criteria(c: &SelectionCriteria) -> Selection {
        let set = |v: &[String]| v.iter().cloned().collect();
        let effects = |v: &[String]| v.iter().filter_map(|e| EffectFilter::parse(e)).collect();
        Selection {
            cases: set(&c.cases),
            clauses: set(&c.clauses),
            kinds: c.kinds.iter().filter_map(|k| parse_kind(k)).collect(),
            methods: c.methods.iter().filter_map(|m| parse_method(m)).collect(),
            effects: effects(&c.effects),
            skip_effects: effects(&c.skip_effects),
            skip: set(&c.skip),
        }
    }
}

/// `2.1` covers 2.1.1 and 2.1.1.2 but not 2.10 or 2.1 itself's neighbour 2.11.
fn clause_covers(wanted: &str, clause: &str) -> bool {
    clause == wanted || clause.strip_prefix(wanted).is_some_and(|rest| rest.starts_with('.'))
}

pub fn method_str(m: Method) -> &'static str {
    match m {
        Method::Conceptual => "conceptual",
        Method::Functional => "functional",
    }
}

pub fn parse_kind(s: &str) -> Option<CaseKind> {
    [CaseKind::Automated, CaseKind::Operator, CaseKind::Document]
        .into_iter()
        .find(|k| k.as_str() == s)
}

pub fn parse_method(s: &str) -> Option<Method> {
    [Method::Conceptual, Method::Functional]
        .into_iter()
        .find(|m| method_str(*m) == s)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn case(id: &str, kind: &str, effect: &str, clause: &str) -> Case {
        toml::from_str(&format!(
            "id = \"{id}\"\ntitle = \"t\"\ntitle_vi = \"t\"\nkind = \"{kind}\"\nmethod = \"functional\"\neffect = \"{effect}\"\nsince = \"0.1.0\"\nsummary = \"s\"\n[clauses]\nqcvn135-2024 = [\"{clause}\"]\n[[steps]]\nid = \"s\"\naction = \"wait\"\nseconds = 0\n"
        ))
        .unwrap()
    }

    fn regulation() -> Regulation {
        let clauses: String = ["2.1.1", "2.1.5", "2.10.1", "2.11.1"]
            .iter()
            .map(|c| format!("[[clauses]]\nid = \"{c}\"\ngroup = \"g\"\ntitle_vi = \"t\"\ntitle_en = \"t\"\nrequirement = \"r\"\nconfidence = \"H\"\n"))
            .collect();
        toml::from_str(&format!(
            "id = \"qcvn135-2024\"\ntitle_vi = \"t\"\ntitle_en = \"t\"\nissued_by = \"x\"\neffective = \"2026-01-01\"\n{clauses}"
        ))
        .unwrap()
    }

    fn suite() -> Vec<Case> {
        vec![
            case("lockout-http", "automated", "locks-account", "2.1.5"),
            case("telnet-closed", "automated", "read-only", "2.1.1"),
            case("power-cut", "operator", "read-only", "2.10.1"),
            case("telemetry", "document", "read-only", "2.11.1"),
        ]
    }

    fn ids(s: &Selection) -> Vec<String> {
        s.resolve(&suite(), &regulation())
            .unwrap()
            .unwrap()
            .into_iter()
            .collect()
    }

    #[test]
    fn a_clause_group_selects_its_clauses_and_not_its_numeric_neighbours() {
        let s = Selection {
            clauses: ["2.1".to_owned()].into(),
            ..Default::default()
        };
        assert_eq!(ids(&s), ["lockout-http", "telnet-closed"]);
    }

    #[test]
    fn filters_combine_and_skips_take_cases_out() {
        let s = Selection {
            kinds: vec![CaseKind::Automated],
            skip_effects: [EffectFilter::LocksAccount].into(),
            ..Default::default()
        };
        assert_eq!(ids(&s), ["telnet-closed"]);
        let s = Selection {
            skip: ["telemetry".to_owned()].into(),
            skip_effects: [EffectFilter::NeedsOperator].into(),
            ..Default::default()
        };
        assert_eq!(ids(&s), ["lockout-http", "telnet-closed"]);
    }

    #[test]
    fn unknown_ids_and_clauses_are_errors_with_a_suggestion() {
        let s = Selection {
            skip: ["lockout-htp".to_owned()].into(),
            ..Default::default()
        };
        let err = s.resolve(&suite(), &regulation()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown case id `lockout-htp`; did you mean `lockout-http`?"
        );
        let s = Selection {
            clauses: ["2.1.55".to_owned()].into(),
            ..Default::default()
        };
        assert!(matches!(
            s.resolve(&suite(), &regulation()),
            Err(SelectionError::UnknownClause { .. })
        ));
        let s = Selection {
            cases: ["telnet-closed".to_owned()].into(),
            skip: ["telnet-closed".to_owned()].into(),
            ..Default::default()
        };
        assert_eq!(s.resolve(&suite(), &regulation()), Err(SelectionError::Empty));
    }

    #[test]
    fn criteria_round_trip_and_everything_records_nothing() {
        assert_eq!(Selection::default().criteria(), None);
        assert_eq!(Selection::default().resolve(&suite(), &regulation()), Ok(None));
        let s = Selection {
            clauses: ["2.1.5".to_owned()].into(),
            kinds: vec![CaseKind::Automated],
            methods: vec![Method::Functional],
            effects: [EffectFilter::LocksAccount].into(),
            skip_effects: [EffectFilter::Destructive].into(),
            skip: ["telnet-closed".to_owned()].into(),
            cases: ["lockout-http".to_owned()].into(),
        };
        assert_eq!(Selection::from_criteria(&s.criteria().unwrap()), s);
    }
}
