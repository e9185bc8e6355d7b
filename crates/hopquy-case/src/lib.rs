//! Case, profile, target and regulation-catalogue model. Parses and validates TOML with
//! file:line:column errors. No network, no verdicts.
//!
//! Entry points: [`Suite::load`] for test-cases/, [`load_profile`], [`load_target`]; single
//! files with [`load_case`], [`load_regulation`], [`load_credential_dictionary`],
//! [`load_path_dictionary`]. Every problem is a [`Diagnostic`] that renders like rustc.
//!
//! Modules, in dependency order: leaf types (`model`: the file formats as serde reads them;
//! `typed`: a checked case's steps as [`StepAction`]s; `loaded`; `names`), `check/` (one module
//! per file kind, pure functions over a parsed file and its spans), `load` (reading files,
//! parsing, then the checks, then the typed conversion).
pub mod actions;
pub mod check;
mod doc;
pub mod error;
pub mod geoip;
pub mod identify;
pub mod load;
pub mod loaded;
pub mod model;
pub mod names;
pub mod net;
pub mod observations;
mod pattern;
pub mod schema;
pub mod templates;
pub mod typed;

pub use actions::{ACTIONS, ActionSpec, COMMON_KEYS, ObservationSpec, ParamKind, ParamSpec};
pub use check::case::{EXPECT_OPERATORS, missing_ops, required_ops};
pub use check::suite::validate_against_catalogue;
pub use error::{CaseError, Diagnostic, Snippet, render_all, render_diagnostics};
pub use geoip::{GeoIpTable, load_geoip, parse_geoip};
pub use load::{
    LoadedTarget, Suite, check_target_file, load_answers, load_answers_for, load_case, load_cases,
    load_credential_dictionary, load_path_dictionary, load_profile, load_regulation, load_regulations, load_target,
    load_target_with, parse_answers, parse_answers_for,
};
pub use loaded::{LoadedCase, LoadedDictionary, LoadedRegulation, ProfileSource, ResolvedProfile};
pub use model::*;
pub use net::{Network, NetworkError, is_country_code};
pub use pattern::Pattern;
pub use schema::json_schemas;
pub use templates::{TemplateRef, TemplateSource, TemplateSyntaxError, find_templates, scan_templates};
pub use typed::*;
