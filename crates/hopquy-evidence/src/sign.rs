//! Ed25519 signing of manifest.json.
//!
//! Key files are two-line text so a lab can inspect and back them up without tools:
//!
//! ```text
//! hopquy-ed25519-private-v1
//! <standard base64 of the 32-byte secret seed>
//! ```
//!
//! and `hopquy-ed25519-public-v1` with the 32-byte public key. `manifest.sig` is:
//!
//! ```text
//! hopquy-ed25519-signature-v1
//! <standard base64 of the 64-byte signature over the exact manifest.json bytes>
//! key SHA256:<unpadded base64 of SHA-256 of the 32-byte public key>
//! ```
//!
//! The key line only says which key claims to have signed; a signature is trusted only when
//! checked against a public key the verifier obtained independently.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use ed25519_dalek::{Signature, Signer};
pub use ed25519_dalek::{SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::error::EvidenceError;
use crate::fsutil::read_bounded_following;

pub const PRIVATE_KEY_HEADER: &str = "hopquy-ed25519-private-v1";
pub const PUBLIC_KEY_HEADER: &str = "hopquy-ed25519-public-v1";
pub const SIGNATURE_HEADER: &str = "hopquy-ed25519-signature-v1";
const KEY_LINE_PREFIX: &str = "key ";
const MAX_KEY_FILE_BYTES: u64 = 4096;
pub(crate) const MAX_SIGNATURE_FILE_BYTES: u64 = 4096;

/// A fresh key pair from the operating system's random number generator.
pub fn generate_keypair() -> Result<(SigningKey, VerifyingKey), EvidenceError> {
    use rand::TryRng;
    let mut seed = [0u8; 32];
    rand::rngs::SysRng
        .try_fill_bytes(&mut seed)
        .map_err(|e| EvidenceError::Randomness(e.to_string()))?;
    let signing = SigningKey::from_bytes(&seed);
    seed.fill(0);
    let verifying = signing.verifying_key();
    Ok((signing, verifying))
}

/// `SHA256:<unpadded base64>` of the raw public key, in the style of `ssh-keygen -l`.
pub fn fingerprint(key: &VerifyingKey) -> String {
    format!("SHA256:{}", STANDARD_NO_PAD.encode(Sha256::digest(key.as_bytes())))
}

pub fn signing_key_to_text(key: &SigningKey) -> String {
    format!("{PRIVATE_KEY_HEADER}\n{}\n", STANDARD.encode(key.to_bytes()))
}

pub fn verifying_key_to_text(key: &VerifyingKey) -> String {
    format!("{PUBLIC_KEY_HEADER}\n{}\n", STANDARD.encode(key.as_bytes()))
}

/// Writes a private key file readable by its owner only. Refuses to replace an existing file:
/// overwriting a lab key by accident would orphan every bundle it signed.
pub fn write_signing_key(path: &Path, key: &SigningKey) -> Result<(), EvidenceError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| EvidenceError::io(path, e))?;
    file.write_all(signing_key_to_text(key).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| EvidenceError::io(path, e))
}

/// Writes a public key file. Refuses to replace an existing file.
pub fn write_verifying_key(path: &Path, key: &VerifyingKey) -> Result<(), EvidenceError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| EvidenceError::io(path, e))?;
    file.write_all(verifying_key_to_text(key).as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| EvidenceError::io(path, e))
}

pub fn load_signing_key(path: &Path) -> Result<SigningKey, EvidenceError> {
    let text = read_key_text(path)?;
    let bytes = parse_key_text(&text, PRIVATE_KEY_HEADER, "private").map_err(|reason| EvidenceError::Key {
        path: path.to_path_buf(),
        reason,
    })?;
    #[cfg(unix)]
    if let Ok(meta) = std::fs::metadata(path) {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            tracing::warn!(path = %path.display(),
                "private key file is readable by other users; chmod 600 it");
        }
    }
    Ok(SigningKey::from_bytes(&bytes))
}

pub fn load_verifying_key(path: &Path) -> Result<VerifyingKey, EvidenceError> {
    let text = read_key_text(path)?;
    let key_error = |reason: String| EvidenceError::Key {
        path: path.to_path_buf(),
        reason,
    };
    let bytes = parse_key_text(&text, PUBLIC_KEY_HEADER, "public").map_err(key_error)?;
    VerifyingKey::from_bytes(&bytes).map_err(|e| key_error(format!("not a valid Ed25519 public key: {e}")))
}

fn read_key_text(path: &Path) -> Result<String, EvidenceError> {
    let bytes = read_bounded_following(path, MAX_KEY_FILE_BYTES).map_err(|e| match e {
        EvidenceError::TooLarge { .. } => EvidenceError::Key {
            path: path.to_path_buf(),
            reason: "too large to be a hopquy key file".into(),
        },
        other => other,
    })?;
    String::from_utf8(bytes).map_err(|_| EvidenceError::Key {
        path: path.to_path_buf(),
        reason: "not a hopquy key file (not UTF-8 text)".into(),
    })
}

