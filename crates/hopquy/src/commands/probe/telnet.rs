//! `hopquy probe telnet HOST[:PORT]`: is a Telnet service open, and what does it print
//! before a login. Options are refused and nothing is ever typed.

use std::time::Instant;

use clap::Args;
use hopquy_probe::telnet::{self, TelnetReport};
use hopquy_probe::{Device, Recorder};

use super::{Common, emit, failed, limits, split_target};
use crate::exit::{self, CliError};

#[derive(Args, Debug)]
pub struct TelnetArgs {
    #[command(flatten)]
    pub common: Common,
}

pub async fn run(a: TelnetArgs) -> Result<u8, CliError> {
    let (host, port) = split_target(&a.common.target)?;
    let port = port.unwrap_or(telnet::DEFAULT_PORT);
    let device = Device::new(host.clone(), limits(a.common.timeout, 1));
    let rec = Recorder::new(Default::default());
    let target = device.authority(port);
    let started = Instant::now();
    let report = match telnet::probe(&device, port, &rec).await {
        Ok(report) => report,
        Err(e) => return failed(a.common.json, "telnet", &target, started, e, serde_json::json!({})),
    };
    let mut body = report.observations();
    if let serde_json::Value::Object(map) = &mut body {
        map.insert(
            "exchanges".into(),
            serde_json::to_value(rec.drain()).unwrap_or_default(),
        );
    }
    emit(a.common.json, "telnet", &target, started, body, |_| {
        print_human(&target, &report)
    });
    Ok(exit::PASS)
}

fn print_human(target: &str, report: &TelnetReport) {
    outln!(
        "{target}: open, {}",
        match report.prompt_kind.as_deref() {
            Some("login") => "asks for a login",
            Some("password") => "asks for a password",
            Some("shell") => "GIVES A SHELL WITHOUT LOGIN",
            Some(_) => "prints text",
            None => "prints nothing",
        }
    );
    if !report.negotiation.is_empty() {
        outln!("  negotiation: {}", report.negotiation.join(", "));
    }
    if let Some(prompt) = &report.prompt {
        for line in prompt.lines() {
            outln!("  | {line}");
        }
    }
    if report.truncated {
        outln!("  (stopped reading at {} bytes)", telnet::MAX_READ_BYTES);
    }
}
