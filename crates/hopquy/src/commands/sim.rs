//! `hopquy sim`: the simulated camera, until Ctrl-C.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use hopquy_simcam::{SimCamera, SimConfig, SimSetup};

use crate::SimArgs;
use crate::exit::CliError;
use crate::suite;

/// The setups a simulated fleet cycles through: current and legacy firmware, another
/// vendor's dialect, and single flaws that the inspection suite's cases name in their
/// `[sim]` tables (so their expected verdicts are known).
pub const FLEET_SETUPS: &[&str] = &[
    "hardened",
    "legacy",
    "hardened+telnet-open",
    "dahua-like",
    "hardened+weak-ssh",
    "hardened+rtsp-no-auth",
    "hardened+info-disclosure",
    "hardened+legacy-tls",
];

/// The variable a simulated fleet's inventory reads the shared admin password from.
const SIM_PASSWORD_VAR: &str = "HOPQUY_SIM_PASSWORD";

pub async fn sim(suite_root: Option<PathBuf>, args: SimArgs) -> Result<u8, CliError> {
    if let Some(n) = args.fleet {
        return fleet(suite_root, n, args.write_inventory.as_deref()).await;
    }
    if args.list {
        outln!("personalities:");
        for (name, flaws) in hopquy_simcam::personalities() {
            let names: Vec<String> = flaws.iter().map(|f| f.to_string()).collect();
            outln!(
                "  {name:<12} {}",
                if names.is_empty() {
                    "(no flaws)".into()
                } else {
                    names.join(", ")
                }
            );
        }
        outln!("flaws (add with +name, remove with -name, e.g. hardened+no-lockout):");
        for (name, what) in hopquy_simcam::describe_flaws() {
            outln!("  {name:<22} {what}");
        }
        return Ok(0);
    }
    let setup = SimSetup::parse(&args.personality).map_err(|e| CliError::Usage(e.to_string()))?;
    let mut config = SimConfig::new(setup.clone());
    config.fixed_ports = args.port_base;
    config.bind = args.bind.unwrap_or_else(SimCamera::unique_loopback);
    config.uplink = args.uplink_resolver.map(|resolver| hopquy_simcam::uplink::Uplink {
        resolver,
        period: std::time::Duration::from_secs(args.uplink_period_s.max(1)),
    });
    // The admin password is chosen by the operator through the environment, never printed:
    // secrets do not reach the terminal, even the simulator's.
    let chosen = std::env::var("HOPQUY_SIM_PASSWORD").ok().filter(|p| !p.is_empty());
    if let Some(pw) = &chosen {
        config.admin_password = pw.clone();
    }
    let camera = SimCamera::start(config)
        .await
        .map_err(|e| CliError::CannotStart(format!("simulated camera: {e}")))?;
    errln!("simulated camera `{}` running on {}:", args.personality, camera.host());
    for (name, port) in camera.ports() {
        errln!("  {name:<8} {port}");
    }
    if let Some(path) = &args.write_target {
        std::fs::write(path, camera.target_toml("simcam", "HOPQUY_SIM_PASSWORD"))
            .map_err(CliError::io(format!("writing {}", path.display())))?;
        errln!("target file written to {}", path.display());
    }
    if let Some(dir) = &args.dossier {
        let answers = hopquy_simcam::dossier::write(setup.personality(), dir)
            .map_err(CliError::io(format!("writing the dossier to {}", dir.display())))?;
        errln!(
            "dossier of the simulated `{}` camera written to {} (use --answers {})",
            setup.personality(),
            dir.display(),
            answers.display()
        );
    }
    errln!(
        "{}",
        login_help(&camera, chosen.is_some(), args.write_target.as_deref())
    );
    errln!("press Ctrl-C to stop");
    let _ = tokio::signal::ctrl_c().await;
    camera.shutdown().await;
    Ok(0)
}

/// How to log in and what to run next. The password is never printed (a terminal is
/// recorded more often than one thinks): it is the one in `HOPQUY_SIM_PASSWORD`.
fn login_help(camera: &SimCamera, chosen: bool, target: Option<&std::path::Path>) -> String {
    let ports = camera.ports();
    let mut lines = Vec::new();
    let https = ports.get("https").map(|p| format!("https://{}:{p}/", camera.host()));
    let user = camera.admin_user();
    if chosen {
        lines.push(format!(
            "log in as `{user}` with the password in $HOPQUY_SIM_PASSWORD{}",
            https
                .map(|u| format!(" (web: {u}, a self-signed certificate)"))
                .unwrap_or_default()
        ));
    } else {
        lines.push(format!(
            "log in as `{user}`: the password is random and unknown, because HOPQUY_SIM_PASSWORD was not set; \
             restart as `HOPQUY_SIM_PASSWORD=<choose one> hopquy sim …` to log in yourself or run the suite"
        ));
    }
    match target {
        Some(path) if chosen => lines.push(format!(
            "run the suite against it: hopquy run --target {} (HOPQUY_SIM_PASSWORD must be set in that shell too)",
            path.display()
        )),
        Some(path) => lines.push(format!(
            "the target file {} reads the password from HOPQUY_SIM_PASSWORD: set it before starting this camera and the run",
            path.display()
        )),
        None => lines.push("write a ready target file with --write-target FILE, then: hopquy run --target FILE".into()),
    }
    lines.join("\n")
}

