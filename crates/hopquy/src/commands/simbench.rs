//! The demo's simulated bench: the operator's hands for the steps where a person acts on the
//! device (change the password, factory-reset, erase, cut the power or the link, upload a
//! tampered image, bring a second sample). It acts on the simulated camera through its real
//! interfaces (ISAPI over HTTP(S), the simulator's power and reset switches) and answers from
//! what it observed, never from what the personality is supposed to do, so a demo verdict
//! is carried by the device's behaviour. Every other step is answered from the dossier.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hopquy_probe::http::{AuthMode, HttpProbe, HttpRequest, HttpResponse, Scheme};
use hopquy_probe::{Credential, Device, Limits, Recorder, Redactor};
use hopquy_runner::{Operator, OperatorAnswer, OperatorRequest};
use hopquy_simcam::{SimCamera, SimConfig, SimSetup};
use sha2::{Digest, Sha256};
use tokio::runtime::Handle;
use tracing::{info, warn};

use crate::operator::BenchOperator;

const BY: &str = "Simulated bench (hopquy demo)";
/// How long the simulated power or link stays cut.
const OUTAGE: Duration = Duration::from_secs(2);
/// Longer than the simulator's lockout duration (4 s), so a lock left by a dictionary run
/// has expired before the bench logs in.
const LOCK_WAIT: Duration = Duration::from_secs(5);
const ERASE_TEST_USER: &str = "hopquy-erase-test";

/// The simulated camera, shared by the demo (which shuts it down) and the bench.
pub type SharedCamera = Arc<tokio::sync::Mutex<Option<SimCamera>>>;

pub struct SimBench {
    camera: SharedCamera,
    setup: SimSetup,
    lab_password: String,
    evidence: PathBuf,
    handle: Handle,
    state: Mutex<BenchState>,
}

#[derive(Default)]
struct BenchState {
    /// The password the bench set in the password-change case, to change it back.
    changed_to: Option<String>,
    second_sample: Option<SecondSample>,
    /// HTTP statuses of the tampered-image uploads: the damaged image, then the forged one.
    upload_statuses: Vec<u16>,
    /// Whether the admin password survived the last power or link cut.
    kept_settings: Option<bool>,
    forced: Option<bool>,
    erase_test_user_gone: Option<bool>,
}

/// What the bench read from a second unit of the same setup.
struct SecondSample {
    label_password: String,
    certificate_sha256: Option<String>,
    public_key_sha256: Option<String>,
}

enum Step {
    Answer(OperatorAnswer),
    /// The bench could not act; the step stays unanswered (inconclusive), with the reason logged.
    Failed(String),
}

impl SimBench {
    /// `evidence` is a directory the bench writes its attachments into (kept until the run ends).
    pub fn new(camera: SharedCamera, setup: SimSetup, lab_password: String, evidence: PathBuf) -> Self {
        SimBench {
            camera,
            setup,
            lab_password,
            evidence,
            handle: Handle::current(),
            state: Mutex::new(BenchState::default()),
        }
    }

