//! `ports`: TCP connect sweep compared with the manufacturer's declared open ports (IXIT) and
//! the profile's list of risky (debug / vendor back-door) ports.

use std::collections::BTreeSet;

use hopquy_case::observations::PortsObservations;
use hopquy_case::{PortSet, PortSetName, PortSweep, PortsStep, ProfileFile};
use hopquy_probe::{Device, Limits, Recorder};
use serde_json::Value;

use super::{ActionError, ActionOutput, RunContext, observed_as, opt_u64};
use crate::run::Target;

/// Ports IP cameras are known to open (web, RTSP, vendor SDKs, debug consoles); a quick sweep
/// for labs that cannot afford 65535 connections on a fragile device.
pub const COMMON_CAMERA_PORTS: &[u16] = &[
    21, 22, 23, 80, 81, 322, 443, 554, 1935, 2020, 5000, 5554, 6789, 7001, 8000, 8080, 8081, 8322, 8443, 8554, 8899,
    9000, 9527, 9530, 10554, 34567, 34599, 37777, 37778, 49152,
];

/// What a sweep covered, for the step's `sweep_scope` observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SweepScope {
    /// Every port, 1–65535.
    Full,
    /// Every port was asked for, but the target file narrowed it (`port_sweep = "profile"`).
    Profile,
    /// The step names its own list.
    List,
}

impl SweepScope {
    pub fn as_str(self) -> &'static str {
        match self {
            SweepScope::Full => "full",
            SweepScope::Profile => "profile",
            SweepScope::List => "list",
        }
    }
}

/// The ports a step's `ports` sweeps on this target, the target's `port_sweep` and
/// `exclude_ports` applied. The plan's estimate uses the same list, so what it announces is
/// what runs.
pub fn sweep_list(
    ports: Option<&PortSet>,
    tctx: &Value,
    target: &Target,
    profile: &ProfileFile,
) -> Result<(Vec<u16>, SweepScope), ActionError> {
    let declared = declared_ports(target);
    let named = |name: PortSetName| -> Result<(Vec<u16>, SweepScope), ActionError> {
        Ok(match name {
            PortSetName::All => match target.port_sweep {
                PortSweep::Full => ((1..=65535).collect(), SweepScope::Full),
                PortSweep::Profile => {
                    let narrowed: BTreeSet<u16> = declared
                        .iter()
                        .flatten()
                        .copied()
                        .chain(target.ports.values().copied())
                        .chain(profile.ports.values().copied())
                        .chain(profile.risky_ports.iter().flatten().copied())
                        .chain(COMMON_CAMERA_PORTS.iter().copied())
                        .filter(|p| *p > 0)
                        .collect();
                    (narrowed.into_iter().collect(), SweepScope::Profile)
                }
            },
            PortSetName::CommonCamera => (COMMON_CAMERA_PORTS.to_vec(), SweepScope::List),
            PortSetName::Declared => (
                declared
                    .clone()
                    .ok_or_else(|| ActionError::NotApplicable("the target declares no open_tcp_ports to check".into()))?
                    .into_iter()
                    .collect(),
                SweepScope::List,
            ),
        })
    };
    let (mut list, scope) = match ports {
        None => named(PortSetName::All)?,
        Some(PortSet::Named(name)) => named(*name)?,
        Some(PortSet::List(ports)) => (ports.clone(), SweepScope::List),
        Some(PortSet::Template(template)) => match crate::template::resolve_str(template, tctx)? {
            Value::String(s) => match PortSetName::parse(&s) {
                Some(name) => named(name)?,
                None => (
                    hopquy_probe::tcp::parse_port_list(&s).map_err(|e| ActionError::Definition(e.to_string()))?,
                    SweepScope::List,
                ),
            },
            Value::Array(items) => (
                items
                    .iter()
                    .map(|v| v.as_u64().and_then(|p| u16::try_from(p).ok()).filter(|p| *p > 0))
                    .collect::<Option<Vec<u16>>>()
                    .ok_or_else(|| ActionError::Definition("`ports` list must hold port numbers 1–65535".into()))?,
                SweepScope::List,
            ),
            other => return Err(ActionError::Definition(format!("`ports` cannot be {other}"))),
        },
    };
    list.retain(|p| !target.exclude_ports.contains(p));
    Ok((list, scope))
}

fn declared_ports(target: &Target) -> Option<BTreeSet<u16>> {
    target
        .declared
        .get("open_tcp_ports")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_u64)
                .filter_map(|p| u16::try_from(p).ok())
                .collect()
        })
}

pub async fn run(
    step: &PortsStep,
    ctx: &RunContext<'_>,
    tctx: &Value,
    rec: &Recorder,
) -> Result<ActionOutput, ActionError> {
    let declared = declared_ports(ctx.target);
    let (ports, scope) = sweep_list(step.ports.as_ref(), tctx, ctx.target, ctx.profile)?;
    let concurrency = opt_u64(&step.options.concurrency, tctx, "options.concurrency")?
        .map(|n| n.clamp(1, 1024) as usize)
        .unwrap_or(64);
    // The sweep gets its own connection cap: the device's cap (default 4) is sized for
    // stateful sessions; a connect-and-close sweep at that width would take hours on a
    // filtering device. `options.concurrency` lowers it for fragile firmware.
    let limits = Limits {
        max_connections: concurrency,
        ..ctx.device.limits().clone()
    };
    let sweep_device = Device::new(ctx.device.host().to_owned(), limits);
    let scan = hopquy_probe::tcp::connect_scan(&sweep_device, &ports, concurrency, rec).await?;

    let open_ports: BTreeSet<u16> = scan.open.iter().map(|p| p.port).collect();
    let (undeclared, declared_closed) = match &declared {
        Some(d) => (
            Some(open_ports.difference(d).copied().collect()),
            // Only ports that were actually tried can be reported closed.
            Some(
                d.iter()
                    .filter(|p| ports.contains(p) && !open_ports.contains(p))
                    .copied()
                    .collect(),
            ),
        ),
        None => (None, None),
    };
    let risky: Vec<u16> = ctx
        .profile
        .risky_ports
        .as_ref()
        .map(|r| r.iter().filter(|p| open_ports.contains(p)).copied().collect())
        .unwrap_or_default();
    let mut obs = observed_as::<PortsObservations>(scan.observations())?;
    obs.open_ports = Some(open_ports.into_iter().collect());
    obs.undeclared = Some(undeclared);
    obs.declared_closed = Some(declared_closed);
    obs.declared_given = Some(declared.is_some());
    obs.risky_open = Some(risky);
    obs.ports_tried = Some(ports.len() as u64);
    obs.sweep_scope = Some(scope.as_str().to_owned());
    obs.excluded_ports = Some(ctx.target.exclude_ports.iter().copied().collect());
    Ok(ActionOutput::observed(obs))
}