/// `hopquy sim --fleet N`: N cameras on their own loopback addresses, their inventory and
/// what the inspection suite must find on each, until Ctrl-C.
async fn fleet(suite_root: Option<PathBuf>, n: usize, inventory: Option<&Path>) -> Result<u8, CliError> {
    if n == 0 {
        return Err(CliError::Usage("--fleet needs at least one camera".into()));
    }
    let chosen = std::env::var(SIM_PASSWORD_VAR).ok().filter(|p| !p.is_empty());
    let mut cameras = Vec::new();
    for i in 0..n {
        let setup_text = FLEET_SETUPS[i % FLEET_SETUPS.len()];
        let setup = SimSetup::parse(setup_text).map_err(|e| CliError::Usage(e.to_string()))?;
        let mut config = SimConfig::new(setup);
        config.bind = SimCamera::unique_loopback();
        if let Some(pw) = &chosen {
            config.admin_password = pw.clone();
        }
        let camera = SimCamera::start(config)
            .await
            .map_err(|e| CliError::CannotStart(format!("simulated camera {}: {e}", i + 1)))?;
        cameras.push((format!("sim-{:02}", i + 1), setup_text, camera));
    }
    for (id, setup, camera) in &cameras {
        errln!("{id} `{setup}` on {}", camera.host());
    }
    if let Some(path) = inventory {
        let entries: Vec<hopquy_fleet::DeviceEntry> = cameras
            .iter()
            .enumerate()
            .map(|(i, (id, setup, camera))| {
                let identity = camera.identity();
                hopquy_fleet::DeviceEntry {
                    id: id.clone(),
                    host: camera.host().to_string(),
                    ports: camera.ports(),
                    profile: "simcam".into(),
                    username: camera.admin_user().to_owned(),
                    credentials: hopquy_fleet::CredentialRef::Env(SIM_PASSWORD_VAR.into()),
                    site: Some(format!("sim-site-{}", i % 2 + 1)),
                    owner: Some((*setup).to_owned()),
                    vendor: Some(identity.vendor.clone()),
                    model: Some(identity.model.clone()),
                    firmware: Some(identity.firmware.clone()),
                    serial: Some(identity.serial.clone()),
                    declared_open_tcp_ports: Some(camera.declared_ports()),
                    max_connections: None,
                    min_connect_gap_ms: None,
                    timeout_s: None,
                    port_sweep: None,
                    exclude_ports: camera.bench_ports(),
                    line: 0,
                }
            })
            .collect();
        let csv = hopquy_fleet::write_csv(&entries).map_err(|e| CliError::Failed(e.to_string()))?;
        std::fs::write(path, csv).map_err(CliError::io(format!("writing {}", path.display())))?;
        let expected = expected_verdicts(suite_root, &cameras)?;
        let expected_path = path.with_extension("expected.json");
        std::fs::write(
            &expected_path,
            serde_json::to_string_pretty(&expected).unwrap_or_default(),
        )
        .map_err(CliError::io(format!("writing {}", expected_path.display())))?;
        errln!(
            "inventory written to {}, expected verdicts to {}",
            path.display(),
            expected_path.display()
        );
    }
    if chosen.is_none() {
        errln!(
            "the cameras' passwords are random and unknown because {SIM_PASSWORD_VAR} was not set; \
             restart as `{SIM_PASSWORD_VAR}=<choose one> hopquy sim --fleet {n} …` to audit them"
        );
    } else {
        errln!("audit them: hopquy fleet run --inventory FILE --out DIR ({SIM_PASSWORD_VAR} set in that shell too)");
    }
    errln!("press Ctrl-C to stop");
    let _ = tokio::signal::ctrl_c().await;
    for (_, _, camera) in cameras {
        camera.shutdown().await;
    }
    Ok(0)
}

/// Per camera, the verdict each inspection case must give: from the case's own `[sim]` table
/// (the setups it must pass and fail), so the fleet report is checked against the same
/// fixtures the suite tests itself with. A case whose table does not name the setup is left
/// out: its verdict there is not asserted by anyone.
fn expected_verdicts(
    suite_root: Option<PathBuf>,
    cameras: &[(String, &str, SimCamera)],
) -> Result<serde_json::Value, CliError> {
    let root = suite::locate(suite_root)?;
    let suite = suite::load_suite(&root)?;
    let regulation = "qcvn135-2024";
    let reg = suite
        .regulation(regulation)
        .ok_or_else(|| CliError::Usage(format!("unknown regulation `{regulation}`")))?;
    let cases: Vec<hopquy_case::Case> = suite.cases.iter().map(|c| c.case.clone()).collect();
    let ids = hopquy_fleet::inspection_cases(&cases, &reg.regulation).map_err(|e| CliError::Usage(e.to_string()))?;
    let mut devices = serde_json::Map::new();
    for (id, setup, camera) in cameras {
        let mut verdicts = BTreeMap::new();
        for case in cases.iter().filter(|c| ids.contains(c.id.get_ref())) {
            let Some(sim) = &case.sim else { continue };
            let named = |list: &[toml::Spanned<String>]| list.iter().any(|s| s.get_ref() == setup);
            if named(&sim.pass) {
                verdicts.insert(case.id.get_ref().clone(), "pass");
            } else if named(&sim.fail) {
                verdicts.insert(case.id.get_ref().clone(), "fail");
            }
        }
        devices.insert(
            id.clone(),
            serde_json::json!({ "setup": setup, "host": camera.host().to_string(), "cases": verdicts }),
        );
    }
    Ok(serde_json::json!({ "regulation": regulation, "suite": hopquy_fleet::INSPECTION_SUITE, "devices": devices }))
}