    /// The bench's answer when the step is one it performs; `None` when the dossier answers it.
    fn act(&self, req: &OperatorRequest) -> Option<Step> {
        action(&req.case_id, &req.step_id).map(|act| act(self))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, BenchState> {
        // Every field is written whole, so a panic elsewhere cannot leave it half-updated.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` with the camera; `None` once the demo has shut it down.
    fn with_camera<T>(&self, f: impl AsyncFnOnce(&mut SimCamera) -> T) -> Option<T> {
        self.handle.block_on(async {
            let mut guard = self.camera.lock().await;
            match guard.as_mut() {
                Some(camera) => Some(f(camera).await),
                None => None,
            }
        })
    }

    /// One ISAPI request as the device's web UI would send it (HTTPS when the camera has it).
    fn isapi(&self, method: &str, path: &str, password: &str, body: Option<String>) -> Result<HttpResponse, String> {
        let (host, scheme, port) = self
            .with_camera(async |camera: &mut SimCamera| {
                let ports = camera.ports();
                match ports.get("https") {
                    Some(p) => (camera.host(), Scheme::Https, *p),
                    None => (camera.host(), Scheme::Http, ports.get("http").copied().unwrap_or(80)),
                }
            })
            .ok_or("the simulated camera is stopped")?;
        let mut redactor = Redactor::new();
        redactor.add_secret("admin", password);
        let recorder = Recorder::new(Arc::new(redactor));
        let probe = HttpProbe::new(Device::new(host.to_string(), Limits::default())).map_err(|e| e.to_string())?;
        let credential = Credential {
            username: "admin".into(),
            password: password.to_owned(),
            secret: true,
        };
        let mut req = HttpRequest::new(scheme, port, method, path).with_auth(AuthMode::Digest, credential);
        if let Some(body) = body {
            req = req.with_header("Content-Type", "application/xml").with_body(body);
        }
        self.handle
            .block_on(probe.send(&req, &recorder))
            .map_err(|e| format!("{method} {path}: {e}"))
    }

    fn set_admin_password(&self, current: &str, new: &str) -> Result<u16, String> {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><User><userName>admin</userName><password>{new}</password></User>"
        );
        self.isapi("PUT", "/ISAPI/Security/users/1", current, Some(body))
            .map(|r| r.status)
    }

    fn attach(&self, name: &str, text: &str) -> Result<PathBuf, String> {
        let path = self.evidence.join(name);
        std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))?;
        Ok(path)
    }

    fn change_password(&self) -> Step {
        let new = hopquy_simcam::random_password();
        match self.set_admin_password(&self.lab_password, &new) {
            Ok(status) => {
                let changed = status == 200;
                if changed {
                    self.state().changed_to = Some(new);
                }
                answer(
                    yes_no(changed),
                    format!(
                        "changed through the web UI's call PUT /ISAPI/Security/users/1 with the old password: HTTP {status}"
                    ),
                )
            }
            Err(e) => Step::Failed(e),
        }
    }

    fn restore_after_change(&self) -> Step {
        let Some(changed_to) = self.state().changed_to.take() else {
            return answer("done", "the password was not changed, nothing to restore".into());
        };
        match self.set_admin_password(&changed_to, &self.lab_password) {
            Ok(status) => answer(
                "done",
                format!("changed back to the target's password through PUT /ISAPI/Security/users/1: HTTP {status}"),
            ),
            Err(e) => Step::Failed(e),
        }
    }

    /// A second unit of the same setup, started once on its own loopback address.
    fn second_sample(&self) -> Result<(), String> {
        if self.state().second_sample.is_some() {
            return Ok(());
        }
        let mut config = SimConfig::new(self.setup.clone());
        config.bind = SimCamera::unique_loopback();
        let camera = self
            .handle
            .block_on(SimCamera::start(config))
            .map_err(|e| format!("second sample: {e}"))?;
        let der = camera.tls_certificate_der().map(<[u8]>::to_vec);
        let sample = SecondSample {
            label_password: camera.admin_password(),
            certificate_sha256: der.as_deref().map(sha256_hex),
            public_key_sha256: der.as_deref().and_then(public_key_sha256),
        };
        // Only its label and certificate are compared; it need not keep running.
        self.handle.block_on(camera.shutdown());
        self.state().second_sample = Some(sample);
        Ok(())
    }

    fn compare_labels(&self) -> Step {
        if let Err(e) = self.second_sample() {
            return Step::Failed(e);
        }
        let state = self.state();
        let Some(second) = &state.second_sample else {
            return Step::Failed("no second sample".into());
        };
        let related = related(&self.lab_password, &second.label_password);
        let text = format!(
            "Label passwords of two units of the simulated `{}` camera, compared by the simulated bench.\n\
             The values are not recorded (secrets never reach evidence).\n\
             sample 1: {} characters; sample 2: {} characters\n\
             equal, or sharing a 4-character run: {related}\n",
            self.setup,
            self.lab_password.chars().count(),
            second.label_password.chars().count(),
        );
        drop(state);
        attachment(
            self.attach("second-sample-labels.txt", &text),
            "two units' label passwords compared",
        )
    }

    fn labels_unrelated(&self) -> Step {
        let state = self.state();
        match &state.second_sample {
            Some(second) => answer(
                yes_no(!related(&self.lab_password, &second.label_password)),
                "compared by the bench; see second-sample-labels.txt".into(),
            ),
            None => Step::Failed("no second sample".into()),
        }
    }

    fn second_sample_probe(&self) -> Step {
        if let Err(e) = self.second_sample() {
            return Step::Failed(e);
        }
        let state = self.state();
        let Some(sha256) = state.second_sample.as_ref().and_then(|s| s.certificate_sha256.clone()) else {
            return Step::Failed("the second sample has no HTTPS certificate".into());
        };
        drop(state);
        let json = serde_json::json!({ "certificate": { "sha256": sha256 } });
        attachment(
            self.attach("second-sample-tls.json", &format!("{json:#}\n")),
            "HTTPS certificate of a second unit of the same setup",
        )
    }

    fn second_sample_fingerprint(&self) -> Step {
        match self
            .state()
            .second_sample
            .as_ref()
            .and_then(|s| s.certificate_sha256.clone())
        {
            Some(sha256) => answer(&sha256, "certificate.sha256 of second-sample-tls.json".into()),
            None => Step::Failed("no second-sample certificate".into()),
        }
    }

    fn public_key_outputs(&self) -> Step {
        let first = self
            .with_camera(async |camera: &mut SimCamera| camera.tls_certificate_der().and_then(public_key_sha256))
            .flatten();
        let second = self
            .state()
            .second_sample
            .as_ref()
            .and_then(|s| s.public_key_sha256.clone());
        let (Some(first), Some(second)) = (first, second) else {
            return Step::Failed("a public key could not be read".into());
        };
        let text = format!(
            "SHA-256 of the SubjectPublicKeyInfo of each unit's HTTPS certificate\nsample 1: {first}\nsample 2: {second}\n"
        );
        attachment(
            self.attach("public-keys.txt", &text),
            "public-key digests of both units",
        )
    }

    fn public_keys_differ(&self) -> Step {
        let first = self
            .with_camera(async |camera: &mut SimCamera| camera.tls_certificate_der().and_then(public_key_sha256))
            .flatten();
        let second = self
            .state()
            .second_sample
            .as_ref()
            .and_then(|s| s.public_key_sha256.clone());
        match (first, second) {
            (Some(a), Some(b)) => answer(yes_no(a != b), "see public-keys.txt".into()),
            _ => Step::Failed("a public key could not be read".into()),
        }
    }

    /// One upload through the web UI's call, as the device's update page sends it.
    fn upload_firmware(&self, image: Vec<u8>) -> Result<HttpResponse, String> {
        let (host, port, scheme) = self
            .with_camera(async |camera: &mut SimCamera| {
                let ports = camera.ports();
                match ports.get("https") {
                    Some(p) => (camera.host(), *p, Scheme::Https),
                    None => (camera.host(), ports.get("http").copied().unwrap_or(80), Scheme::Http),
                }
            })
            .ok_or("the simulated camera is stopped")?;
        let mut redactor = Redactor::new();
        redactor.add_secret("admin", &self.lab_password);
        let recorder = Recorder::new(Arc::new(redactor));
        let probe = HttpProbe::new(Device::new(host.to_string(), Limits::default())).map_err(|e| e.to_string())?;
        let req = HttpRequest::new(scheme, port, "PUT", "/ISAPI/System/updateFirmware")
            .with_auth(
                AuthMode::Digest,
                Credential {
                    username: "admin".into(),
                    password: self.lab_password.clone(),
                    secret: true,
                },
            )
            .with_header("Content-Type", "application/octet-stream")
            .with_body(image);
        self.handle
            .block_on(probe.send(&req, &recorder))
            .map_err(|e| format!("firmware upload: {e}"))
    }

    /// Two modified images of another version: one with a byte changed (its digest no longer
    /// matches: any integrity check catches it) and the forger's version of the same change,
    /// digest recomputed and no vendor signature (only a signature check catches it).
    fn upload_tampered_image(&self) -> Step {
        let mut payload = b"simulated firmware V9.9.9 build 991231 (not the installed one)".to_vec();
        let mut tampered = hopquy_simcam::firmware_image(&payload);
        let middle = tampered.len() / 2;
        if let Some(byte) = tampered.get_mut(middle) {
            *byte ^= 0x58;
        }
        let middle = payload.len() / 2;
        if let Some(byte) = payload.get_mut(middle) {
            *byte ^= 0x58;
        }
        let forged = hopquy_simcam::forged_firmware_image(&payload);
        let mut text = String::new();
        let mut statuses = Vec::new();
        for (what, image) in [
            ("one byte changed in the middle (digest left as it was)", tampered),
            (
                "the same kind of change with the SHA-256 recomputed and no vendor signature (what a forger without the vendor's key builds)",
                forged,
            ),
        ] {
            let response = match self.upload_firmware(image) {
                Ok(r) => r,
                Err(e) => return Step::Failed(e),
            };
            statuses.push(response.status);
            text.push_str(&format!(
                "Upload of a firmware image of another version, {what},\n\
                 through the web UI's call PUT /ISAPI/System/updateFirmware.\n\
                 device answer: HTTP {}\n\n{}\n\n",
                response.status,
                String::from_utf8_lossy(&response.body)
            ));
        }
        self.state().upload_statuses = statuses;
        attachment(
            self.attach("tampered-upload-answer.txt", &text),
            "the device's answers to both uploads",
        )
    }

    fn upload_refused(&self) -> Step {
        let statuses = self.state().upload_statuses.clone();
        let [tampered, forged] = statuses[..] else {
            return Step::Failed("no upload was made".into());
        };
        answer(
            yes_no(tampered != 200 && forged != 200),
            format!(
                "the device answered HTTP {tampered} to the image with a changed byte and HTTP {forged} to the re-digested unsigned image{}",
                if forged == 200 {
                    ": it installs an image anyone can rebuild, so it does not verify authenticity"
                } else {
                    ""
                }
            ),
        )
    }

    fn cut(&self, what: &str) -> Step {
        let lab = self.lab_password.clone();
        let result = self.with_camera(async |camera: &mut SimCamera| {
            camera
                .power_cycle(OUTAGE)
                .await
                .map(|()| camera.admin_password() == lab)
        });
        match result {
            Some(Ok(kept)) => {
                self.state().kept_settings = Some(kept);
                info!(what, "simulated bench: camera cut and back");
                answer(
                    "done",
                    format!(
                        "simulated {what}: every listener and connection of the camera closed for {} s, then restored",
                        OUTAGE.as_secs()
                    ),
                )
            }
            Some(Err(e)) => Step::Failed(e.to_string()),
            None => Step::Failed("the simulated camera is stopped".into()),
        }
    }

    fn settings_evidence(&self, name: &str) -> Step {
        let users = self.isapi("GET", "/ISAPI/Security/users", &self.lab_password, None);
        let kept = self.state().kept_settings;
        let text = match users {
            Ok(r) => format!(
                "After the outage: the target's password logs in: {}\nkept account settings: {kept:?}\nGET /ISAPI/Security/users: HTTP {}\n\n{}\n",
                r.status == 200,
                r.status,
                String::from_utf8_lossy(&r.body)
            ),
            Err(e) => format!("After the outage: the user list could not be read: {e}\n"),
        };
        attachment(
            self.attach(&format!("{name}-after.txt"), &text),
            "what the bench read from the device after the outage",
        )
    }

    fn settings_kept(&self) -> Step {
        match self.state().kept_settings {
            Some(kept) => answer(
                yes_no(kept),
                "the admin account and its password survived; the camera serves again without help (the simulator records and streams nothing, so there is no other work to resume)".into(),
            ),
            None => Step::Failed("no power cut was made".into()),
        }
    }

    fn local_functions(&self) -> Step {
        match self.state().kept_settings {
            Some(kept) => answer(
                yes_no(kept),
                "the IXIT (§8) declares no local function beyond answering requests: the simulator records nothing locally; its state was kept through the link cut".into(),
            ),
            None => Step::Failed("no link cut was made".into()),
        }
    }

    fn factory_reset(&self, what: &str) -> Step {
        match self.with_camera(async |camera: &mut SimCamera| camera.factory_reset().await) {
            Some(Ok(())) => answer_kind_aware(
                what,
                format!("simulated {what}: the camera's state was discarded and it came back in its factory state"),
            ),
            Some(Err(e)) => Step::Failed(e.to_string()),
            None => Step::Failed("the simulated camera is stopped".into()),
        }
    }

    /// Whether the factory state lets the model's public default password in.
    fn forced_password(&self) -> Step {
        // The dictionary run before this step may have locked the account.
        self.handle.block_on(tokio::time::sleep(LOCK_WAIT));
        let default = hopquy_simcam::http::FACTORY_PASSWORD;
        match self.isapi("GET", "/ISAPI/Security/userCheck", default, None) {
            Ok(r) => {
                let forced = r.status != 200;
                self.state().forced = Some(forced);
                answer(
                    yes_no(forced),
                    format!(
                        "after the reset the web UI answered the model's public default password with HTTP {}; {}",
                        r.status,
                        if forced {
                            "access needs this unit's own label password"
                        } else {
                            "the device could be used with the password common to the model"
                        }
                    ),
                )
            }
            Err(e) => Step::Failed(e),
        }
    }

    fn restore_after_reset(&self) -> Step {
        self.handle.block_on(tokio::time::sleep(LOCK_WAIT));
        let Some(label) = self.with_camera(async |camera: &mut SimCamera| camera.admin_password()) else {
            return Step::Failed("the simulated camera is stopped".into());
        };
        if label == self.lab_password {
            return answer("done", "the target's password is already in force".into());
        }
        match self.set_admin_password(&label, &self.lab_password) {
            Ok(status) => answer(
                "done",
                format!(
                    "initial setup with the unit's label password, then PUT /ISAPI/Security/users/1 set the target's password: HTTP {status}"
                ),
            ),
            Err(e) => Step::Failed(e),
        }
    }

    fn seed_user_data(&self) -> Step {
        let body = format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><User><userName>{ERASE_TEST_USER}</userName><password>{}</password><userLevel>Operator</userLevel></User>",
            hopquy_simcam::random_password()
        );
        match self.isapi("POST", "/ISAPI/Security/users", &self.lab_password, Some(body)) {
            Ok(r) => answer(
                "done",
                format!(
                    "added the user {ERASE_TEST_USER} through POST /ISAPI/Security/users: HTTP {}; the simulator has no recordings, Wi-Fi or cloud binding to seed",
                    r.status
                ),
            ),
            Err(e) => Step::Failed(e),
        }
    }

    fn erase_evidence(&self) -> Step {
        let Some(label) = self.with_camera(async |camera: &mut SimCamera| camera.admin_password()) else {
            return Step::Failed("the simulated camera is stopped".into());
        };
        self.handle.block_on(tokio::time::sleep(LOCK_WAIT));
        match self.isapi("GET", "/ISAPI/Security/users", &label, None) {
            Ok(r) => {
                let body = String::from_utf8_lossy(&r.body).into_owned();
                self.state().erase_test_user_gone = Some(r.status == 200 && !body.contains(ERASE_TEST_USER));
                let text = format!(
                    "User list after the erase, read with the unit's label password\nGET /ISAPI/Security/users: HTTP {}\n\n{body}\n",
                    r.status
                );
                attachment(
                    self.attach("erase-user-list.txt", &text),
                    "the user list after the erase",
                )
            }
            Err(e) => Step::Failed(e),
        }
    }

    fn data_gone(&self) -> Step {
        match self.state().erase_test_user_gone {
            Some(gone) => answer(
                yes_no(gone),
                format!("{ERASE_TEST_USER} in the user list after the erase: {}", !gone),
            ),
            None => Step::Failed("the user list after the erase was not read".into()),
        }
    }
}

