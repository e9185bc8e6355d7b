//! `hopquy demo`: the simulated camera on loopback, the full suite, a bundle, a summary.

use std::path::PathBuf;
use std::sync::Arc;

use hopquy_evidence::ReportContext;
use hopquy_runner::Operator;
use hopquy_simcam::{SimCamera, SimConfig, SimSetup};

use crate::DemoArgs;
use crate::commands::run::{self, RunSpec};
use crate::commands::simbench::{DemoOperator, SharedCamera, SimBench};
use crate::exit::{self, CliError};
use crate::operator::{Answers, BenchOperator};
use crate::suite;

const PASSWORD_VAR: &str = "HOPQUY_DEMO_PASSWORD";

pub async fn demo(suite_root: Option<PathBuf>, args: DemoArgs) -> Result<u8, CliError> {
    let root = suite::locate(suite_root)?;
    let suite = suite::load_suite(&root)?;
    let signing_key = args
        .sign
        .as_deref()
        .map(|p| hopquy_evidence::load_signing_key(p).map_err(|e| CliError::Input(e.to_string())))
        .transpose()?;
    let setup = SimSetup::parse(&args.personality).map_err(|e| CliError::Usage(e.to_string()))?;
    let mut config = SimConfig::new(setup.clone());
    // Its own loopback address, so the port sweep sees the camera, not the lab's machine.
    config.bind = SimCamera::unique_loopback();
    let camera = SimCamera::start(config)
        .await
        .map_err(|e| CliError::CannotStart(format!("simulated camera: {e}")))?;
    errln!(
        "simulated camera `{}` started on {} ({})",
        args.personality,
        camera.host(),
        ports_line(&camera)
    );

    // The target file is the one a lab would write; the password reaches the loader through
    // a lookup, never through a file or the process environment.
    let work = tempfile::tempdir().map_err(CliError::io("creating a temporary directory"))?;
    let target_path = work.path().join("target.toml");
    std::fs::write(&target_path, camera.target_toml("simcam", PASSWORD_VAR))
        .map_err(CliError::io("writing the demo target file"))?;
    let password = camera.admin_password().to_owned();
    let target = hopquy_case::load_target_with(&target_path, |var| (var == PASSWORD_VAR).then(|| password.clone()))
        .map_err(|d| CliError::Input(hopquy_case::render_diagnostics(&d)))?;
    let profile = suite::load_profile(&root, &target)?;

    let out = args.out.clone().unwrap_or_else(|| {
        let safe: String = args
            .personality
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        PathBuf::from(format!(
            "hopquy-demo-{safe}-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        ))
    });
    // With the dossier, the manufacturer's documents and the lab's answers come from the
    // simulated camera's own dossier and the simulated bench performs the operator's actions on
    // it, destructive ones included: the camera is ours, on loopback. Without it, operator and
    // document cases have nobody to answer and become inconclusive.
    // The firmware image belongs to the dossier: the simulated manufacturer submits the image
    // its camera runs, so the firmware cases judge the same flaws the network cases see; the
    // simulated lab matches it against its sample OSV database, as a lab passes --vulndb.
    let firmware = (!args.no_dossier).then(|| {
        let name = format!("simcam-{}-firmware.bin", setup.personality());
        crate::commands::firmware::scan_bytes_for_run(&suite, &name, &camera.firmware_image())
    });
    let camera: SharedCamera = Arc::new(tokio::sync::Mutex::new(Some(camera)));
    let (operator, allow_destructive): (Arc<dyn Operator>, bool) = if args.no_dossier {
        (Arc::new(BenchOperator::new(Answers::default(), true)), false)
    } else {
        let dossier_dir = work.path().join("dossier");
        let answers_path = hopquy_simcam::dossier::write(setup.personality(), &dossier_dir)
            .map_err(CliError::io("writing the simulated camera's dossier"))?;
        let answers = Answers::load(&answers_path).map_err(CliError::Input)?;
        let bench_dir = work.path().join("bench");
        std::fs::create_dir_all(&bench_dir).map_err(CliError::io("creating the bench evidence directory"))?;
        errln!(
            "dossier of the simulated `{}` camera: answers and documents from its manufacturer and lab (--no-dossier to leave them out)",
            setup.personality()
        );
        let bench = SimBench::new(camera.clone(), setup.clone(), password.clone(), bench_dir);
        let operator = DemoOperator {
            bench,
            dossier: BenchOperator::new(answers, true),
        };
        (Arc::new(operator), true)
    };
    let report = ReportContext {
        lab_name: Some("hopquy demo (simulated camera)".into()),
        remarks: Some(format!(
            "Demonstration run against hopquy's simulated camera, personality `{}`{}. Not a certification result.",
            args.personality,
            if args.no_dossier {
                ""
            } else {
                ", with the simulated manufacturer's dossier and a simulated bench operator"
            }
        )),
        ..Default::default()
    };
    let spec = RunSpec {
        suite: &suite,
        // The dossier answers every personality's steps; unplanned ones are not news.
        answered: Vec::new(),
        regulation: &args.regulation,
        profile: &profile,
        target: &target,
        out: &out,
        only: None,
        selection: None,
        allow_destructive,
        exhaustive: false,
        json: args.json,
        report,
        signing_key: signing_key.as_ref(),
        mode: run::Mode::Fresh,
        quiet: false,
        cancel: None,
        identified: None,
    };
    let finished = run::execute_with_firmware(spec, operator, firmware.map(run::Firmware::Scanned)).await;
    if let Some(camera) = camera.lock().await.take() {
        camera.shutdown().await;
    }
    let finished = finished?;
    run::print_summary(&finished.results, &finished.dir, args.json);
    if !args.json {
        errln!("verify it with: hopquy verify {}", finished.dir.display());
    }
    // The demo's job is to complete a run; the camera's verdicts are its content.
    Ok(if finished.interrupted {
        exit::INCONCLUSIVE
    } else {
        exit::PASS
    })
}

fn ports_line(camera: &SimCamera) -> String {
    camera
        .ports()
        .iter()
        .map(|(n, p)| format!("{n} {p}"))
        .collect::<Vec<_>>()
        .join(", ")
}
