//! `hopquy probe rtsp HOST[:PORT]`: authentication demanded, stream routes found (anonymous
//! and, with `--user`, authenticated), open routes, Basic in clear, any-path acceptance.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::Args;
use hopquy_case::PathSource;
use hopquy_probe::rtsp::{self, RtspProbeRequest, RtspReport};
use hopquy_probe::{Device, Recorder, Redactor};
use serde_json::json;

use super::{Common, emit, failed, limits, login_credential, split_target};
use crate::exit::{self, CliError};

#[derive(Args, Debug)]
pub struct RtspArgs {
    #[command(flatten)]
    pub common: Common,
    /// Ask refused paths again as this user, and try Basic when offered (needs --password-env).
    #[arg(long)]
    pub user: Option<String>,
    /// Environment variable holding the password (never a literal on the command line).
    #[arg(long)]
    pub password_env: Option<String>,
    /// Candidate paths, comma-separated: `/path`, `dictionary:STEM` (test-cases/data/STEM.toml
    /// of the suite) or `@FILE` (a path dictionary file). Default: `dictionary:rtsp-paths`.
    #[arg(long, value_delimiter = ',')]
    pub paths: Vec<String>,
}

pub async fn run(a: RtspArgs) -> Result<u8, CliError> {
    let (host, port) = split_target(&a.common.target)?;
    let port = port.unwrap_or(rtsp::DEFAULT_PORT);
    let mut redactor = Redactor::new();
    let credential = login_credential(&a.user, &a.password_env, &mut redactor)?;
    let paths = candidate_paths(&a.paths)?;
    let device = Device::new(host.clone(), limits(a.common.timeout, 1));
    let rec = Recorder::new(Arc::new(redactor));
    let target = device.authority(port);
    let started = Instant::now();
    let request = RtspProbeRequest {
        port,
        paths,
        credential,
    };
    match rtsp::probe(&device, &request, &rec).await {
        Ok(report) => {
            let mut body = report.observations();
            if let serde_json::Value::Object(map) = &mut body {
                map.insert(
                    "exchanges".into(),
                    serde_json::to_value(rec.drain()).unwrap_or_default(),
                );
            }
            emit(a.common.json, "rtsp", &target, started, body, |_| {
                print_human(&target, &report)
            });
            Ok(exit::PASS)
        }
        Err(e) => failed(
            a.common.json,
            "rtsp",
            &target,
            started,
            e,
            json!({ "exchanges": serde_json::to_value(rec.drain()).unwrap_or_default() }),
        ),
    }
}

fn candidate_paths(items: &[String]) -> Result<Vec<String>, CliError> {
    let default = ["dictionary:rtsp-paths".to_owned()];
    let items = if items.is_empty() { &default[..] } else { items };
    let mut out = Vec::new();
    for item in items {
        let item = item.trim();
        // `/path` and `dictionary:STEM` mean what they mean in a case's `paths`; `@FILE` is
        // the command line's own.
        match (PathSource::parse(item), item.strip_prefix('@')) {
            (Some(PathSource::Path(path)), _) => out.push(path),
            (Some(PathSource::Dictionary(stem)), _) => {
                let root = crate::suite::locate(std::env::var_os("HOPQUY_SUITE").map(PathBuf::from))?;
                out.extend(dictionary(&root.join("test-cases/data").join(format!("{stem}.toml")))?);
            }
            (_, Some(file)) => out.extend(dictionary(Path::new(file))?),
            (Some(PathSource::Profile) | None, None) => {
                return Err(CliError::Usage(format!(
                    "--paths item `{item}` is neither `/path`, `dictionary:STEM` nor `@FILE`"
                )));
            }
        }
    }
    Ok(out)
}

fn dictionary(path: &Path) -> Result<Vec<String>, CliError> {
    let loaded = hopquy_case::load_path_dictionary(path).map_err(|diagnostics| {
        CliError::Usage(format!(
            "{}: not a usable path dictionary:\n{}",
            path.display(),
            hopquy_case::render_all(&diagnostics)
        ))
    })?;
    Ok(loaded.dictionary.path.into_iter().map(|entry| entry.path).collect())
}

fn print_human(target: &str, report: &RtspReport) {
    let none = "-".to_owned();
    outln!(
        "{target}: RTSP server {}",
        report.server.as_deref().unwrap_or("(no Server header)")
    );
    outln!(
        "  methods: {}",
        if report.public.is_empty() {
            none.clone()
        } else {
            report.public.join(", ")
        }
    );
    outln!(
        "  auth: {}",
        if report.auth.is_empty() {
            none.clone()
        } else {
            report.auth.join(", ")
        }
    );
    if report.accepts_any_path {
        outln!("  ACCEPTS ANY PATH: a random path was served, so the routes below prove nothing");
    }
    let refuses_unknown_paths = report.random_path.as_ref().is_some_and(|r| r.status == Some(401));
    if refuses_unknown_paths && report.routes.iter().all(|r| r.authenticated_status.is_none()) {
        outln!("  the server answers 401 even to a random path: give --user to tell real routes apart");
    }
    outln!("  routes ({} of {} paths):", report.routes.len(), report.paths_tried);
    for route in &report.routes {
        let status = |s: Option<u16>| s.map_or_else(|| "-".to_owned(), |s| s.to_string());
        let open = if report.open_routes.contains(&route.path) {
            "  OPEN (no authentication)"
        } else {
            ""
        };
        outln!(
            "    {}  anonymous {}  authenticated {}{open}",
            route.path,
            status(route.status),
            status(route.authenticated_status)
        );
    }
    match report.basic_accepted {
        Some(true) => outln!("  Basic accepted: the password travels readable (base64) on the wire"),
        Some(false) => outln!("  Basic offered but refused"),
        None if report.basic_offered => outln!("  Basic offered (give --user to test whether it is accepted)"),
        None => {}
    }
    for error in &report.errors {
        outln!("  error on {}: {}", error.path, error.error);
    }
}
