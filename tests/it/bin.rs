//! Running the built `hopquy` binary: one helper for every black-box test.

use std::path::Path;
use std::process::{Command, Output};

use hopquy_tests::{PASSWORD_VAR, repo_root};

/// Cargo builds the binary for this test target (it is registered in the hopquy package).
pub fn hopquy_bin() -> &'static str {
    env!("CARGO_BIN_EXE_hopquy")
}

/// `hopquy ARGS` in `cwd` against this repository's suite. The test password variable is
/// removed, so a command that must not need the device password shows it does not.
pub fn hopquy(args: &[&str], cwd: &Path) -> Output {
    Command::new(hopquy_bin())
        .args(args)
        .current_dir(cwd)
        .env("HOPQUY_SUITE", repo_root())
        .env_remove(PASSWORD_VAR)
        .output()
        .expect("run hopquy")
}

/// Everything the command printed, stdout then stderr.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
