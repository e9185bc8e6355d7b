//! Semantic validation of a parsed case: what serde's types cannot say (which keys an action
//! accepts, operator keys, template references, step order, kinds and fixtures). Every
//! problem found is reported, each at the span of the offending key or value.

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

use crate::actions::{self, ActionSpec, ParamKind, ParamSpec};
use crate::doc;
use crate::error::{Diagnostic, SourceFile, did_you_mean_hint, one_of};
use crate::model::{
    CaseFile, CaseKind, DECLARED_FIELDS, Effect, Expectation, LabNetUse, MAX_DECLARED_PASSWORD_LENGTH, Measures,
    Otherwise, PASSWORD_CLASSES, ProfileFile, StepFile,
};
use crate::names::{is_identifier, is_kebab, is_sim_fixture};
use crate::templates::{TARGET_FIELDS, TemplateSource, scan_templates};
use crate::typed::{
    AnswerKind, Case, Credential, HttpAuth, LoginOptions, LoginSurface, OnError, OnvifAuth, OnvifLoginAuth,
    PasswordPolicyOptions, PortSetName, Step, StepAction, lockout_measurements,
};

/// The comparison keys of an expectation; exactly one per `[[steps.expect]]`.
pub const EXPECT_OPERATORS: &[&str] = &[
    "equals",
    "not_equals",
    "one_of",
    "none_of",
    "less_than",
    "at_most",
    "greater_than",
    "at_least",
    "contains",
    "not_contains",
    "matches",
    "not_matches",
    "empty",
    "exists",
    "version_below",
    "version_at_least",
];

pub const AUTH_VALUES: &[&str] = HttpAuth::NAMES;
pub const ONVIF_AUTH_VALUES: &[&str] = OnvifAuth::NAMES;
/// Where `login` and `recover` authenticate.
pub const SURFACES: &[&str] = LoginSurface::NAMES;
/// `auth` of an `onvif` login: the two ways an ONVIF device takes credentials.
pub const ONVIF_LOGIN_AUTH_VALUES: &[&str] = OnvifLoginAuth::NAMES;
/// Options of the `login` action (its lockout-aware pacing).
pub const LOGIN_OPTIONS: &[&str] = LoginOptions::KEYS;
pub const CREDENTIAL_SETS: &[&str] = Credential::NAMES;
pub const ANSWER_KINDS: &[&str] = AnswerKind::NAMES;
pub const ON_ERROR_VERDICTS: &[&str] = OnError::NAMES;
pub const PORT_SETS: &[&str] = PortSetName::NAMES;
/// Prefix of a credential set or path list read from `test-cases/data/<stem>.toml`.
pub use crate::typed::DICTIONARY_PREFIX;
use crate::typed::FACTORY_DEFAULT;

/// Keys of a `password-policy` step's `options` table.
pub const PASSWORD_POLICY_OPTIONS: &[&str] = PasswordPolicyOptions::KEYS;

/// Expectation keys whose strings the runner uses verbatim (no template substitution).
const LITERAL_EXPECTATION_KEYS: &[&str] = &["that", "because", "matches", "not_matches", "version_from"];

/// Profile operations the case uses that `profile` does not define: its `needs` plus the
/// `op` of its http and login steps (login defaults to `login-check`). A non-empty result
/// makes the case not_applicable on that device family.
pub fn missing_ops(case: &Case, profile: &ProfileFile) -> Vec<String> {
    let mut missing = BTreeSet::new();
    for op in required_ops(case) {
        if !profile.ops.contains_key(&op) {
            missing.insert(op);
        }
    }
    missing.into_iter().collect()
}

/// Every profile operation a case needs, sorted.
pub fn required_ops(case: &Case) -> Vec<String> {
    let mut ops: BTreeSet<String> = case.needs.iter().map(|need| need.get_ref().clone()).collect();
    for step in &case.steps {
        match step.action.get_ref() {
            StepAction::Http(http) => {
                if let Some(op) = &http.op {
                    ops.insert(op.get_ref().clone());
                }
            }
            // Only the HTTP surface logs in through a profile operation.
            StepAction::Login(login) if login.target.surface() == LoginSurface::Http => {
                let op = login
                    .target
                    .op
                    .as_ref()
                    .map_or("login-check", |op| op.get_ref().as_str());
                ops.insert(op.to_string());
            }
            StepAction::PasswordPolicy(_) => {
                ops.insert("create-user".to_string());
                ops.insert("delete-user".to_string());
            }
            _ => {}
        }
    }
    ops.into_iter().collect()
}

