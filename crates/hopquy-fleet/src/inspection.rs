//! The inspection suite: what may run against a camera in service.
//!
//! It is a fixed selection (automated, read-only cases of the regulation; nothing that may
//! lock an account, configure, destroy or needs a person) plus a guard that looks at each
//! case's steps, so a case whose declared effect is wrong still cannot slip through: no
//! credential dictionary, no repeated or wrong-password login (those count towards a
//! lockout), no recovery from a lockout, no user creation.

use std::collections::BTreeSet;

use hopquy_case::{Case, CaseKind, Credential, CredentialSet, Regulation, StepAction};
use hopquy_runner::selection::{EffectFilter, Selection, SelectionError};

/// The name `--suite` takes; the only suite a fleet run has.
pub const INSPECTION_SUITE: &str = "inspection";

/// The inspection suite as a run selection (recorded in every device's bundle).
pub fn inspection_selection() -> Selection {
    Selection {
        kinds: vec![CaseKind::Automated],
        effects: [EffectFilter::ReadOnly].into(),
        skip_effects: [
            EffectFilter::LocksAccount,
            EffectFilter::Configures,
            EffectFilter::Destructive,
            EffectFilter::NeedsOperator,
        ]
        .into(),
        ..Selection::default()
    }
}

/// Why a case may not run against a camera in service.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("case `{case}` may not run in a fleet audit: {reason}")]
pub struct Refusal {
    pub case: String,
    pub reason: String,
}

