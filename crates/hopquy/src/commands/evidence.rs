//! `verify`, `diff`, `keygen`: the regulator's side of a bundle.

use crate::exit::{self, CliError};
use crate::{DiffArgs, KeygenArgs, VerifyArgs};

pub fn verify(args: VerifyArgs) -> Result<u8, CliError> {
    let key = match &args.key {
        Some(path) => Some(hopquy_evidence::load_verifying_key(path).map_err(|e| CliError::Input(e.to_string()))?),
        None => None,
    };
    if !args.bundle.is_dir() {
        return Err(CliError::Input(format!(
            "{} is not a bundle directory",
            args.bundle.display()
        )));
    }
    let report = hopquy_evidence::verify(&args.bundle, key.as_ref());
    outln!("{report}");
    if report.is_valid() {
        Ok(exit::PASS)
    } else {
        Err(CliError::Failed(if report.is_incomplete() {
            format!(
                "{}: bundle is incomplete (the run did not finish)",
                args.bundle.display()
            )
        } else {
            format!("{}: bundle does not verify", args.bundle.display())
        }))
    }
}

pub fn diff(args: DiffArgs) -> Result<u8, CliError> {
    let d = hopquy_evidence::diff_bundles(&args.a, &args.b).map_err(|e| CliError::Input(e.to_string()))?;
    outln!("{d}");
    // Like diff(1): 0 when the verdicts are the same, 1 when they differ.
    Ok(if d.verdicts_identical() { exit::PASS } else { exit::FAIL })
}

pub fn keygen(args: KeygenArgs) -> Result<u8, CliError> {
    let (signing, verifying) = hopquy_evidence::generate_keypair().map_err(|e| CliError::CannotStart(e.to_string()))?;
    let private = args.out.with_extension("key");
    let public = args.out.with_extension("pub");
    hopquy_evidence::write_signing_key(&private, &signing).map_err(|e| CliError::Input(e.to_string()))?;
    hopquy_evidence::write_verifying_key(&public, &verifying).map_err(|e| CliError::Input(e.to_string()))?;
    outln!("private key: {} (keep it secret; mode 0600)", private.display());
    outln!("public key:  {}", public.display());
    outln!("fingerprint: {}", hopquy_evidence::fingerprint(&verifying));
    Ok(exit::PASS)
}
