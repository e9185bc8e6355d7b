//! The camera's own network (docs/lab-network.md): `hopquy labnet check IFACE` runs the
//! safety checks only and says what a run would do; `hopquy run --lab-net IFACE` serves the
//! network for the whole run and stores its record and capture under labnet/ in the bundle.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use clap::{Args, Subcommand, ValueEnum};
use hopquy_evidence::{BundleWriter, LabNetInfo, paths};
use hopquy_labnet::{LabNet, LabNetConfig, LabNetHandle, LabNetRecord, Mode};
use hopquy_runner::LabNetControl;
use sha2::{Digest, Sha256};

use crate::exit::{self, CliError};

#[derive(Subcommand, Debug)]
pub enum LabNetCommand {
    /// Run only the safety checks on IFACE (exists, not loopback, no default route, no
    /// overlapping subnet) and print what `run --lab-net IFACE` would do. Changes nothing.
    Check(CheckArgs),
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The interface the camera's cable is plugged into.
    pub iface: String,
    #[arg(long, value_enum, default_value = "sinkhole")]
    pub mode: LabNetMode,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabNetMode {
    /// Nothing leaves the lab network: every name resolves to hopquy, hopquy accepts the
    /// connections.
    Sinkhole,
    /// Forward to an uplink (not implemented yet: refused with an explanation).
    Route,
}

/// What `run --lab-net` asked for.
#[derive(Debug, Clone)]
pub struct LabNetSpec {
    pub iface: String,
    pub mode: LabNetMode,
    /// `--geoip`: the lab's GeoIP CSV, read before the network starts.
    pub geoip: Option<PathBuf>,
    /// `--lab-net-wait`: how long the run waits for the camera to answer once the network is up.
    pub wait: std::time::Duration,
    /// `--lab-net-port`: TCP ports the sinkhole listens on besides its defaults.
    pub extra_ports: Vec<u16>,
}

fn config(spec: &LabNetSpec, pcap: PathBuf) -> Result<LabNetConfig, CliError> {
    if spec.mode == LabNetMode::Route {
        return Err(CliError::Usage(
            "--lab-net-mode route is not implemented yet: use sinkhole (docs/lab-network.md, \"Modes\")".into(),
        ));
    }
    let mut cfg = LabNetConfig::new(spec.iface.clone(), pcap);
    cfg.mode = Mode::Sinkhole;
    for port in &spec.extra_ports {
        if !cfg.sinkhole_ports.contains(port) {
            cfg.sinkhole_ports.push(*port);
        }
    }
    Ok(cfg)
}

pub fn labnet(cmd: LabNetCommand) -> Result<u8, CliError> {
    match cmd {
        LabNetCommand::Check(args) => check(args),
    }
}

fn check(args: CheckArgs) -> Result<u8, CliError> {
    let spec = LabNetSpec {
        iface: args.iface,
        mode: args.mode,
        geoip: None,
        wait: std::time::Duration::ZERO,
        extra_ports: vec![],
    };
    let cfg = config(&spec, PathBuf::from("<bundle>/labnet/capture.pcap"))?;
    let report = hopquy_labnet::check(&cfg).map_err(|e| CliError::CannotStart(format!("lab network: {e}")))?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
    } else {
        outln!(
            "{}: usable as the camera's network ({} mode)",
            report.iface,
            report.mode
        );
        outln!(
            "  subnet {}, hopquy {}, leases {}",
            report.subnet,
            report.lab_address,
            report.lease_pool
        );
        outln!("a run with --lab-net {} would:", report.iface);
        for step in &report.would {
            outln!("  - {step}");
        }
    }
    Ok(exit::PASS)
}

/// The lab network of one run, handed to the runner as its [`LabNetControl`].
pub struct RunLabNet {
    handle: Mutex<Option<LabNetHandle>>,
    iface: String,
    mode: &'static str,
    // The capture is written here while the run goes on, then copied into the bundle.
    _dir: tempfile::TempDir,
}

impl RunLabNet {
    pub fn start(spec: &LabNetSpec) -> Result<Arc<RunLabNet>, CliError> {
        let dir = tempfile::Builder::new()
            .prefix("hopquy-labnet-")
            .tempdir()
            .map_err(CliError::io("cannot create a directory for the capture"))?;
        let cfg = config(spec, dir.path().join("capture.pcap"))?;
        let mode = cfg.mode.name();
        let handle = LabNet::start(cfg).map_err(|e| CliError::CannotStart(format!("lab network: {e}")))?;
        errln!(
            "lab network up on {} ({mode} mode): connect the camera now (waiting up to {} s for it to answer)",
            spec.iface,
            spec.wait.as_secs()
        );
        Ok(Arc::new(RunLabNet {
            handle: Mutex::new(Some(handle)),
            iface: spec.iface.clone(),
            mode,
            _dir: dir,
        }))
    }

    fn with<T>(&self, f: impl FnOnce(&LabNetHandle) -> T) -> Option<T> {
        self.handle.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(f)
    }

    /// Stops the network and writes its record and capture into the bundle through the
    /// writer, so the manifest hashes them and `verify` checks them.
    pub fn finish(&self, writer: &mut BundleWriter) -> Result<Option<LabNetInfo>, CliError> {
        let Some(handle) = self.handle.lock().unwrap_or_else(|p| p.into_inner()).take() else {
            return Ok(None);
        };
        let mut record: LabNetRecord = handle.stop();
        let err = |e: hopquy_evidence::EvidenceError| CliError::Storage(format!("writing the lab network record: {e}"));
        let mut pcap_sha256 = None;
        if let Some(pcap) = &record.pcap {
            // Bounded by the capture cap (max_pcap_bytes) the capture kept to.
            let bytes = std::fs::read(&pcap.path).map_err(CliError::io(format!("cannot read {}", pcap.path)))?;
            writer.write_file(paths::LABNET_PCAP_FILE, &bytes).map_err(err)?;
            pcap_sha256 = Some(pcap.sha256.clone());
        }
        // The record names the capture by its place in the bundle, not the temporary file.
        if let Some(p) = record.pcap.as_mut() {
            p.path = paths::LABNET_PCAP_FILE.to_string();
        }
        let json = serde_json::to_vec_pretty(&record).unwrap_or_default();
        writer.write_file(paths::LABNET_RECORD_FILE, &json).map_err(err)?;
        Ok(Some(LabNetInfo {
            iface: self.iface.clone(),
            mode: self.mode.to_string(),
            record: paths::LABNET_RECORD_FILE.to_string(),
            sha256: hex::encode(Sha256::digest(&json)),
            pcap: pcap_sha256.as_ref().map(|_| paths::LABNET_PCAP_FILE.to_string()),
            pcap_sha256,
        }))
    }
}

impl LabNetControl for RunLabNet {
    fn snapshot(&self) -> serde_json::Value {
        self.with(|h| serde_json::to_value(h.snapshot()).unwrap_or_default())
            .unwrap_or_default()
    }

    fn cut(&self) {
        self.with(LabNetHandle::cut_uplink);
    }

    fn restore(&self) {
        self.with(LabNetHandle::restore_uplink);
    }
}
