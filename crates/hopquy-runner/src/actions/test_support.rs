//! Shared by the action modules' unit tests.

use std::collections::BTreeMap;
use std::sync::Arc;

use hopquy_case::ProfileFile;
use hopquy_probe::{Device, Limits, Redactor};

use super::RunContext;
use crate::run::{Operator, OperatorAnswer, OperatorRequest, Target};

/// Answers nothing: operator and document steps become inconclusive.
pub struct NoOperator;

impl Operator for NoOperator {
    fn ask(&self, _request: &OperatorRequest) -> Option<OperatorAnswer> {
        None
    }
}

/// A target on 127.0.0.1 logging in as `admin` with `password`, with the named ports given.
pub fn target(password: &str, ports: &[(&str, u16)]) -> Target {
    Target {
        device: Default::default(),
        host: "127.0.0.1".into(),
        username: "admin".into(),
        password: password.into(),
        ports: ports.iter().map(|(name, port)| ((*name).to_owned(), *port)).collect(),
        declared: serde_json::Value::Null,
        limits: Limits::default(),
        web: Default::default(),
        port_sweep: Default::default(),
        exclude_ports: Default::default(),
    }
}

/// A run context on 127.0.0.1 with no operator, an empty redactor and destructive steps
/// refused: what every action test needs but its limits, profile, target and dictionaries.
pub fn context<'a>(
    limits: Limits,
    profile: &'a ProfileFile,
    target: &'a Target,
    credential_dictionaries: &'a BTreeMap<String, Vec<(String, String)>>,
    path_dictionaries: &'a BTreeMap<String, Vec<String>>,
) -> RunContext<'a> {
    RunContext::new(
        Device::new("127.0.0.1", limits),
        profile,
        target,
        credential_dictionaries,
        path_dictionaries,
        Arc::new(NoOperator),
        Arc::new(Redactor::new()),
        false,
    )
}

/// The typed action of a step written in TOML.
pub(crate) fn action(text: &str) -> hopquy_case::StepAction {
    let step: hopquy_case::Step = toml::from_str(text).unwrap_or_else(|error| panic!("{error}\n{text}"));
    step.action.into_inner()
}