/// The steps the bench performs, by (case, step).
fn action(case: &str, step: &str) -> Option<fn(&SimBench) -> Step> {
    Some(match (case, step) {
        ("password-change-operator", "change") => SimBench::change_password,
        ("password-change-operator", "restore") => SimBench::restore_after_change,
        ("password-generation-two-samples", "labels") => SimBench::compare_labels,
        ("password-generation-two-samples", "unrelated") => SimBench::labels_unrelated,
        ("certificate-unique-two-samples", "second-sample-probe") => SimBench::second_sample_probe,
        ("certificate-unique-two-samples", "second-sample") => SimBench::second_sample_fingerprint,
        ("certificate-unique-two-samples", "public-key-outputs") => SimBench::public_key_outputs,
        ("certificate-unique-two-samples", "public-keys") => SimBench::public_keys_differ,
        ("tampered-firmware-rejected", "upload") => SimBench::upload_tampered_image,
        ("tampered-firmware-rejected", "refused") => SimBench::upload_refused,
        ("power-loss-recovery", "power-cut") => |b| b.cut("power cut"),
        ("power-loss-recovery", "settings-evidence") => |b| b.settings_evidence("power-loss"),
        ("power-loss-recovery", "settings") => SimBench::settings_kept,
        ("network-outage-local-operation", "outage") => |b| b.cut("link cut"),
        ("network-outage-local-operation", "outage-evidence") => |b| b.settings_evidence("link-outage"),
        ("network-outage-local-operation", "local-functions") => SimBench::local_functions,
        ("factory-reset-forces-password", "reset") => |b| b.factory_reset("factory reset"),
        ("factory-reset-forces-password", "forced") => SimBench::forced_password,
        ("factory-reset-forces-password" | "erase-user-data", "restore") => SimBench::restore_after_reset,
        ("erase-user-data", "seed") => SimBench::seed_user_data,
        ("erase-user-data", "erase") => |b| b.factory_reset("erase (Restore all)"),
        ("erase-user-data", "erase-evidence") => SimBench::erase_evidence,
        ("erase-user-data", "data-gone") => SimBench::data_gone,
        _ => return None,
    })
}

