//! SSH algorithm audit: hopquy's probe against ssh-audit 3.9 (and nmap's ssh2-enum-algos
//! when installed), on the same loopback OpenSSH server in one run. Prints a table of
//! wall-clock times and whether each tool saw the same algorithm lists.
//!
//!     cargo bench -p hopquy-probe --bench ssh
//!
//! Needs Debian `openssh-server` (the server) and ssh-audit 3.9.0 in `target/peers/venv`
//! (`pip install ssh-audit==3.9.0`) or at `$HOPQUY_SSH_AUDIT`; a missing peer tool's row
//! says so. sshd runs as root (privilege separation). Timings are printed, never asserted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hopquy_probe::ssh::{SshOptions, audit, grab_server_hello};
use hopquy_probe::{Device, Limits, Recorder};

const ROUNDS: usize = 10;
const SSHD: &str = "/usr/sbin/sshd";
const KEX: &str = "mlkem768x25519-sha256,sntrup761x25519-sha512@openssh.com,curve25519-sha256,diffie-hellman-group14-sha256,diffie-hellman-group14-sha1,diffie-hellman-group1-sha1";
const HOST_KEYS: &str = "ssh-ed25519,rsa-sha2-512,ssh-rsa";
const CIPHERS: &str = "chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-ctr,aes128-cbc,3des-cbc";
const MACS: &str = "hmac-sha2-256-etm@openssh.com,hmac-sha2-256,hmac-sha1,hmac-md5";

