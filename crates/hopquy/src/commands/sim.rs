//! `hopquy sim`: the simulated camera, until Ctrl-C.

use hopquy_simcam::{SimCamera, SimConfig, SimSetup};

use crate::SimArgs;
use crate::exit::CliError;

pub async fn sim(args: SimArgs) -> Result<u8, CliError> {
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