/// Answers bench steps by acting on the simulator, every other step from the dossier.
pub struct DemoOperator {
    pub bench: SimBench,
    pub dossier: BenchOperator,
}

impl Operator for DemoOperator {
    fn ask(&self, req: &OperatorRequest) -> Option<OperatorAnswer> {
        match self.bench.act(req) {
            Some(Step::Answer(a)) => Some(a),
            Some(Step::Failed(reason)) => {
                warn!(case = %req.case_id, step = %req.step_id, %reason, "simulated bench could not act");
                None
            }
            None => self.dossier.ask(req),
        }
    }
}

fn answer(text: &str, note: String) -> Step {
    Step::Answer(OperatorAnswer {
        answer: text.to_owned(),
        attachments: Vec::new(),
        note: Some(note),
        by: Some(BY.into()),
    })
}

/// The erase step asks yes/no ("could you start it, did it complete"), the reset step a
/// confirmation; both are answered once the reset really happened.
fn answer_kind_aware(what: &str, note: String) -> Step {
    answer(if what.starts_with("erase") { "yes" } else { "done" }, note)
}

fn attachment(path: Result<PathBuf, String>, note: &str) -> Step {
    match path {
        Ok(path) => Step::Answer(OperatorAnswer {
            answer: "attached".into(),
            attachments: vec![path],
            note: Some(note.to_owned()),
            by: Some(BY.into()),
        }),
        Err(e) => Step::Failed(e),
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// Two label passwords are related when equal or when they share any 4-character run (a
/// common prefix, suffix or serial-derived part an attacker could learn from one unit).
fn related(a: &str, b: &str) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    a == b || a.windows(4).any(|w| b.windows(4).any(|v| v == w))
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

fn public_key_sha256(der: &[u8]) -> Option<String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    Some(sha256_hex(cert.public_key().raw))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn related_labels_are_the_equal_or_overlapping_ones() {
        assert!(related("Abcd-1234-xyZ!", "Abcd-1234-xyZ!"));
        assert!(related("Qx7!mmmmPPPP", "zz7!mmmkkkk"), "shared run 7!mm");
        assert!(!related("Qx7!mPk2Lr9#", "Za3$nWt8Ye5%"));
    }

    /// Every operator and document step of the suite is answered by exactly one of the
    /// dossier and the bench, and neither names a step the suite does not have.
    #[test]
    fn dossier_and_bench_answer_every_manual_step_of_the_suite_once() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-cases");
        let (suite, diags) = hopquy_case::Suite::load(&root);
        assert!(diags.is_empty(), "{}", hopquy_case::render_diagnostics(&diags));
        let mut manual = std::collections::BTreeSet::new();
        for case in &suite.cases {
            for step in &case.case.steps {
                if step.action.get_ref().is_interactive() {
                    manual.insert((case.case.id.get_ref().clone(), step.id.get_ref().clone()));
                }
            }
        }
        let bench: Vec<_> = manual.iter().filter(|(c, s)| action(c, s).is_some()).cloned().collect();
        assert_eq!(bench.len(), 24, "bench steps found in the suite: {bench:?}");
        for &personality in hopquy_simcam::Personality::ALL {
            let dir = tempfile::tempdir().unwrap();
            let path = hopquy_simcam::dossier::write(personality, dir.path()).unwrap();
            let file =
                hopquy_case::load_answers(&path).unwrap_or_else(|d| panic!("{}", hopquy_case::render_diagnostics(&d)));
            let mut answered = std::collections::BTreeSet::new();
            for a in &file.answer {
                let key = (a.case.clone(), a.step.clone());
                assert!(
                    manual.contains(&key),
                    "{personality}: {key:?} is not an operator/document step"
                );
                assert!(
                    action(&key.0, &key.1).is_none(),
                    "{personality}: {key:?} is the bench's"
                );
                answered.insert(key);
            }
            for key in &manual {
                assert!(
                    answered.contains(key) || action(&key.0, &key.1).is_some(),
                    "{personality}: {key:?} unanswered"
                );
            }
        }
    }

    #[test]
    fn sha256_hex_is_lowercase_64_characters() {
        let h = sha256_hex(b"abc");
        assert_eq!(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
