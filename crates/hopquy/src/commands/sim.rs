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
    // The admin password is chosen by the operator through the environment, never printed:
    // secrets do not reach the terminal, even the simulator's.
    let chosen = std::env::var("HOPQUY_SIM_PASSWORD").ok().filter(|p| !p.is_empty());
    if let Some(pw) = &chosen {
        config.admin_password = pw.clone();
    }
    let camera = SimCamera::start(config)
        .await
        .map_err(|e| CliError::CannotStart(format!("simulated camera: {e}")))?;
    errln!("simulated camera `{}` running on 127.0.0.1:", args.personality);
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
    if chosen.is_none() {
        errln!("admin password: random (set HOPQUY_SIM_PASSWORD before starting to choose it)");
    }
    errln!("press Ctrl-C to stop");
    let _ = tokio::signal::ctrl_c().await;
    camera.shutdown().await;
    Ok(0)
}