fn parse_key_text(text: &str, header: &str, kind: &str) -> Result<[u8; 32], String> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default();
    if first != header {
        let hint = match first {
            PRIVATE_KEY_HEADER => " (this is a private key file)",
            PUBLIC_KEY_HEADER => " (this is a public key file)",
            _ => "",
        };
        return Err(format!("not a hopquy {kind} key: expected first line {header:?}{hint}"));
    }
    let encoded = lines
        .next()
        .ok_or_else(|| format!("{kind} key file has no key line after the header"))?;
    if lines.next().is_some() {
        return Err(format!("{kind} key file has unexpected lines after the key"));
    }
    let decoded = STANDARD
        .decode(encoded)
        .map_err(|e| format!("{kind} key is not valid base64: {e}"))?;
    <[u8; 32]>::try_from(decoded.as_slice())
        .map_err(|_| format!("{kind} key must be 32 bytes, found {}", decoded.len()))
}

/// Parsed `manifest.sig`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureFile {
    pub signature: [u8; 64],
    /// Fingerprint of the key that claims to have signed.
    pub key_fingerprint: String,
}

/// The text of `manifest.sig` for these exact manifest bytes.
pub fn sign_manifest(key: &SigningKey, manifest_bytes: &[u8]) -> String {
    let signature = key.sign(manifest_bytes);
    format!(
        "{SIGNATURE_HEADER}\n{}\n{KEY_LINE_PREFIX}{}\n",
        STANDARD.encode(signature.to_bytes()),
        fingerprint(&key.verifying_key())
    )
}

pub fn parse_signature_file(text: &str) -> Result<SignatureFile, String> {
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    if lines.next() != Some(SIGNATURE_HEADER) {
        return Err(format!("expected first line {SIGNATURE_HEADER:?}"));
    }
    let encoded = lines.next().ok_or("no signature line")?;
    let decoded = STANDARD
        .decode(encoded)
        .map_err(|e| format!("signature is not valid base64: {e}"))?;
    let signature = <[u8; 64]>::try_from(decoded.as_slice())
        .map_err(|_| format!("signature must be 64 bytes, found {}", decoded.len()))?;
    let key_line = lines.next().ok_or("no key fingerprint line")?;
    let key_fingerprint = key_line
        .strip_prefix(KEY_LINE_PREFIX)
        .ok_or("expected a line 'key SHA256:…'")?
        .trim()
        .to_string();
    if lines.next().is_some() {
        return Err("unexpected lines after the key fingerprint".into());
    }
    Ok(SignatureFile {
        signature,
        key_fingerprint,
    })
}

/// Checks `sig` over `manifest_bytes` against a key the verifier trusts. Strict verification
/// rejects malleable signatures, so one manifest has one valid signature per key.
pub fn verify_manifest_signature(key: &VerifyingKey, manifest_bytes: &[u8], sig: &SignatureFile) -> Result<(), String> {
    let expected = fingerprint(key);
    if sig.key_fingerprint != expected {
        return Err(format!(
            "signed by key {} but the given key is {expected}",
            sig.key_fingerprint
        ));
    }
    key.verify_strict(manifest_bytes, &Signature::from_bytes(&sig.signature))
        .map_err(|_| "signature does not match manifest.json".to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip_and_confusions_are_explained() {
        let dir = tempfile::tempdir().unwrap();
        let (signing, verifying) = generate_keypair().unwrap();
        let private = dir.path().join("lab.key");
        let public = dir.path().join("lab.pub");
        write_signing_key(&private, &signing).unwrap();
        write_verifying_key(&public, &verifying).unwrap();
        assert_eq!(load_signing_key(&private).unwrap().to_bytes(), signing.to_bytes());
        assert_eq!(load_verifying_key(&public).unwrap(), verifying);

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&private).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        let err = load_verifying_key(&private).unwrap_err().to_string();
        assert!(err.contains("this is a private key file"), "{err}");
        assert!(write_signing_key(&private, &signing).is_err(), "overwrote a key");

        let short = dir.path().join("short.pub");
        std::fs::write(&short, format!("{PUBLIC_KEY_HEADER}\nAAAA\n")).unwrap();
        let err = load_verifying_key(&short).unwrap_err().to_string();
        assert!(err.contains("32 bytes"), "{err}");
    }

    #[test]
    fn signature_binds_the_exact_bytes_and_the_key() {
        let (signing, verifying) = generate_keypair().unwrap();
        let (_, other) = generate_keypair().unwrap();
        let text = sign_manifest(&signing, b"manifest");
        let sig = parse_signature_file(&text).unwrap();
        assert_eq!(sig.key_fingerprint, fingerprint(&verifying));
        assert!(verify_manifest_signature(&verifying, b"manifest", &sig).is_ok());
        assert!(verify_manifest_signature(&verifying, b"manifesT", &sig).is_err());
        assert!(verify_manifest_signature(&other, b"manifest", &sig).is_err());
    }
}
