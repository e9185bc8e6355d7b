//! Shared helpers for the black-box suite: locate the repository's definitions, start the
//! simulated camera, run cases against it through the same library path the CLI uses.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use hopquy_case::{LoadedTarget, ResolvedProfile, Suite};
use hopquy_evidence::{CaseResult, Event, Results};
use hopquy_runner::{
    CaseOutcome, Operator, OperatorAnswer, OperatorRequest, RunInput, RunObserver, RunOptions, Runner,
};
use hopquy_simcam::{SimCamera, SimConfig, SimSetup};

pub const PASSWORD_VAR: &str = "HOPQUY_TEST_PASSWORD";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

pub fn suite() -> Suite {
    let (suite, diags) = Suite::load(repo_root().join("test-cases"));
    assert!(
        diags.is_empty(),
        "suite does not load:\n{}",
        hopquy_case::render_diagnostics(&diags)
    );
    suite
}

/// A simulated camera plus the target file and profile a lab would use for it.
pub struct Sim {
    /// None when the "device" is a test's own broken server.
    pub camera_opt: Option<SimCamera>,
    pub target: LoadedTarget,
    pub profile: ResolvedProfile,
    pub dir: tempfile::TempDir,
}

pub async fn start_sim(setup: &str) -> Sim {
    let setup = SimSetup::parse(setup).unwrap_or_else(|e| panic!("setup {setup}: {e}"));
    let mut config = SimConfig::new(setup);
    // Its own loopback address, so port sweeps see this camera only.
    config.bind = SimCamera::unique_loopback();
    let camera = SimCamera::start(config).await.expect("simulated camera starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("target.toml");
    std::fs::write(&path, camera.target_toml("simcam", PASSWORD_VAR)).expect("write target");
    let pw = camera.admin_password().to_owned();
    let target = hopquy_case::load_target_with(&path, |v| (v == PASSWORD_VAR).then(|| pw.clone()))
        .unwrap_or_else(|d| panic!("{}", hopquy_case::render_diagnostics(&d)));
    let profile = hopquy_case::load_profile("simcam", repo_root().join("profiles"))
        .unwrap_or_else(|d| panic!("{}", hopquy_case::render_diagnostics(&d)));
    Sim {
        camera_opt: Some(camera),
        target,
        profile,
        dir,
    }
}

impl Sim {
    /// A device that is not the simulator (a broken server a test runs).
    pub fn from_parts(target: LoadedTarget, profile: ResolvedProfile, dir: tempfile::TempDir) -> Sim {
        Sim {
            camera_opt: None,
            target,
            profile,
            dir,
        }
    }

    pub fn camera(&self) -> &SimCamera {
        self.camera_opt.as_ref().expect("a simulated camera")
    }

    pub async fn shutdown(self) {
        if let Some(c) = self.camera_opt {
            c.shutdown().await;
        }
    }
}

/// Answers nothing: operator and document steps become inconclusive.
pub struct NoOperator;
impl Operator for NoOperator {
    fn ask(&self, _: &OperatorRequest) -> Option<OperatorAnswer> {
        None
    }
}

/// Keeps everything the runner hands over, for assertions.
#[derive(Default)]
pub struct Collect {
    pub events: Mutex<Vec<Event>>,
    pub outcomes: Mutex<Vec<CaseOutcome>>,
}
impl RunObserver for Collect {
    fn event(&self, e: &Event) {
        if let Ok(mut v) = self.events.lock() {
            v.push(e.clone());
        }
    }
    fn case_done(&self, o: &CaseOutcome) {
        if let Ok(mut v) = self.outcomes.lock() {
            v.push(o.clone());
        }
    }
}

/// The OSV fixture (two trimmed advisories, OpenSSL 1.0.2k and BusyBox before 1.35) the
/// simulated runs match the image against, as a lab passes `--vulndb`.
pub fn osv_fixture() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates/hopquy-simcam/osv")
}

/// The scan of the simulated camera's firmware image with the suite's dictionaries, as
/// `hopquy demo` hands it to the run, matched against [`osv_fixture`]: the firmware cases
/// judge the same setup's flaws.
pub fn sim_firmware(suite: &Suite, camera: &SimCamera) -> hopquy_firmware::FirmwareReport {
    let credentials = suite
        .credential_dictionaries
        .iter()
        .flat_map(|d| {
            d.dictionary
                .credential
                .iter()
                .map(|c| hopquy_firmware::KnownCredential {
                    dictionary: d.name.clone(),
                    username: c.username.clone(),
                    password: c.password.clone(),
                })
        })
        .collect();
    let options = hopquy_firmware::ScanOptions {
        credentials,
        ..Default::default()
    };
    let mut report = hopquy_firmware::scan_bytes("simcam-firmware.bin", &camera.firmware_image(), &options);
    let db = hopquy_firmware::osv::VulnDb::load(&osv_fixture(), &Default::default()).expect("the OSV fixture loads");
    hopquy_firmware::osv::annotate(&mut report, &db);
    report
}

/// Run the given cases (all of the regulation's when empty) against a started simulator
/// (with its firmware image; a test's own server has none).
pub async fn run_cases(suite: &Suite, sim: &Sim, regulation: &str, only: &[&str]) -> (Results, Arc<Collect>) {
    let mut input = RunInput::from_definitions(suite, regulation, &sim.profile, &sim.target).expect("run input");
    input.firmware = sim.camera_opt.as_ref().map(|c| Arc::new(sim_firmware(suite, c)));
    let opts = RunOptions {
        regulation: regulation.to_owned(),
        only: (!only.is_empty()).then(|| only.iter().map(|s| s.to_string()).collect()),
        run_id: "test".into(),
        tool_version: "test".into(),
        ..Default::default()
    };
    let collect = Arc::new(Collect::default());
    let outcome = Runner::default()
        .run(input, opts, collect.as_ref(), Arc::new(NoOperator))
        .await;
    (outcome.results, collect)
}

pub fn case<'r>(results: &'r Results, id: &str) -> &'r CaseResult {
    results
        .cases
        .iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("case {id} not in results"))
}

/// Where a run's step observations break their action's JSON Schema (the one generated into
/// docs/schemas/observations/ from the action's observation struct): a key no field names, a
/// value of another type, a null where the field is never null.
pub fn observation_schema_violations(results: &Results) -> Vec<String> {
    let mut validators = std::collections::BTreeMap::new();
    let mut violations = Vec::new();
    for case in &results.cases {
        for step in &case.steps {
            let Some(spec) = hopquy_case::ACTIONS.iter().find(|a| a.name == step.action) else {
                violations.push(format!("{}/{}: unknown action `{}`", case.id, step.id, step.action));
                continue;
            };
            // The runner reads every action's observations into its struct; a mismatch there
            // is an error step (a harness bug), which would otherwise hide behind its verdict.
            if let Some(message) = step
                .message
                .as_deref()
                .filter(|m| m.contains("observations do not match"))
            {
                violations.push(format!("{}/{}: {message}", case.id, step.id));
            }
            // A step that failed before observing anything records no observations.
            if step.observations.is_null() {
                continue;
            }
            let validator = validators.entry(spec.name).or_insert_with(|| {
                jsonschema::validator_for(&(spec.observation_schema)().to_value())
                    .unwrap_or_else(|e| panic!("the `{}` observation schema does not compile: {e}", spec.name))
            });
            for error in validator.iter_errors(&step.observations) {
                violations.push(format!(
                    "{}/{} (`{}`): {error} at `{}`",
                    case.id,
                    step.id,
                    step.action,
                    error.instance_path()
                ));
            }
        }
    }
    violations
}