/// Refuses `case` unless it is automated, read-only and none of its steps can count towards
/// a lockout or change the device.
pub fn guard(case: &Case) -> Result<(), Refusal> {
    let refuse = |reason: String| {
        Err(Refusal {
            case: case.id.get_ref().clone(),
            reason,
        })
    };
    if case.kind != CaseKind::Automated {
        return refuse(format!(
            "it is a {} case (a person must act or answer)",
            case.kind.as_str()
        ));
    }
    if !EffectFilter::ReadOnly.holds_for(case) {
        let effects: Vec<&str> = hopquy_runner::selection::effects_of(case)
            .iter()
            .map(|e| e.as_str())
            .collect();
        return refuse(format!("its effect is {}, not read-only", effects.join(", ")));
    }
    for step in &case.steps {
        let id = step.id.get_ref();
        match step.action.get_ref() {
            StepAction::Login(login) => {
                let credentials = login.credentials.get_ref();
                if *credentials == CredentialSet::FactoryDefault {
                    factory_default_shape(login).or_else(|why| refuse(format!("step `{id}` {why}")))?;
                    continue;
                }
                if credentials.is_dictionary() {
                    return refuse(format!("step `{id}` tries a credential dictionary ({credentials})"));
                }
                if !matches!(
                    credentials,
                    CredentialSet::One(Credential::Target) | CredentialSet::One(Credential::None)
                ) {
                    return refuse(format!(
                        "step `{id}` logs in with `{credentials}`, a failure that counts towards a lockout"
                    ));
                }
                if login.repeat.is_some() {
                    return refuse(format!("step `{id}` repeats a login"));
                }
            }
            StepAction::Recover(_) => return refuse(format!("step `{id}` recovers from a lockout")),
            StepAction::PasswordPolicy(_) => return refuse(format!("step `{id}` creates users")),
            StepAction::Firmware(_) => {
                return refuse(format!(
                    "step `{id}` judges the dossier's firmware image, which a fleet audit does not have"
                ));
            }
            StepAction::Operator(_) | StepAction::Document(_) => {
                return refuse(format!("step `{id}` needs a person"));
            }
            StepAction::LabNet(lab) if *lab.op.get_ref() != hopquy_case::LabNetOp::Snapshot => {
                return refuse(format!(
                    "step `{id}` {}s the camera's uplink, an outage for a camera in service",
                    lab.op.get_ref().as_str()
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// The one failed-login shape a camera in service may see: the profile's documented factory
/// defaults (at most two; the runner also keeps them below the lockout threshold minus 2),
/// once each, on the HTTP surface, paced by an interval, with none of the dictionary options
/// that would make it a longer run.
fn factory_default_shape(login: &hopquy_case::LoginStep) -> Result<(), String> {
    if login.target.surface() != hopquy_case::LoginSurface::Http {
        return Err(format!(
            "tries the factory defaults on {}; only the HTTP surface is paced for a fleet",
            login.target.surface().as_str()
        ));
    }
    if login.repeat.is_some() {
        return Err("repeats the factory default attempts".into());
    }
    if login.interval_ms.is_none() {
        return Err("tries the factory defaults without `interval_ms` (unpaced)".into());
    }
    let o = &login.options;
    if o.reset_below.is_some() || o.window_s.is_some() || o.control_login.is_some() || o.settle.is_some() {
        return Err("tries the factory defaults with dictionary options".into());
    }
    Ok(())
}

/// The inspection suite's case ids for `regulation`: the fixed selection, every case of
/// which has passed [`guard`].
pub fn inspection_cases(cases: &[Case], regulation: &Regulation) -> Result<BTreeSet<String>, InspectionError> {
    let mut ids = inspection_selection()
        .resolve(cases, regulation)?
        .ok_or(InspectionError::Empty)?;
    // A case that judges the firmware image is read-only, but a fleet has no image: it is
    // left out of the suite, not refused as mislabelled.
    ids.retain(|id| !cases.iter().any(|c| c.id.get_ref() == id && needs_image(c)));
    // Likewise a case that judges the lab network's record: a camera in service is on its
    // owner's network, not on one hopquy serves.
    ids.retain(|id| {
        !cases
            .iter()
            .any(|c| c.id.get_ref() == id && c.lab_net == Some(hopquy_case::LabNetUse::Required))
    });
    if ids.is_empty() {
        return Err(InspectionError::Empty);
    }
    for id in &ids {
        if let Some(case) = cases.iter().find(|c| c.id.get_ref() == id) {
            guard(case)?;
        }
    }
    Ok(ids)
}

fn needs_image(case: &Case) -> bool {
    case.steps
        .iter()
        .any(|s| matches!(s.action.get_ref(), StepAction::Firmware(_)))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InspectionError {
    #[error("the inspection suite: {0}")]
    Selection(#[from] SelectionError),
    #[error("the inspection suite selects no case of this regulation")]
    Empty,
    #[error(transparent)]
    Refused(#[from] Refusal),
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    use hopquy_case::Suite;

    use super::*;

    fn repo_suite() -> Suite {
        let (suite, diags) = Suite::load(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-cases"));
        assert!(diags.is_empty(), "{}", hopquy_case::render_diagnostics(&diags));
        suite
    }

    /// Over the whole repository suite: the selection holds only cases the guard accepts and
    /// that are read-only, and every case the guard refuses is outside it.
    #[test]
    fn the_inspection_suite_holds_no_case_that_could_lock_or_change_a_camera() {
        let suite = repo_suite();
        let cases: Vec<Case> = suite.cases.iter().map(|c| c.case.clone()).collect();
        for reg in ["qcvn135-2024"] {
            let regulation = &suite.regulation(reg).unwrap().regulation;
            let ids = inspection_cases(&cases, regulation).unwrap();
            assert!(ids.len() >= 5, "{ids:?}");
            for case in &cases {
                let id = case.id.get_ref();
                let allowed = guard(case).is_ok();
                if ids.contains(id) {
                    assert!(allowed, "{id} selected but refused");
                    assert_eq!(case.effect, hopquy_case::Effect::ReadOnly, "{id}");
                    assert!(!hopquy_runner::selection::is_destructive(case), "{id}");
                    assert_eq!(case.kind, CaseKind::Automated, "{id}");
                }
            }
            for refused in [
                "lockout-http",
                "default-credentials-http",
                "default-credentials-rtsp",
                "password-policy-enforced",
                "login-error-uniform",
                // Read-only, but it judges the dossier's firmware image, which a fleet has not.
                "firmware-no-private-keys",
                // They cut the camera's uplink.
                "network-outage-lab-net",
                "reconnection-lab-net",
            ] {
                assert!(!ids.contains(refused), "{refused} is in the inspection suite");
                let case = cases.iter().find(|c| c.id.get_ref() == refused).unwrap();
                assert!(guard(case).is_err(), "{refused} passes the guard");
            }
            // Harmless, but they judge a lab network's record, which a camera in service
            // is not on: left out, not refused.
            for left_out in [
                "telemetry-destinations-lab-net",
                "update-channel-lab-net",
                "associated-service-traffic-lab-net",
            ] {
                assert!(!ids.contains(left_out), "{left_out} is in the inspection suite");
                let case = cases.iter().find(|c| c.id.get_ref() == left_out).unwrap();
                assert!(guard(case).is_ok(), "{left_out} refused: {:?}", guard(case).err());
            }
        }
    }

    fn case_with(step: &str) -> Case {
        let file: hopquy_case::CaseFile = toml::from_str(&format!(
            "id = \"t\"\ntitle = \"t\"\ntitle_vi = \"t\"\nkind = \"automated\"\nmethod = \"functional\"\nsince = \"0.1.0\"\nsummary = \"s\"\n[clauses]\nqcvn135-2024 = [\"2.1.1\"]\n[[steps]]\nid = \"try\"\naction = \"login\"\n{step}\n"
        ))
        .unwrap();
        Case::try_from(file).unwrap()
    }

    /// The factory-default case is in the suite; the guard takes exactly its shape (HTTP,
    /// paced, once each) and refuses every variation that would make more failures.
    #[test]
    fn the_guard_allows_the_paced_factory_default_pair_and_nothing_like_a_dictionary() {
        let suite = repo_suite();
        let cases: Vec<Case> = suite.cases.iter().map(|c| c.case.clone()).collect();
        let regulation = &suite.regulation("qcvn135-2024").unwrap().regulation;
        let ids = inspection_cases(&cases, regulation).unwrap();
        assert!(ids.contains("factory-default-pair"), "{ids:?}");
        let ok = "surface = \"http\"\ncredentials = \"factory-default\"\ninterval_ms = 2000";
        guard(&case_with(ok)).unwrap();
        for (variation, why) in [
            (format!("{ok}\nrepeat = 3"), "repeats"),
            (
                "surface = \"http\"\ncredentials = \"factory-default\"".to_owned(),
                "without `interval_ms`",
            ),
            (
                "surface = \"rtsp\"\ncredentials = \"factory-default\"\ninterval_ms = 2000".to_owned(),
                "on rtsp",
            ),
            (format!("{ok}\noptions = {{ reset_below = 5 }}"), "dictionary options"),
            (
                "surface = \"http\"\ncredentials = \"dictionary:default-credentials\"\ninterval_ms = 2000".to_owned(),
                "dictionary",
            ),
        ] {
            let refusal = guard(&case_with(&variation)).unwrap_err();
            assert!(refusal.reason.contains(why), "{variation}: {refusal}");
        }
    }

    #[test]
    fn the_guard_reads_steps_not_only_the_declared_effect() {
        // Declared read-only, but it tries a dictionary: refused all the same.
        let case: hopquy_case::CaseFile = toml::from_str(
            "id = \"sneaky\"\ntitle = \"t\"\ntitle_vi = \"t\"\nkind = \"automated\"\nmethod = \"functional\"\nsince = \"0.1.0\"\nsummary = \"s\"\n[clauses]\nqcvn135-2024 = [\"2.1.1\"]\n[[steps]]\nid = \"try\"\naction = \"login\"\nsurface = \"http\"\ncredentials = \"dictionary:default-credentials\"\n",
        )
        .unwrap();
        let case = Case::try_from(case).unwrap();
        assert_eq!(case.effect, hopquy_case::Effect::ReadOnly);
        let refusal = guard(&case).unwrap_err();
        assert!(refusal.reason.contains("dictionary"), "{refusal}");
    }
}