struct Sshd {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_sshd(kex: &str) -> Option<Sshd> {
    if !Path::new(SSHD).exists() {
        return None;
    }
    let dir = std::env::temp_dir().join(format!("hopquy-bench-sshd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    for (name, kind) in [("hk_ed25519", "ed25519"), ("hk_rsa", "rsa")] {
        let _ = std::fs::remove_file(dir.join(name));
        let ok = Command::new("ssh-keygen")
            .args(["-q", "-t", kind, "-N", "", "-f"])
            .arg(dir.join(name))
            .status()
            .ok()?
            .success();
        if !ok {
            return None;
        }
    }
    let _ = std::fs::create_dir_all("/run/sshd");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new(SSHD)
        .args(["-D", "-e", "-f", "/dev/null", "-p", &port.to_string()])
        .arg("-h")
        .arg(dir.join("hk_ed25519"))
        .arg("-h")
        .arg(dir.join("hk_rsa"))
        .args(["-o", "ListenAddress=127.0.0.1"])
        // Timed rounds open many short connections; sshd's default MaxStartups (10:30:100)
        // would drop some of them at random before the version line.
        .args(["-o", "MaxStartups=200"])
        .arg("-o")
        .arg(format!("PidFile={}", dir.join("sshd.pid").display()))
        .args(["-o", &format!("KexAlgorithms={kex}")])
        .args(["-o", &format!("HostKeyAlgorithms={HOST_KEYS}")])
        .args(["-o", &format!("Ciphers={CIPHERS}")])
        .args(["-o", &format!("MACs={MACS}")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let sshd = Sshd { child, port, dir };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !listening(port) {
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Some(sshd)
}

fn ssh_audit_program() -> Option<PathBuf> {
    [
        std::env::var_os("HOPQUY_SSH_AUDIT").map(PathBuf::from),
        Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/peers/venv/bin/ssh-audit")),
        Some(PathBuf::from("ssh-audit")),
    ]
    .into_iter()
    .flatten()
    .find(|p| {
        Command::new(p)
            .arg("-h")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("ssh-audit v3."))
    })
}

fn nmap_has_ssh2_enum_algos() -> bool {
    Path::new("/usr/share/nmap/scripts/ssh2-enum-algos.nse").exists()
        && Command::new("nmap")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// Median and minimum of `ROUNDS` runs of `f`, in milliseconds.
fn time<T>(mut f: impl FnMut() -> T) -> (f64, f64, T) {
    let mut samples = Vec::with_capacity(ROUNDS);
    let mut last = None;
    for _ in 0..ROUNDS {
        let started = Instant::now();
        last = Some(f());
        samples.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    (samples[ROUNDS / 2], samples[0], last.expect("ROUNDS > 0"))
}

type Lists = [BTreeSet<String>; 4];

fn set<'a>(names: impl IntoIterator<Item = &'a String>) -> BTreeSet<String> {
    names.into_iter().cloned().collect()
}

fn ssh_audit_lists(report: &serde_json::Value) -> Lists {
    let names = |section: &str| -> BTreeSet<String> {
        report[section]
            .as_array()
            .map(|entries| {
                entries
                    .iter()
                    .filter_map(|e| e["algorithm"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    [names("kex"), names("key"), names("enc"), names("mac")]
}

/// nmap prints `|   kex_algorithms: (N)` then one indented name per line.
fn nmap_lists(output: &str) -> Lists {
    let mut lists: Lists = Default::default();
    let mut current: Option<usize> = None;
    for line in output.lines() {
        let text = line.trim_start_matches(['|', '_', ' ']);
        let section = [
            "kex_algorithms",
            "server_host_key_algorithms",
            "encryption_algorithms",
            "mac_algorithms",
        ]
        .iter()
        .position(|s| text.starts_with(s));
        if section.is_some() {
            current = section;
        } else if text.contains("_algorithms") {
            current = None;
        } else if let Some(i) = current
            && !text.is_empty()
        {
            lists[i].insert(text.trim().to_owned());
        }
    }
    lists
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // OpenSSH < 9.9 has no mlkem768x25519; fall back to a list without it.
    let without_mlkem = KEX.trim_start_matches("mlkem768x25519-sha256,");
    let started = start_sshd(KEX)
        .map(|s| (s, KEX))
        .or_else(|| start_sshd(without_mlkem).map(|s| (s, without_mlkem)));
    let Some((sshd, kex_configured)) = started else {
        println!("skipped: openssh-server (/usr/sbin/sshd) not installed or not startable");
        return;
    };
    let device = Device::new(
        "127.0.0.1",
        Limits {
            io_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            ..Limits::default()
        },
    );
    let rec = Recorder::default();

    let (grab_median, grab_min, hello) = time(|| {
        runtime
            .block_on(grab_server_hello(&device, sshd.port, &rec))
            .expect("grab failed")
    });
    let (audit_median, audit_min, full) = time(|| {
        runtime
            .block_on(audit(&device, sshd.port, &SshOptions::default(), &rec))
            .expect("audit failed")
    });
    rec.drain();
    let k = &hello.kexinit;
    let ours: Lists = [set(&k.kex), set(&k.host_key), set(&k.ciphers_s2c), set(&k.macs_s2c)];
    // OpenSSH appends pseudo-algorithms (ext-info-s, kex-strict-s-…) depending on its release.
    let real_kex: Vec<&str> = k
        .kex
        .iter()
        .map(String::as_str)
        .filter(|x| !x.starts_with("ext-info-") && !x.starts_with("kex-strict-"))
        .collect();
    let configured_in_order = real_kex.join(",") == kex_configured
        && k.host_key.join(",") == HOST_KEYS
        && k.ciphers_s2c.join(",") == CIPHERS
        && k.macs_s2c.join(",") == MACS;

    println!(
        "SSH algorithm audit, OpenSSH {} on 127.0.0.1:{}, {ROUNDS} rounds each",
        hello.banner, sshd.port
    );
    println!("{:<44} {:>10} {:>10}  lists", "tool", "median ms", "min ms");
    println!(
        "{:<44} {:>10.1} {:>10.1}  {}",
        "hopquy grab (banner + KEXINIT)",
        grab_median,
        grab_min,
        if configured_in_order {
            "= sshd configuration, in order"
        } else {
            "DIFFER from sshd configuration"
        }
    );
    println!(
        "{:<44} {:>10.1} {:>10.1}  + fingerprint {}, methods {:?}, weak {}",
        "hopquy audit (+ host key, auth methods)",
        audit_median,
        audit_min,
        full.host_key_fingerprint.as_deref().unwrap_or("-"),
        full.auth_methods.clone().unwrap_or_default(),
        full.weak.len()
    );

    match ssh_audit_program() {
        None => println!(
            "{:<44} skipped: ssh-audit 3.x not installed",
            "ssh-audit -j --skip-rate-test"
        ),
        Some(program) => {
            let (median, min, out) = time(|| {
                Command::new(&program)
                    .args([
                        "-j",
                        "-n",
                        "--skip-rate-test",
                        "-p",
                        &sshd.port.to_string(),
                        "127.0.0.1",
                    ])
                    .output()
                    .expect("ssh-audit did not run")
            });
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
            let same = ssh_audit_lists(&report) == ours;
            println!(
                "{:<44} {:>10.1} {:>10.1}  {}",
                "ssh-audit 3.9 -j --skip-rate-test",
                median,
                min,
                if same {
                    "identical sets (kex, key, enc, mac)"
                } else {
                    "DIFFERENT sets"
                }
            );
        }
    }

    if nmap_has_ssh2_enum_algos() {
        let (median, min, out) = time(|| {
            Command::new("nmap")
                .args([
                    "-Pn",
                    "-n",
                    "-p",
                    &sshd.port.to_string(),
                    "--script",
                    // `+` forces the script: its port rule only fires on port 22 or after -sV.
                    "+ssh2-enum-algos",
                    "127.0.0.1",
                ])
                .output()
                .expect("nmap did not run")
        });
        let same = nmap_lists(&String::from_utf8_lossy(&out.stdout)) == ours;
        println!(
            "{:<44} {:>10.1} {:>10.1}  {}",
            "nmap --script +ssh2-enum-algos",
            median,
            min,
            if same {
                "identical sets (kex, key, enc, mac)"
            } else {
                "DIFFERENT sets"
            }
        );
    } else {
        println!("{:<44} skipped: nmap not installed", "nmap --script +ssh2-enum-algos");
    }
}

/// A real listener answers: connected, and not to ourselves (on loopback a connect to a free
/// ephemeral port can "succeed" as a TCP self-connect).
fn listening(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok_and(|s| s.local_addr().ok() != s.peer_addr().ok())
}
