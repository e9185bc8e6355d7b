//! Case, profile, target and regulation-catalogue model. Parses and validates TOML with
//! file:line:column errors. No network, no verdicts.
//!
//! Entry points: [`Suite::load`] for test-cases/, [`load_profile`], [`load_target`]; single
//! files with [`load_case`], [`load_regulation`], [`load_credential_dictionary`],
//! [`load_path_dictionary`]. Every problem is a [`Diagnostic`] that renders like rustc.
pub mod actions;
mod doc;
pub mod error;
pub mod load;
pub mod model;
pub mod schema;
pub mod step;
pub mod templates;
pub mod validate;

pub use actions::{ACTIONS, ActionSpec, COMMON_KEYS, ObservationSpec, ParamKind, ParamSpec};
pub use error::{CaseError, Diagnostic, Snippet, render_all, render_diagnostics};
pub use load::{
    LoadedCase, LoadedDictionary, LoadedRegulation, LoadedTarget, ProfileSource, REDACTED, ResolvedProfile, Suite,
    check_target_file, load_answers, load_answers_for, load_case, load_cases, load_credential_dictionary,
    load_path_dictionary, load_profile, load_regulation, load_regulations, load_target, load_target_with,
    parse_answers, parse_answers_for,
};
pub use model::*;
pub use schema::json_schemas;
pub use step::*;
pub use templates::{TemplateRef, TemplateSource, TemplateSyntaxError, find_templates, scan_templates};
pub use validate::{EXPECT_OPERATORS, missing_ops, required_ops, validate_against_catalogue};