/// A value read from the spanned tree, for checks on `toml::Value`-typed parameters.
enum Scalar<'a> {
    Integer(i64),
    Float(f64),
    String(&'a str),
    Other(&'static str),
}

fn scalar<'a>(value: &'a DeValue<'_>) -> Scalar<'a> {
    match value {
        DeValue::Integer(integer) => i64::from_str_radix(integer.as_str(), integer.radix())
            .map_or(Scalar::Other("integer out of range"), Scalar::Integer),
        DeValue::Float(float) => float.as_str().parse().map_or(Scalar::Other("float"), Scalar::Float),
        DeValue::String(text) => Scalar::String(text),
        other => Scalar::Other(other.type_str()),
    }
}

/// Longest `request_target`; the probe refuses longer ones (hopquy-probe `MAX_REQUEST_TARGET`).
pub const MAX_REQUEST_TARGET: usize = 2048;
/// Headers a `request_target` step may not set: the probe's own, framing, credentials.
const RAW_TARGET_RESERVED_HEADERS: &[&str] = &[
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "authorization",
    "proxy-authorization",
];

/// Why `target` cannot be a `request_target`, or `None`: the rule of the probe's raw sender
/// (hopquy-probe `request_target_problem`), so a case that checks is a request that is sent.
pub fn request_target_problem(target: &str) -> Option<String> {
    if target.is_empty() {
        return Some("it is empty".into());
    }
    if target.len() > MAX_REQUEST_TARGET {
        return Some(format!("{} bytes, more than {MAX_REQUEST_TARGET}", target.len()));
    }
    if let Some(byte) = target.bytes().find(|b| *b <= 0x20 || *b == 0x7f) {
        return Some(format!(
            "it holds byte 0x{byte:02x}, which would end or split the request line"
        ));
    }
    if target.contains("://") {
        return Some("it holds `://`: an absolute-form target could make the device fetch from another host".into());
    }
    None
}

/// A value written as one `${…}`. Whether the reference is valid is check_templates' job;
/// here it only matters that the value will be substituted, so its type is not yet known.
fn is_whole_template(text: &str) -> bool {
    text.starts_with("${") && text.ends_with('}') && text.matches("${").count() == 1
}

/// Checks one case file whose stem is `stem`: its id must equal it, then [`validate_case`].
pub(crate) fn check_case_file(
    file: SourceFile<'_>,
    root: &DeTable<'_>,
    case: &CaseFile,
    stem: &str,
) -> Vec<Diagnostic> {
    let mut diagnostics = validate_case(file, root, case);
    if case.id.get_ref() != stem {
        diagnostics.insert(
            0,
            file.error_at(
                case.id.span(),
                format!("case id `{}` differs from the file name", case.id.get_ref()),
            )
            .with_expected(format!("`{stem}` (the file stem)"))
            .with_hint(format!(
                "set `id = \"{stem}\"` or rename the file to `{}.toml`",
                case.id.get_ref()
            )),
        );
    }
    diagnostics
}

/// Validates one case. `root` is the spanned tree of the same text `case` was parsed from.
pub(crate) fn validate_case(file: SourceFile<'_>, root: &DeTable<'_>, case: &CaseFile) -> Vec<Diagnostic> {
    let mut validator = CaseValidator {
        file,
        root,
        case,
        diagnostics: Vec::new(),
    };
    validator.run();
    let mut diagnostics = validator.diagnostics;
    // Checks run by topic; the author reads the file top to bottom.
    diagnostics.sort_by_key(|diagnostic| (diagnostic.line, diagnostic.column));
    diagnostics
}

struct CaseValidator<'a, 'i> {
    file: SourceFile<'a>,
    root: &'a DeTable<'i>,
    case: &'a CaseFile,
    diagnostics: Vec<Diagnostic>,
}

impl<'a, 'i> CaseValidator<'a, 'i> {
    fn run(&mut self) {
        self.check_top_level();
        self.check_params();
        self.check_cves();
        self.check_sim();
        self.check_steps();
    }

    fn key_span(&self, key: &str) -> Range<usize> {
        doc::get(self.root, key).map_or(0..0, |(key, _)| key.span())
    }

    fn value_span(&self, key: &str) -> Range<usize> {
        doc::get(self.root, key).map_or(0..0, |(_, value)| value.span())
    }

    fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    fn check_top_level(&mut self) {
        let case = self.case;
        if case.clauses.is_empty() {
            let span = self.key_span("clauses");
            self.push(
                self.file
                    .error_at(span, "the case maps to no clause")
                    .with_hint("add e.g. `qcvn135-2024 = [\"2.1.5\"]` under [clauses]"),
            );
        }
        let clause_table = self.root.get("clauses").and_then(doc::as_table);
        for (regulation, clause_ids) in &case.clauses {
            if clause_ids.is_empty() {
                let span = clause_table
                    .and_then(|table| doc::get(table, regulation))
                    .map_or(0..0, |(key, _)| key.span());
                self.push(self.file.error_at(span, format!("no clause listed for `{regulation}`")));
            }
        }
        for need in &case.needs {
            if !is_kebab(need.get_ref()) {
                self.push(
                    self.file
                        .error_at(
                            need.span(),
                            format!("`{}` is not a profile operation name", need.get_ref()),
                        )
                        .with_expected("a lowercase-kebab name such as `login-check`"),
                );
            }
        }
        if case.measures == Some(Measures::Lockout) {
            let span = self.value_span("measures");
            if case.effect != Effect::LocksAccount {
                self.push(
                    self.file
                        .error_at(span.clone(), "a case that measures the lockout must lock the account")
                        .with_hint("set `effect = \"locks-account\"`: its bursts of wrong passwords lock the device"),
                );
            }
            // Steps with other problems (reported below) measure nothing.
            let typed: Vec<Step> = case
                .steps
                .iter()
                .filter_map(|step| Step::from_file(step).ok())
                .collect();
            if lockout_measurements(&typed).is_empty() {
                self.push(
                    self.file
                        .error_at(span, "`measures = \"lockout\"` but no step measures a lock")
                        .with_expected("a `login` with `credentials = \"wrong-password\"`, then a `login` with the target's credentials and a `recover`, all on the same `surface`"),
                );
            }
        }
        let reads_lab_net = case.steps.iter().any(|step| step.action.get_ref() == "lab-net");
        match case.lab_net {
            Some(LabNetUse::Required) if !reads_lab_net => {
                let span = self.value_span("lab_net");
                self.push(
                    self.file
                        .error_at(span, "`lab_net = \"required\"` but no step reads the lab network")
                        .with_expected("a step with `action = \"lab-net\"`"),
                );
            }
            Some(LabNetUse::Replaced) if reads_lab_net => {
                let span = self.value_span("lab_net");
                self.push(
                    self.file
                        .error_at(span, "a case the lab network replaces cannot read the lab network")
                        .with_hint("a case with a `lab-net` step is `lab_net = \"required\"`"),
                );
            }
            None if reads_lab_net => {
                let span = self.key_span("steps");
                self.push(
                    self.file
                        .error_at(span, "a case with a `lab-net` step must say `lab_net = \"required\"`")
                        .with_hint(
                            "without it the case would run, and be inconclusive, in every run without `--lab-net`",
                        ),
                );
            }
            _ => {}
        }
        if case.steps.is_empty() {
            let span = self.key_span("steps");
            self.push(
                self.file
                    .error_at(span, "the case has no steps")
                    .with_hint("add at least one [[steps]] table"),
            );
        }
        let interactive = case
            .steps
            .iter()
            .filter(|step| matches!(step.action.get_ref().as_str(), "operator" | "document"))
            .count();
        match case.kind {
            CaseKind::Automated => {
                for step in &case.steps {
                    let action = step.action.get_ref();
                    if action == "operator" || action == "document" {
                        self.push(
                            self.file
                                .error_at(
                                    step.action.span(),
                                    format!("an automated case cannot contain a `{action}` step"),
                                )
                                .with_hint("set `kind = \"operator\"` (or \"document\"), or remove the step"),
                        );
                    }
                }
            }
            CaseKind::Operator | CaseKind::Document if interactive == 0 && !case.steps.is_empty() => {
                let span = self.value_span("kind");
                self.push(
                    self.file
                        .error_at(
                            span,
                            format!(
                                "a `{}` case needs at least one operator or document step",
                                case.kind.as_str()
                            ),
                        )
                        .with_hint(
                            "add a step with `action = \"operator\"` or `\"document\"`, or set `kind = \"automated\"`",
                        ),
                );
            }
            _ => {}
        }
    }

    fn check_params(&mut self) {
        for (name, param) in &self.case.params {
            if !is_identifier(name) {
                let span = self
                    .root
                    .get("params")
                    .and_then(doc::as_table)
                    .and_then(|table| doc::get(table, name))
                    .map_or(0..0, |(key, _)| key.span());
                self.push(
                    self.file
                        .error_at(span, format!("parameter name `{name}` is not a plain name"))
                        .with_expected("letters, digits, `-` or `_`, starting with a letter"),
                );
            }
            if let Some(declared) = &param.declared
                && !DECLARED_FIELDS.contains(&declared.get_ref().as_str())
            {
                self.push(
                    self.file
                        .error_at(
                            declared.span(),
                            format!(
                                "`{}` is not a field of the target's [declared] table",
                                declared.get_ref()
                            ),
                        )
                        .with_expected(one_of(DECLARED_FIELDS.iter().copied()))
                        .with_optional_hint(did_you_mean_hint(declared.get_ref(), DECLARED_FIELDS.iter().copied())),
                );
            }
        }
    }

    fn check_sim(&mut self) {
        let case = self.case;
        match &case.sim {
            None if case.kind == CaseKind::Automated => {
                let span = self.value_span("kind");
                self.push(
                    self.file
                        .error_at(
                            span,
                            "an automated case needs a [sim] table naming simulator setups it must pass and fail",
                        )
                        .with_hint("add `[sim]` with `pass = [\"hardened\"]` and `fail = [\"hardened+<flaw>\"]`"),
                );
            }
            None => {}
            Some(sim) => {
                let sim_table = self.root.get("sim").and_then(doc::as_table);
                for (label, list) in [("pass", &sim.pass), ("fail", &sim.fail)] {
                    if list.is_empty() && case.kind == CaseKind::Automated {
                        let span = sim_table
                            .and_then(|table| doc::get(table, label))
                            .map_or_else(|| self.key_span("sim"), |(key, _)| key.span());
                        self.push(
                            self.file
                                .error_at(span, format!("`sim.{label}` is empty"))
                                .with_expected("at least one simulator setup such as `hardened` or `legacy`"),
                        );
                    }
                    for fixture in list {
                        if !is_sim_fixture(fixture.get_ref()) {
                            self.push(
                                self.file
                                    .error_at(
                                        fixture.span(),
                                        format!("`{}` is not a simulator setup", fixture.get_ref()),
                                    )
                                    .with_expected(
                                        "`personality(+flaw|-flaw)*` in lowercase-kebab, e.g. `hardened+telnet-open`",
                                    ),
                            );
                        }
                    }
                }
            }
        }
    }

    fn check_steps(&mut self) {
        let tables = doc::steps(self.root);
        let items: Vec<&Spanned<DeValue<'i>>> = self
            .root
            .get("steps")
            .and_then(doc::as_array)
            .map(|items| items.iter().collect())
            .unwrap_or_default();
        let mut first_seen: BTreeMap<&str, Range<usize>> = BTreeMap::new();
        for (index, step) in self.case.steps.iter().enumerate() {
            let id = step.id.get_ref().as_str();
            let label = format!("step \"{id}\"");
            if !is_identifier(id) {
                self.push(
                    self.file
                        .error_at(step.id.span(), format!("step id `{id}` is not a plain name"))
                        .with_expected("letters, digits, `-` or `_`, starting with a letter"),
                );
            }
            if let Some(first) = first_seen.get(id) {
                let first_location = self.file.location_of(first.start);
                self.push(
                    self.file
                        .error_at(step.id.span(), format!("duplicate step id `{id}`"))
                        .with_note(format!("first used at {first_location}"))
                        .with_hint("step ids must be unique within a case; rename one"),
                );
            } else {
                first_seen.insert(id, step.id.span());
            }
            let header_span = items.get(index).map_or_else(|| step.id.span(), |item| item.span());
            let Some(spec) = actions::action(step.action.get_ref()) else {
                let names = actions::ACTIONS.iter().map(|spec| spec.name);
                self.push(
                    self.file
                        .error_at(
                            step.action.span(),
                            format!("unknown action `{}` in {label}", step.action.get_ref()),
                        )
                        .with_expected(one_of(names.clone()))
                        .with_optional_hint(did_you_mean_hint(step.action.get_ref(), names)),
                );
                continue;
            };
            if let Some(table) = tables.get(index) {
                self.check_step_keys(spec, table, &label);
                self.check_templates(index, table);
            }
            for required in spec.required_params() {
                let present = tables
                    .get(index)
                    .is_some_and(|table| table.get(required.name).is_some());
                if !present {
                    self.push(
                        self.file
                            .error_at(
                                header_span.clone(),
                                format!(
                                    "missing parameter `{}` for action `{}` in {label}",
                                    required.name, spec.name
                                ),
                            )
                            .with_expected(format!("`{}`: {}", required.name, required.description))
                            .with_hint(format!("add `{} = …` to this step", required.name)),
                    );
                }
            }
            self.check_step_rules(spec, step, tables.get(index).copied(), &label, header_span);
            self.check_expectations(spec, step, tables.get(index).copied(), &label);
        }
    }

    fn check_step_keys(&mut self, spec: &ActionSpec, table: &DeTable<'i>, label: &str) {
        for (key, value) in table.iter() {
            let name = key.get_ref().as_ref();
            match spec.param(name) {
                Some(param) => self.check_param_value(param, value, label),
                None => {
                    let owners = actions::actions_accepting(name);
                    let hint = if owners.is_empty() {
                        actions::alias_hint(name).or_else(|| did_you_mean_hint(name, spec.allowed_keys()))
                    } else {
                        let owners = owners.iter().map(|owner| format!("`{owner}`")).collect::<Vec<_>>();
                        Some(format!(
                            "`{name}` is a parameter of action{} {}",
                            if owners.len() > 1 { "s" } else { "" },
                            owners.join(", ")
                        ))
                    };
                    self.push(
                        self.file
                            .error_at(
                                key.span(),
                                format!("`{name}` is not a parameter of action `{}` ({label})", spec.name),
                            )
                            .with_expected(one_of(spec.allowed_keys()))
                            .with_optional_hint(hint),
                    );
                }
            }
        }
    }

    fn invalid_value(&self, span: Range<usize>, found: &str, param: &ParamSpec, label: &str) -> Diagnostic {
        self.file
            .error_at(span, format!("invalid value {found} for `{}` in {label}", param.name))
    }

    fn check_one_of(&mut self, value: &Spanned<DeValue<'i>>, param: &ParamSpec, label: &str, allowed: &[&str]) {
        if let DeValue::String(text) = value.get_ref()
            && !allowed.contains(&text.as_ref())
        {
            let diagnostic = self
                .invalid_value(value.span(), &format!("`{text}`"), param, label)
                .with_expected(one_of(allowed.iter().copied()))
                .with_optional_hint(did_you_mean_hint(text, allowed.iter().copied()));
            self.push(diagnostic);
        }
    }

    fn check_param_value(&mut self, param: &ParamSpec, value: &Spanned<DeValue<'i>>, label: &str) {
        let span = value.span();
        match param.kind {
            ParamKind::Auth => self.check_one_of(value, param, label, AUTH_VALUES),
            ParamKind::OnvifAuth => self.check_one_of(value, param, label, ONVIF_AUTH_VALUES),
            ParamKind::Answer => self.check_one_of(value, param, label, ANSWER_KINDS),
            ParamKind::LabNetOp => self.check_one_of(value, param, label, crate::typed::LabNetOp::NAMES),
            ParamKind::LabNetWait => match scalar(value.get_ref()) {
                Scalar::Integer(amount) if (0..=crate::typed::MAX_LAB_NET_WAIT_S as i64).contains(&amount) => {}
                Scalar::String(text) if is_whole_template(text) => {}
                _ => {
                    let found = describe(value.get_ref());
                    let diagnostic = self.invalid_value(span, &found, param, label).with_expected(format!(
                        "whole seconds from 0 to {}, or a template such as \"${{params.reconnect_s}}\"",
                        crate::typed::MAX_LAB_NET_WAIT_S
                    ));
                    self.push(diagnostic);
                }
            },
            ParamKind::OnError => self.check_one_of(value, param, label, ON_ERROR_VERDICTS),
            ParamKind::Surface => self.check_one_of(value, param, label, SURFACES),
            // Which of these applies depends on `surface`: checked with the step's rules.
            ParamKind::LoginOp | ParamKind::LoginAuth => {}
            ParamKind::ProfileOp => {
                if let Scalar::String(text) = scalar(value.get_ref())
                    && !is_kebab(text)
                {
                    let diagnostic = self
                        .invalid_value(span, &format!("`{text}`"), param, label)
                        .with_expected("a profile operation name in lowercase-kebab, e.g. `login-check`");
                    self.push(diagnostic);
                }
            }
            ParamKind::OnvifOperation => {
                if let Scalar::String(text) = scalar(value.get_ref()) {
                    let pascal = text.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                        && text.chars().all(|c| c.is_ascii_alphanumeric());
                    // `sweep`: the anonymous read sweep over every operation.
                    if !pascal && text != "sweep" {
                        let diagnostic = self
                            .invalid_value(span, &format!("`{text}`"), param, label)
                            .with_expected("an ONVIF operation name such as `GetDeviceInformation`, or `sweep`");
                        self.push(diagnostic);
                    }
                }
            }
            ParamKind::HttpMethod => {
                if let Scalar::String(text) = scalar(value.get_ref())
                    && (text.is_empty() || !text.chars().all(|c| c.is_ascii_uppercase()))
                {
                    let diagnostic = self
                        .invalid_value(span, &format!("`{text}`"), param, label)
                        .with_expected("an upper-case HTTP method such as `GET`, `POST`, `PUT`");
                    self.push(diagnostic);
                }
            }
            ParamKind::HttpPath => {
                if let Scalar::String(text) = scalar(value.get_ref())
                    && !(text.starts_with('/') || text.starts_with("${"))
                {
                    let diagnostic = self
                        .invalid_value(span, &format!("`{text}`"), param, label)
                        .with_expected("a path starting with `/`")
                        .with_hint(format!("write `/{text}`"));
                    self.push(diagnostic);
                }
            }
            ParamKind::RequestTarget => {
                if let Scalar::String(text) = scalar(value.get_ref())
                    && let Some(problem) = request_target_problem(text)
                {
                    let diagnostic = self
                        .invalid_value(span, &format!("`{text}` ({problem})"), param, label)
                        .with_expected(format!(
                            "1–{MAX_REQUEST_TARGET} bytes without spaces, control characters or `://`"
                        ))
                        .with_hint(
                            "write the target as the device must receive it, e.g. `../../etc/passwd`; the host is always the target's",
                        );
                    self.push(diagnostic);
                }
            }
            ParamKind::SecretPattern => {
                if let Scalar::String(text) = scalar(value.get_ref()) {
                    let problem = match regex::bytes::Regex::new(text) {
                        Err(error) => Some(
                            error
                                .to_string()
                                .lines()
                                .last()
                                .unwrap_or("invalid regular expression")
                                .trim()
                                .to_owned(),
                        ),
                        Ok(re) if re.captures_len() < 2 => {
                            Some("it has no capture group, so nothing would be redacted".to_owned())
                        }
                        Ok(_) => None,
                    };
                    if let Some(problem) = problem {
                        let diagnostic = self
                            .invalid_value(span, &format!("`{text}` ({problem})"), param, label)
                            .with_expected("a regular expression with a capture group around each secret")
                            .with_hint(r#"e.g. '"pwd"\s*:\s*"((?:[^"\\]|\\.)*)' (a literal TOML string)"#);
                        self.push(diagnostic);
                    }
                }
            }
            ParamKind::Headers => {
                if let DeValue::Table(headers) = value.get_ref() {
                    for (name, header_value) in headers.iter() {
                        let valid_name = !name.get_ref().is_empty()
                            && name
                                .get_ref()
                                .chars()
                                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
                        if !valid_name {
                            let diagnostic = self
                                .file
                                .error_at(
                                    name.span(),
                                    format!("`{}` is not a valid HTTP header name ({label})", name.get_ref()),
                                )
                                .with_expected("letters, digits and `-`");
                            self.push(diagnostic);
                        }
                        if let Some(text) = header_value.get_ref().as_str()
                            && (text.contains('\r') || text.contains('\n'))
                        {
                            let diagnostic = self
                                .file
                                .error_at(
                                    header_value.span(),
                                    format!("header `{}` contains a line break ({label})", name.get_ref()),
                                )
                                .with_expected("a single-line value");
                            self.push(diagnostic);
                        }
                    }
                }
            }
            ParamKind::Port => match scalar(value.get_ref()) {
                Scalar::Integer(port) if (1..=65535).contains(&port) => {}
                Scalar::String(text) if is_kebab(text) || is_whole_template(text) => {}
                Scalar::Integer(port) => {
                    let diagnostic = self
                        .invalid_value(span, &format!("`{port}`"), param, label)
                        .with_expected("a port number from 1 to 65535, or a named port such as `http`");
                    self.push(diagnostic);
                }
                Scalar::String(text) => {
                    let diagnostic = self
                        .invalid_value(span, &format!("`{text}`"), param, label)
                        .with_expected("a named port such as `http`, `rtsp` (lowercase), or a number");
                    self.push(diagnostic);
                }
                Scalar::Float(_) | Scalar::Other(_) => {
                    let diagnostic = self
                        .invalid_value(span, &format!("of type {}", value.get_ref().type_str()), param, label)
                        .with_expected("a port number or a port name");
                    self.push(diagnostic);
                }
            },
            ParamKind::Credentials => {
                if let Scalar::String(text) = scalar(value.get_ref()) {
                    let valid = CREDENTIAL_SETS.contains(&text)
                        || text == FACTORY_DEFAULT
                        || text.strip_prefix(DICTIONARY_PREFIX).is_some_and(is_kebab);
                    if !valid {
                        let mut candidates: Vec<&str> = CREDENTIAL_SETS.to_vec();
                        candidates.push("dictionary:default-credentials");
                        let diagnostic = self
                            .invalid_value(span, &format!("`{text}`"), param, label)
                            .with_expected("one of: none, target, wrong-password, unknown-user, factory-default, dictionary:<file stem in test-cases/data>")
                            .with_optional_hint(did_you_mean_hint(text, candidates));
                        self.push(diagnostic);
                    }
                }
            }
            ParamKind::Count => match scalar(value.get_ref()) {
                Scalar::Integer(count) if count >= 1 => {}
                Scalar::String(text) if is_whole_template(text) => {}
                _ => {
                    let found = describe(value.get_ref());
                    let diagnostic = self
                        .invalid_value(span, &found, param, label)
                        .with_expected("an integer ≥ 1, or a template such as \"${params.attempts}\"");
                    self.push(diagnostic);
                }
            },
            ParamKind::Duration => match scalar(value.get_ref()) {
                Scalar::Integer(amount) if amount >= 0 => {}
                Scalar::Float(amount) if amount >= 0.0 && amount.is_finite() => {}
                Scalar::String(text) if is_whole_template(text) => {}
                _ => {
                    let found = describe(value.get_ref());
                    let diagnostic = self
                        .invalid_value(span, &found, param, label)
                        .with_expected("a number ≥ 0, or a template such as \"${params.duration_s}\"");
                    self.push(diagnostic);
                }
            },
            ParamKind::PortSet => match value.get_ref() {
                DeValue::String(text) if PORT_SETS.contains(&text.as_ref()) || is_whole_template(text) => {}
                DeValue::Array(items) if !items.is_empty() => {
                    for item in items.iter() {
                        let valid =
                            matches!(scalar(item.get_ref()), Scalar::Integer(port) if (1..=65535).contains(&port));
                        if !valid {
                            let found = describe(item.get_ref());
                            let diagnostic = self
                                .invalid_value(item.span(), &found, param, label)
                                .with_expected("port numbers from 1 to 65535");
                            self.push(diagnostic);
                        }
                    }
                }
                other => {
                    let found = describe(other);
                    let hint = other
                        .as_str()
                        .and_then(|text| did_you_mean_hint(text, PORT_SETS.iter().copied()));
                    let diagnostic = self
                        .invalid_value(span, &found, param, label)
                        .with_expected("a non-empty list of port numbers, or one of: all, declared, common-camera")
                        .with_optional_hint(hint);
                    self.push(diagnostic);
                }
            },
            ParamKind::RtspPaths => match value.get_ref() {
                DeValue::String(text)
                    if text == "profile" || text.strip_prefix(DICTIONARY_PREFIX).is_some_and(is_kebab) => {}
                DeValue::Array(items) if !items.is_empty() => {
                    for item in items.iter() {
                        let valid = item.get_ref().as_str().is_some_and(|path| path.starts_with('/'));
                        if !valid {
                            let found = describe(item.get_ref());
                            let diagnostic = self
                                .invalid_value(item.span(), &found, param, label)
                                .with_expected("a path starting with `/`, e.g. \"/Streaming/Channels/101\"");
                            self.push(diagnostic);
                        }
                    }
                }
                other => {
                    let found = describe(other);
                    let hint = other
                        .as_str()
                        .filter(|text| is_kebab(text))
                        .map(|text| format!("to read test-cases/data/{text}.toml write \"dictionary:{text}\""));
                    let diagnostic = self
                        .invalid_value(span, &found, param, label)
                        .with_expected("a non-empty list of paths, \"profile\" or \"dictionary:<stem>\"")
                        .with_optional_hint(hint);
                    self.push(diagnostic);
                }
            },
            ParamKind::Text
            | ParamKind::Bool
            | ParamKind::Options
            | ParamKind::Expectations
            | ParamKind::Identifier => {}
        }
    }

    fn check_step_rules(
        &mut self,
        spec: &ActionSpec,
        step: &StepFile,
        table: Option<&DeTable<'i>>,
        label: &str,
        header_span: Range<usize>,
    ) {
        let key_span = |key: &str| table.and_then(|table| doc::get(table, key)).map(|(key, _)| key.span());
        if spec.name == "http" && step.op.is_none() && step.path.is_none() && step.request_target.is_none() {
            self.push(
                self.file
                    .error_at(header_span.clone(), format!("{label} has neither `op` nor `path`"))
                    .with_expected("`op = \"<profile operation>\"` or `path = \"/…\"` (with optional `method`)"),
            );
        }
        if spec.name == "http" && step.request_target.is_some() {
            self.check_request_target_rules(step, table, label);
        }
        // These actions send one credential (their typed `credentials` is a `Credential`).
        if matches!(spec.name, "http" | "rtsp" | "onvif")
            && let Some(credentials) = &step.credentials
            && (credentials.get_ref().starts_with(DICTIONARY_PREFIX) || credentials.get_ref() == FACTORY_DEFAULT)
        {
            self.push(
                self.file
                    .error_at(
                        credentials.span(),
                        format!(
                            "`{}` sends one credential; a dictionary or `factory-default` needs `action = \"login\"` ({label})",
                            spec.name
                        ),
                    )
                    .with_expected(one_of(CREDENTIAL_SETS.iter().copied())),
            );
        }
        if spec.name == "login" || spec.name == "recover" {
            self.check_login_surface(spec, step, table, label);
        }
        if spec.name == "password-policy" {
            self.check_password_policy_options(table, label);
        }
        if let Some(shapes) = option_shapes(spec.name) {
            self.check_action_options(spec.name, shapes, table, label);
        }
        if step.destructive == Some(true) && self.case.effect != Effect::Destructive {
            let span = key_span("destructive").unwrap_or(header_span);
            self.push(
                self.file
                    .error_at(span, format!("{label} is destructive but the case's effect is not"))
                    .with_hint(
                        "set `effect = \"destructive\"` so the case only runs with --allow-destructive, and last",
                    ),
            );
        }
    }

    /// A `request_target` step replaces `op` and `path`, and sends no credentials at all.
    fn check_request_target_rules(&mut self, step: &StepFile, table: Option<&DeTable<'i>>, label: &str) {
        let Some(table) = table else { return };
        for key in ["op", "path", "body"] {
            if let Some((spanned, _)) = doc::get(table, key) {
                let diagnostic = self
                    .file
                    .error_at(
                        spanned.span(),
                        format!("`{key}` and `request_target` exclude each other ({label})"),
                    )
                    .with_hint(match key {
                        "body" => "a raw request-target is sent without a body: remove `body`",
                        _ => {
                            "`request_target` is the whole request-target: remove `op` and `path`, or `request_target`"
                        }
                    });
                self.push(diagnostic);
            }
        }
        let anonymous = [("auth", "none"), ("credentials", "none")];
        for (key, allowed) in anonymous {
            let given = match key {
                "auth" => step.auth.as_ref(),
                _ => step.credentials.as_ref(),
            };
            if let Some(value) = given
                && value.get_ref() != allowed
            {
                let span = doc::get(table, key).map_or_else(|| value.span(), |(_, v)| v.span());
                let diagnostic = self
                    .file
                    .error_at(
                        span,
                        format!(
                            "invalid value `{}` for `{key}` with `request_target` in {label}",
                            value.get_ref()
                        ),
                    )
                    .with_expected(format!("`{key} = \"{allowed}\"`, or no `{key}`"))
                    .with_hint("a raw request-target is sent without credentials: prove the flaw anonymously");
                self.push(diagnostic);
            }
        }
        if let Some((_, headers)) = doc::get(table, "headers")
            && let DeValue::Table(headers) = headers.get_ref()
        {
            for (name, _) in headers.iter() {
                let lower = name.get_ref().to_ascii_lowercase();
                if RAW_TARGET_RESERVED_HEADERS.contains(&lower.as_str()) {
                    let diagnostic = self
                        .file
                        .error_at(
                            name.span(),
                            format!(
                                "header `{}` cannot be set with `request_target` ({label})",
                                name.get_ref()
                            ),
                        )
                        .with_hint(
                            "the probe sets `Host` and `Connection: close` itself, sends no body and no credentials",
                        );
                    self.push(diagnostic);
                }
            }
        }
    }

    /// `op`, `auth`, `paths` and `options` of `login`/`recover` against the step's surface.
    fn check_login_surface(&mut self, spec: &ActionSpec, step: &StepFile, table: Option<&DeTable<'i>>, label: &str) {
        let Some(table) = table else { return };
        let surface = step.surface.as_ref().map_or("http", |s| s.get_ref().as_str());
        if !SURFACES.contains(&surface) {
            return; // already reported at `surface`
        }
        let value_of = |key: &str| doc::get(table, key);
        let not_here = |key: &str| format!("`{key}` does not apply to surface `{surface}` ({label})");
        if let Some((key, _)) = value_of("paths")
            && surface != "rtsp"
        {
            let diagnostic = self
                .file
                .error_at(key.span(), not_here("paths"))
                .with_hint("`paths` lists RTSP stream paths: use it with `surface = \"rtsp\"`");
            self.push(diagnostic);
        }
        if let Some((key, value)) = value_of("op") {
            let text = value.get_ref().as_str().unwrap_or_default();
            match surface {
                "http" if !is_kebab(text) => {
                    let diagnostic = self
                        .file
                        .error_at(value.span(), format!("invalid value `{text}` for `op` in {label}"))
                        .with_expected("a profile operation name in lowercase-kebab, e.g. `login-check`")
                        .with_optional_hint(
                            is_onvif_operation(text).then(|| "ONVIF operations need `surface = \"onvif\"`".to_owned()),
                        );
                    self.push(diagnostic);
                }
                "onvif" if !is_onvif_operation(text) => {
                    let diagnostic = self
                        .file
                        .error_at(value.span(), format!("invalid value `{text}` for `op` in {label}"))
                        .with_expected("an ONVIF operation name such as `GetUsers` or `GetDeviceInformation`");
                    self.push(diagnostic);
                }
                "rtsp" | "telnet" | "ssh" => {
                    let diagnostic = self.file.error_at(key.span(), not_here("op")).with_hint(match surface {
                        "rtsp" => "an RTSP login DESCRIBEs a stream path: choose them with `paths`",
                        "ssh" => "an SSH login sends the password with the method the server offers (`password`, else `keyboard-interactive`); there is no operation to choose",
                        _ => "a Telnet login answers the login prompt; there is no operation to choose",
                    });
                    self.push(diagnostic);
                }
                _ => {}
            }
        }
        if let Some((key, value)) = value_of("auth") {
            let text = value.get_ref().as_str().unwrap_or_default();
            let allowed: &[&str] = match surface {
                "http" => AUTH_VALUES,
                "onvif" => ONVIF_LOGIN_AUTH_VALUES,
                _ => &[],
            };
            if allowed.is_empty() {
                let diagnostic = self
                    .file
                    .error_at(key.span(), not_here("auth"))
                    .with_hint(format!("the scheme is chosen from what the {surface} service offers"));
                self.push(diagnostic);
            } else if !allowed.contains(&text) {
                let diagnostic = self
                    .file
                    .error_at(
                        value.span(),
                        format!("invalid value `{text}` for `auth` on surface `{surface}` in {label}"),
                    )
                    .with_expected(one_of(allowed.iter().copied()))
                    .with_optional_hint(did_you_mean_hint(text, allowed.iter().copied()));
                self.push(diagnostic);
            }
        }
        if spec.name != "login" {
            return;
        }
        let Some((_, options)) = value_of("options") else {
            return;
        };
        let DeValue::Table(options) = options.get_ref() else {
            return;
        };
        for (key, value) in options.iter() {
            let name = key.get_ref().as_ref();
            if !LOGIN_OPTIONS.contains(&name) {
                let diagnostic = self
                    .file
                    .error_at(
                        key.span(),
                        format!("unknown option `{name}` of action `login` ({label})"),
                    )
                    .with_expected(one_of(LOGIN_OPTIONS.iter().copied()))
                    .with_optional_hint(did_you_mean_hint(name, LOGIN_OPTIONS.iter().copied()));
                self.push(diagnostic);
                continue;
            }
            if name == "control_login" || name == "settle" {
                let valid = match value.get_ref() {
                    DeValue::Boolean(_) => true,
                    DeValue::String(text) => is_whole_template(text),
                    _ => false,
                };
                if !valid {
                    let found = describe(value.get_ref());
                    let diagnostic = self
                        .file
                        .error_at(
                            value.span(),
                            format!("invalid value {found} for `options.{name}` in {label}"),
                        )
                        .with_expected("true or false");
                    self.push(diagnostic);
                }
                continue;
            }
            let minimum = if name == "reset_below" { 2 } else { 0 };
            let valid = match scalar(value.get_ref()) {
                Scalar::Integer(n) => n >= minimum,
                Scalar::String(text) => is_whole_template(text),
                _ => false,
            };
            if !valid {
                let found = describe(value.get_ref());
                let diagnostic = self
                    .file
                    .error_at(
                        value.span(),
                        format!("invalid value {found} for `options.{name}` in {label}"),
                    )
                    .with_expected(format!(
                        "an integer ≥ {minimum}, or a template such as \"${{params.{}}}\"",
                        if name == "reset_below" { "attempts" } else { "window_s" }
                    ));
                self.push(diagnostic);
            }
        }
        let control_off = matches!(
            options.get("control_login").map(|v| v.get_ref()),
            Some(DeValue::Boolean(false))
        );
        if control_off && options.get("window_s").is_none() {
            let span = options.get("control_login").map(|v| v.span()).unwrap_or_default();
            let diagnostic = self
                .file
                .error_at(
                    span,
                    format!("`options.control_login = false` needs `options.window_s` ({label})"),
                )
                .with_hint(
                    "without control logins only pacing per window keeps a dictionary below the lockout threshold",
                );
            self.push(diagnostic);
        }
        if options.get("window_s").is_some() && options.get("reset_below").is_none() {
            let span = options.get("window_s").map(|v| v.span()).unwrap_or_default();
            let diagnostic = self
                .file
                .error_at(
                    span,
                    format!("`options.window_s` needs `options.reset_below` ({label})"),
                )
                .with_hint("the window paces user names against the threshold `reset_below` gives");
            self.push(diagnostic);
        }
    }

    /// `options` of `tls`, `ssh`, `ports` and `onvif`: the keys of the action's options
    /// struct only, each with a value of the shape the runner reads.
    fn check_action_options(
        &mut self,
        action: &str,
        shapes: &[(&'static str, OptionShape)],
        table: Option<&DeTable<'i>>,
        label: &str,
    ) {
        let Some(options) = table.and_then(|table| table.get("options")).and_then(doc::as_table) else {
            return;
        };
        let known = || shapes.iter().map(|(name, _)| *name);
        for (key, value) in options.iter() {
            let name = key.get_ref().as_ref();
            let Some((_, shape)) = shapes.iter().find(|(known, _)| *known == name) else {
                let diagnostic = self
                    .file
                    .error_at(
                        key.span(),
                        format!("unknown option `{name}` of action `{action}` ({label})"),
                    )
                    .with_expected(one_of(known()))
                    .with_optional_hint(did_you_mean_hint(name, known()));
                self.push(diagnostic);
                continue;
            };
            let template = |value: &DeValue<'_>| matches!(value, DeValue::String(text) if is_whole_template(text));
            let (valid, expected) = match shape {
                OptionShape::Bool => (
                    matches!(value.get_ref(), DeValue::Boolean(_)),
                    "`true` or `false`".to_owned(),
                ),
                OptionShape::BoolOrTemplate => (
                    matches!(value.get_ref(), DeValue::Boolean(_)) || template(value.get_ref()),
                    "`true` or `false`, or a whole template".to_owned(),
                ),
                OptionShape::Count { min, max } => (
                    matches!(scalar(value.get_ref()), Scalar::Integer(n) if (*min..=*max).contains(&n))
                        || template(value.get_ref()),
                    format!("an integer from {min} to {max}, or a whole template"),
                ),
                OptionShape::Text => (
                    matches!(value.get_ref(), DeValue::String(text) if !text.is_empty()),
                    "a non-empty string".to_owned(),
                ),
                OptionShape::AnyText => (matches!(value.get_ref(), DeValue::String(_)), "a string".to_owned()),
                OptionShape::Path => (
                    matches!(value.get_ref(), DeValue::String(text) if text.starts_with('/')),
                    "a path starting with `/`".to_owned(),
                ),
                OptionShape::Names => (
                    match value.get_ref() {
                        DeValue::Array(items) => {
                            !items.is_empty() && items.iter().all(|item| matches!(item.get_ref(), DeValue::String(_)))
                        }
                        other => template(other),
                    },
                    "a non-empty list of names, or a whole template".to_owned(),
                ),
            };
            if !valid {
                let found = describe(value.get_ref());
                let diagnostic = self
                    .file
                    .error_at(
                        value.span(),
                        format!("invalid value {found} for `options.{name}` in {label}"),
                    )
                    .with_expected(expected);
                self.push(diagnostic);
            }
        }
    }

    /// `password-policy` options: known keys only, each with a value of the right shape.
    fn check_password_policy_options(&mut self, table: Option<&DeTable<'i>>, label: &str) {
        let Some(options) = table.and_then(|table| table.get("options")).and_then(doc::as_table) else {
            return;
        };
        for (key, value) in options.iter() {
            let name = key.get_ref().as_ref();
            match name {
                "min_length" => match scalar(value.get_ref()) {
                    Scalar::Integer(length) if (1..=i64::from(MAX_DECLARED_PASSWORD_LENGTH)).contains(&length) => {}
                    Scalar::String(text) if is_whole_template(text) => {}
                    _ => {
                        let found = describe(value.get_ref());
                        self.push(
                            self.file
                                .error_at(value.span(), format!("invalid value {found} for `options.min_length` in {label}"))
                                .with_expected(format!(
                                    "a length from 1 to {MAX_DECLARED_PASSWORD_LENGTH}, or a template such as \"${{params.min_length}}\""
                                )),
                        );
                    }
                },
                "required_classes" => match value.get_ref() {
                    DeValue::String(text) if is_whole_template(text) => {}
                    DeValue::Array(items) => {
                        let mut seen = BTreeSet::new();
                        for item in items.iter() {
                            let text = item.get_ref().as_str();
                            let valid = text.is_some_and(|text| PASSWORD_CLASSES.contains(&text));
                            if !valid {
                                let found = describe(item.get_ref());
                                let hint =
                                    text.and_then(|text| did_you_mean_hint(text, PASSWORD_CLASSES.iter().copied()));
                                self.push(
                                    self.file
                                        .error_at(
                                            item.span(),
                                            format!("invalid class {found} in `options.required_classes` ({label})"),
                                        )
                                        .with_expected(one_of(PASSWORD_CLASSES.iter().copied()))
                                        .with_optional_hint(hint),
                                );
                            } else if let Some(text) = text
                                && !seen.insert(text)
                            {
                                self.push(
                                    self.file
                                        .error_at(item.span(), format!("class `{text}` is listed twice ({label})"))
                                        .with_hint("list each class once"),
                                );
                            }
                        }
                    }
                    other => {
                        let found = describe(other);
                        self.push(
                            self.file
                                .error_at(
                                    value.span(),
                                    format!("invalid value {found} for `options.required_classes` in {label}"),
                                )
                                .with_expected(
                                    "a list of `upper`, `lower`, `digit`, `special`, or a template such as \"${params.required_classes}\"",
                                ),
                        );
                    }
                },
                "login_check" => {
                    if !matches!(value.get_ref(), DeValue::Boolean(_)) {
                        let found = describe(value.get_ref());
                        self.push(
                            self.file
                                .error_at(
                                    value.span(),
                                    format!("invalid value {found} for `options.login_check` in {label}"),
                                )
                                .with_expected("`true` or `false`"),
                        );
                    }
                }
                other => {
                    self.push(
                        self.file
                            .error_at(
                                key.span(),
                                format!("`{other}` is not an option of action `password-policy` ({label})"),
                            )
                            .with_expected(one_of(PASSWORD_POLICY_OPTIONS.iter().copied()))
                            .with_optional_hint(did_you_mean_hint(other, PASSWORD_POLICY_OPTIONS.iter().copied())),
                    );
                }
            }
        }
    }

    fn check_expectations(&mut self, spec: &ActionSpec, step: &StepFile, table: Option<&DeTable<'i>>, label: &str) {
        let expect_tables: Vec<&DeTable<'i>> = table
            .and_then(|table| table.get("expect"))
            .and_then(doc::as_array)
            .map(|items| items.iter().filter_map(doc::as_table).collect())
            .unwrap_or_default();
        for (index, expectation) in step.expect.iter().enumerate() {
            let context = format!("expectation {} of {label}", index + 1);
            let expect_table = expect_tables.get(index).copied();
            self.check_operator_count(expectation, expect_table, &context);
            self.check_observation(spec, expectation, &context);
            self.check_cause(expectation, expect_table, &context);
            if !scan_templates(&expectation.because).is_empty() {
                let span = expect_table
                    .and_then(|table| doc::get(table, "because"))
                    .map_or_else(|| expectation.that.span(), |(_, value)| value.span());
                self.push(
                    self.file
                        .error_at(span, format!("templates are not substituted in `because` ({context})"))
                        .with_expected("plain text: the report shows the observed value next to it")
                        .with_hint(
                            "describe the finding in words, e.g. \"after the declared number of wrong passwords\"",
                        ),
                );
            }
            self.check_version(expectation, expect_table, &context);
            for (key, pattern) in [
                ("matches", &expectation.matches),
                ("not_matches", &expectation.not_matches),
                ("version_from", &expectation.version_from),
            ] {
                let Some(pattern) = pattern else { continue };
                let span = expect_table
                    .and_then(|table| doc::get(table, key))
                    .map_or_else(|| expectation.that.span(), |(_, value)| value.span());
                // The runner matches the pattern as written; a `${…}` in it would be read
                // as regex syntax, never substituted.
                if !scan_templates(pattern).is_empty() {
                    self.push(
                        self.file
                            .error_at(span, format!("templates are not substituted in `{key}` ({context})"))
                            .with_expected("a literal regular expression")
                            .with_hint("compare with `equals`/`contains` to use a template, or escape `$` as `\\$`"),
                    );
                    continue;
                }
                let checkable = pattern;
                if let Err(error) = regex::Regex::new(checkable) {
                    let reason = error.to_string();
                    let reason = reason.lines().last().unwrap_or("invalid regular expression").trim();
                    self.push(
                        self.file
                            .error_at(
                                span,
                                format!("`{key}` is not a valid regular expression in {context}: {reason}"),
                            )
                            .with_expected("a regular expression in Rust `regex` syntax")
                            .with_hint(
                                "in TOML, write patterns as literal strings ('…') so backslashes need no doubling",
                            ),
                    );
                }
            }
            for key in ["less_than", "at_most", "greater_than", "at_least"] {
                let Some((_, value)) = expect_table.and_then(|table| doc::get(table, key)) else {
                    continue;
                };
                let valid = match scalar(value.get_ref()) {
                    Scalar::Integer(_) | Scalar::Float(_) => true,
                    Scalar::String(text) => is_whole_template(text),
                    Scalar::Other(_) => false,
                };
                if !valid {
                    let found = describe(value.get_ref());
                    self.push(
                        self.file
                            .error_at(
                                value.span(),
                                format!("`{key}` needs a number in {context}, found {found}"),
                            )
                            .with_expected("a number, or a template such as \"${params.attempts}\""),
                    );
                }
            }
        }
    }

    /// `version_from` only picks a version for the version operators, and a version operand
    /// must hold a number to compare (or be a template the runner fills in).
    fn check_version(&mut self, expectation: &Expectation, table: Option<&DeTable<'i>>, context: &str) {
        let has_operator = expectation.version_below.is_some() || expectation.version_at_least.is_some();
        if expectation.version_from.is_some() && !has_operator {
            let span = table
                .and_then(|table| doc::get(table, "version_from"))
                .map_or_else(|| expectation.that.span(), |(key, _)| key.span());
            self.push(
                self.file
                    .error_at(
                        span,
                        format!("`version_from` without a version comparison in {context}"),
                    )
                    .with_expected("`version_below` or `version_at_least` in the same expectation")
                    .with_hint("remove `version_from`, or compare with `version_below = \"…\"`"),
            );
        }
        for key in ["version_below", "version_at_least"] {
            let Some((_, value)) = table.and_then(|table| doc::get(table, key)) else {
                continue;
            };
            let valid = match scalar(value.get_ref()) {
                Scalar::Integer(_) | Scalar::Float(_) => true,
                Scalar::String(text) => is_whole_template(text) || text.chars().any(|c| c.is_ascii_digit()),
                Scalar::Other(_) => false,
            };
            if !valid {
                self.push(
                    self.file
                        .error_at(
                            value.span(),
                            format!(
                                "`{key}` needs a version in {context}, found {}",
                                describe(value.get_ref())
                            ),
                        )
                        .with_expected("a version string with numbers, e.g. \"5.5.800\" or \"210628\"")
                        .with_hint(
                            "versions are compared number by number: `V5.4.0 build 160530` reads as 5, 4, 0, 160530",
                        ),
                );
            }
        }
    }

    /// `[[cves]]`: each names a real CVE id once, a CVSS base score and an advisory URL.
    fn check_cves(&mut self) {
        let tables: Vec<&DeTable<'i>> = self
            .root
            .get("cves")
            .and_then(doc::as_array)
            .map(|items| items.iter().filter_map(doc::as_table).collect())
            .unwrap_or_default();
        let mut seen: BTreeSet<String> = BTreeSet::new();
        for (index, cve) in self.case.cves.iter().enumerate() {
            let id = cve.id.get_ref();
            let well_formed = id
                .strip_prefix("CVE-")
                .and_then(|rest| rest.split_once('-'))
                .is_some_and(|(year, number)| {
                    year.len() == 4
                        && year.chars().all(|c| c.is_ascii_digit())
                        && number.len() >= 4
                        && number.chars().all(|c| c.is_ascii_digit())
                });
            if !well_formed {
                self.push(
                    self.file
                        .error_at(
                            cve.id.span(),
                            format!("`{id}` is not a CVE id (cves entry {})", index + 1),
                        )
                        .with_expected("`CVE-YYYY-NNNN` (four-digit year, at least four digits), e.g. `CVE-2017-7921`"),
                );
            }
            if !seen.insert(id.to_ascii_uppercase()) {
                self.push(
                    self.file
                        .error_at(cve.id.span(), format!("`{id}` is listed twice in `cves`"))
                        .with_hint("list each CVE once; put every affected range in its `affected`"),
                );
            }
            let score = *cve.cvss.get_ref();
            if !(0.0..=10.0).contains(&score) || !score.is_finite() {
                self.push(
                    self.file
                        .error_at(cve.cvss.span(), format!("CVSS score {score} is out of range ({id})"))
                        .with_expected("a CVSS v3.x base score from 0.0 to 10.0, as NVD gives it"),
                );
            }
            if !cve.url.get_ref().starts_with("https://") {
                self.push(
                    self.file
                        .error_at(cve.url.span(), format!("`url` of {id} is not an https:// address"))
                        .with_expected(
                            "the advisory or NVD page, e.g. `https://nvd.nist.gov/vuln/detail/CVE-2017-7921`",
                        ),
                );
            }
            if cve.affected.as_deref().is_some_and(|text| text.trim().is_empty()) {
                let span = tables
                    .get(index)
                    .and_then(|table| doc::get(table, "affected"))
                    .map_or_else(|| cve.id.span(), |(key, _)| key.span());
                self.push(
                    self.file
                        .error_at(span, format!("`affected` of {id} is empty"))
                        .with_hint("name the affected products and firmware ranges, or leave the key out"),
                );
            }
        }
    }

    /// A cause explains an undecided verdict; on a failure (a finding) it would mislabel it.
    fn check_cause(&mut self, expectation: &Expectation, table: Option<&DeTable<'i>>, context: &str) {
        let Some(cause) = expectation.cause else { return };
        let otherwise = expectation.otherwise.unwrap_or(Otherwise::Fail);
        if matches!(otherwise, Otherwise::Inconclusive | Otherwise::Error) {
            return;
        }
        let span = table
            .and_then(|table| doc::get(table, "cause"))
            .map_or_else(|| expectation.that.span(), |(key, _)| key.span());
        let verdict = match otherwise {
            Otherwise::NotApplicable => "not_applicable",
            _ => "fail",
        };
        self.push(
            self.file
                .error_at(
                    span,
                    format!(
                        "`cause = \"{}\"` in {context}, whose verdict is `{verdict}`",
                        cause.as_str()
                    ),
                )
                .with_expected("a cause only with `otherwise = \"inconclusive\"` or `otherwise = \"error\"`")
                .with_hint("add `otherwise = \"inconclusive\"`, or remove `cause`"),
        );
    }

    fn check_operator_count(&mut self, expectation: &Expectation, table: Option<&DeTable<'i>>, context: &str) {
        let present: Vec<&str> = table
            .map(|table| {
                EXPECT_OPERATORS
                    .iter()
                    .copied()
                    .filter(|operator| table.get(*operator).is_some())
                    .collect()
            })
            .unwrap_or_default();
        match present.as_slice() {
            [_] => {}
            [] => self.push(
                self.file
                    .error_at(expectation.that.span(), format!("{context} has no comparison"))
                    .with_expected(format!("exactly one of: {}", EXPECT_OPERATORS.join(", ")))
                    .with_hint("e.g. `equals = 401` or `at_most = \"${params.attempts}\"`"),
            ),
            [first, rest @ ..] => {
                let span = table
                    .and_then(|table| doc::get(table, rest[0]))
                    .map_or_else(|| expectation.that.span(), |(key, _)| key.span());
                self.push(
                    self.file
                        .error_at(
                            span,
                            format!(
                                "{context} has more than one comparison (`{first}` and `{}`)",
                                rest.join("`, `")
                            ),
                        )
                        .with_expected("exactly one comparison per expectation")
                        .with_hint("split it into several [[steps.expect]] tables"),
                );
            }
        }
    }

    fn check_observation(&mut self, spec: &ActionSpec, expectation: &Expectation, context: &str) {
        let that = expectation.that.get_ref();
        let head = observation_head(that);
        if spec.observations.is_empty() {
            self.push(
                self.file
                    .error_at(
                        expectation.that.span(),
                        format!("action `{}` produces no observations ({context})", spec.name),
                    )
                    .with_hint("remove the expectation, or move it to the step that observes"),
            );
        } else if spec.observation(head).is_none() {
            let names = spec.observations.iter().map(|observation| observation.name);
            self.push(
                self.file
                    .error_at(
                        expectation.that.span(),
                        format!("`{head}` is not an observation of action `{}` ({context})", spec.name),
                    )
                    .with_expected(one_of(names.clone()))
                    .with_optional_hint(did_you_mean_hint(head, names)),
            );
        }
    }

    fn check_templates(&mut self, index: usize, table: &DeTable<'i>) {
        let mut found: Vec<(&str, Range<usize>)> = Vec::new();
        for (key, value) in table.iter() {
            match key.get_ref().as_ref() {
                "id" | "action" => {}
                "expect" => {
                    let expectations = doc::as_array(value).unwrap_or_default();
                    for expectation in expectations.iter().filter_map(doc::as_table) {
                        for (key, value) in expectation.iter() {
                            // Used as written by the runner; check_expectations rejects
                            // templates there.
                            if !LITERAL_EXPECTATION_KEYS.contains(&key.get_ref().as_ref()) {
                                doc::walk_strings(value, &mut |text, span| found.push((text, span)));
                            }
                        }
                    }
                }
                _ => doc::walk_strings(value, &mut |text, span| found.push((text, span))),
            }
        }
        for (text, span) in found {
            for scanned in scan_templates(text) {
                let (template_range, result) = match scanned {
                    Ok(template) => (template.range.clone(), Ok(template)),
                    Err(error) => (error.range.clone(), Err(error)),
                };
                let span = self.locate_in_value(span.clone(), &text[template_range]);
                match result {
                    Err(error) => self.push(self.file.error_at(span, error.message).with_expected(error.expected)),
                    Ok(template) => self.check_reference(index, &template.source, span),
                }
            }
        }
    }

    /// The exact span of `needle` inside a value's span when the source spells it literally
    /// (it may not, for escaped strings); otherwise the value's span.
    fn locate_in_value(&self, value_span: Range<usize>, needle: &str) -> Range<usize> {
        self.file
            .text
            .get(value_span.clone())
            .and_then(|raw| raw.find(needle))
            .map_or(value_span.clone(), |offset| {
                value_span.start + offset..value_span.start + offset + needle.len()
            })
    }

    fn check_reference(&mut self, index: usize, source: &TemplateSource, span: Range<usize>) {
        let expression = source.expression();
        match source {
            TemplateSource::Param(name) => {
                if !self.case.params.contains_key(name) {
                    let names: Vec<&str> = self.case.params.keys().map(String::as_str).collect();
                    self.push(
                        self.file
                            .error_at(
                                span,
                                format!("`${{{expression}}}` refers to an undeclared parameter `{name}`"),
                            )
                            .with_expected(if names.is_empty() {
                                "a parameter declared under [params] (this case declares none)".to_string()
                            } else {
                                one_of(names.iter().copied())
                            })
                            .with_optional_hint(
                                did_you_mean_hint(name, names.iter().copied())
                                    .or_else(|| Some(format!("declare it: [params.{name}] default = …"))),
                            ),
                    );
                }
            }
            TemplateSource::Declared(path) => {
                if !DECLARED_FIELDS.contains(&path.as_str()) {
                    self.push(
                        self.file
                            .error_at(
                                span,
                                format!("`${{{expression}}}`: `{path}` is not a field of [declared]"),
                            )
                            .with_expected(one_of(DECLARED_FIELDS.iter().copied()))
                            .with_optional_hint(did_you_mean_hint(path, DECLARED_FIELDS.iter().copied())),
                    );
                }
            }
            TemplateSource::Target(field) => {
                if !TARGET_FIELDS.contains(&field.as_str()) {
                    self.push(
                        self.file
                            .error_at(span, format!("`${{{expression}}}`: `{field}` is not a target field"))
                            .with_expected(one_of(TARGET_FIELDS.iter().copied()))
                            .with_optional_hint(did_you_mean_hint(field, TARGET_FIELDS.iter().copied())),
                    );
                }
            }
            TemplateSource::Step { step, observation } => {
                let steps = &self.case.steps;
                let position = steps.iter().position(|candidate| candidate.id.get_ref() == step);
                match position {
                    None => {
                        let earlier = steps[..index].iter().map(|candidate| candidate.id.get_ref().as_str());
                        self.push(
                            self.file
                                .error_at(span, format!("`${{{expression}}}` refers to an unknown step `{step}`"))
                                .with_expected(format!("an earlier step: {}", one_of(earlier.clone())))
                                .with_optional_hint(did_you_mean_hint(step, earlier)),
                        );
                    }
                    Some(position) if position >= index => {
                        let when = if position == index {
                            "this step itself"
                        } else {
                            "a later step"
                        };
                        self.push(
                            self.file
                                .error_at(
                                    span,
                                    format!(
                                        "`${{{expression}}}` refers to {when}; only earlier steps have observations"
                                    ),
                                )
                                .with_hint("move the referenced step before this one"),
                        );
                    }
                    Some(position) => {
                        let head = observation_head(observation);
                        if let Some(spec) = actions::action(steps[position].action.get_ref())
                            && spec.observation(head).is_none()
                        {
                            let names = spec.observations.iter().map(|observation| observation.name);
                            self.push(
                                self.file
                                    .error_at(
                                        span,
                                        format!(
                                            "`${{{expression}}}`: `{head}` is not an observation of action `{}`",
                                            spec.name
                                        ),
                                    )
                                    .with_expected(one_of(names.clone()))
                                    .with_optional_hint(did_you_mean_hint(head, names)),
                            );
                        }
                    }
                }
            }
        }
    }
}

/// `GetUsers`: PascalCase letters and digits.
/// What the runner reads an option as (`login` and `password-policy` options have checks of
/// their own).
#[derive(Debug, Clone, Copy)]
enum OptionShape {
    Bool,
    BoolOrTemplate,
    Count { min: i64, max: i64 },
    Text,
    AnyText,
    Path,
    Names,
}

/// The shape of each option of `action`, in the order of its options struct (a test holds
/// the names equal to the struct's keys).
fn option_shapes(action: &str) -> Option<&'static [(&'static str, OptionShape)]> {
    use OptionShape::*;
    Some(match action {
        "tls" => &[
            ("versions", Names),
            ("concurrency", Count { min: 1, max: 64 }),
            ("certificate", BoolOrTemplate),
            ("sni", Text),
        ],
        "ssh" => &[("user", Text)],
        "ports" => &[("concurrency", Count { min: 1, max: 1024 })],
        "onvif" => &[
            ("include_write", Bool),
            ("include_unrecoverable", Bool),
            ("token_checks", Bool),
            ("arguments", AnyText),
            ("path", Path),
        ],
        _ => return None,
    })
}

fn is_onvif_operation(name: &str) -> bool {
    name.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && name.chars().all(|c| c.is_ascii_alphanumeric())
}

/// `headers.server` → `headers`; `attempts[0].status` → `attempts`.
fn observation_head(path: &str) -> &str {
    let end = path.find(['.', '[']).unwrap_or(path.len());
    &path[..end]
}

fn describe(value: &DeValue<'_>) -> String {
    match scalar(value) {
        Scalar::Integer(integer) => format!("`{integer}`"),
        Scalar::Float(float) => format!("`{float}`"),
        Scalar::String(text) => format!("\"{text}\""),
        Scalar::Other(kind) => format!("a value of type {kind}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn observation_head_strips_paths() {
        assert_eq!(observation_head("headers.server"), "headers");
        assert_eq!(observation_head("attempts[0].status"), "attempts");
        assert_eq!(observation_head("status"), "status");
    }

    #[test]
    fn option_shapes_name_the_options_structs_keys() {
        for action in ["tls", "ssh", "ports", "onvif"] {
            let shapes: Vec<&str> = option_shapes(action)
                .unwrap_or_default()
                .iter()
                .map(|(name, _)| *name)
                .collect();
            assert_eq!(Some(shapes.as_slice()), crate::typed::option_keys(action), "{action}");
        }
    }

    #[test]
    fn declared_fields_match_the_declared_struct() {
        use crate::model::{Declared, Lockout, PasswordPolicy};
        let full = Declared {
            open_tcp_ports: Some(vec![80]),
            lockout: Some(Lockout {
                attempts: Some(5),
                window_s: Some(30),
                duration_s: Some(300),
            }),
            password_policy: Some(PasswordPolicy {
                min_length: Some(8),
                required_classes: Some(vec!["upper".into()]),
            }),
            // A list, so its entries are not dotted paths of their own.
            destinations: Some(Vec::new()),
            connectivity: Some(crate::model::Connectivity {
                contacts_within_s: Some(60),
                outage_noticed_within_s: Some(30),
                reconnects_within_s: Some(120),
                max_connects_per_s: Some(5),
            }),
            data_storage: Some(crate::model::DataStorage {
                location: crate::model::StorageLocation::Local,
            }),
        };
        let value = toml::Value::try_from(&full).unwrap();
        let mut paths = Vec::new();
        fn collect(prefix: &str, value: &toml::Value, paths: &mut Vec<String>) {
            if let toml::Value::Table(table) = value {
                for (key, inner) in table {
                    let path = if prefix.is_empty() {
                        key.clone()
                    } else {
                        format!("{prefix}.{key}")
                    };
                    paths.push(path.clone());
                    collect(&path, inner, paths);
                }
            }
        }
        collect("", &value, &mut paths);
        paths.sort();
        let mut listed: Vec<String> = DECLARED_FIELDS.iter().map(|field| field.to_string()).collect();
        listed.sort();
        assert_eq!(paths, listed);
    }
}
