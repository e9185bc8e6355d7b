use std::time::Instant;

use clap::Args;
use hopquy_probe::{Device, Recorder};

use super::{Common, emit, failed, limits, split_target};
use crate::exit::{self, CliError};

#[derive(Args, Debug)]
pub struct PortsArgs {
    #[command(flatten)]
    pub common: Common,
    /// Ports to scan, e.g. `22,80,554,8000-8100` (default: 1-65535).
    #[arg(long)]
    pub ports: Option<String>,
    /// Connections in flight at once.
    #[arg(long, default_value_t = 512)]
    pub concurrency: usize,
}

pub async fn run(a: PortsArgs) -> Result<u8, CliError> {
    let (host, port) = split_target(&a.common.target)?;
    if port.is_some() {
        return Err(CliError::Usage(
            "`probe ports` takes a HOST; choose ports with --ports".into(),
        ));
    }
    let list = match &a.ports {
        Some(spec) => hopquy_probe::tcp::parse_port_list(spec).map_err(|e| CliError::Usage(e.to_string()))?,
        None => (1..=65535).collect(),
    };
    let device = Device::new(host.clone(), limits(a.common.timeout, a.concurrency.max(1)));
    let rec = Recorder::new(Default::default());
    let started = Instant::now();
    let scan = match hopquy_probe::tcp::connect_scan(&device, &list, a.concurrency, &rec).await {
        Ok(scan) => scan,
        Err(e) => return failed(a.common.json, "ports", &host, started, e, serde_json::json!({})),
    };
    emit(a.common.json, "ports", &host, started, scan.observations(), |obj| {
        outln!("{host}: {} open of {} scanned", scan.open.len(), list.len());
        for p in &scan.open {
            outln!(
                "  {:>5}/tcp  {:<18} {}",
                p.port,
                p.service.as_deref().unwrap_or("?"),
                p.banner.as_deref().unwrap_or("")
            );
        }
        let _ = obj;
    });
    Ok(exit::PASS)
}
