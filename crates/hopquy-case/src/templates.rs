//! `${…}` references inside case values. The runner substitutes them; this module finds and
//! parses them so both the validator and the runner agree on the syntax.
//!
//! - `${params.NAME}`: a `[params]` entry (its default, or the target's declared value);
//! - `${declared.a.b}`: a field of the target's `[declared]` table;
//! - `${target.FIELD}`: `username`, `host`, `vendor`, `model`, `firmware`, `serial`
//!   (never the password);
//! - `${steps.STEP.OBSERVATION[.sub…]}`: an observation of an earlier step.
//!
//! A value that is exactly one template keeps the referenced value's type (`repeat =
//! "${params.attempts}"` is an integer); a template inside longer text is rendered as text.

use std::ops::Range;

/// Fields of the target a template may read. The password is deliberately absent.
pub const TARGET_FIELDS: &[&str] = &["username", "host", "vendor", "model", "firmware", "serial"];

/// Where a template's value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateSource {
    Param(String),
    /// Dotted path into `[declared]`, e.g. `lockout.attempts`.
    Declared(String),
    Target(String),
    /// `observation` is a dotted path into the step's observations (`headers.server`).
    Step {
        step: String,
        observation: String,
    },
}

impl TemplateSource {
    /// The expression as written between `${` and `}`.
    pub fn expression(&self) -> String {
        match self {
            TemplateSource::Param(name) => format!("params.{name}"),
            TemplateSource::Declared(path) => format!("declared.{path}"),
            TemplateSource::Target(field) => format!("target.{field}"),
            TemplateSource::Step { step, observation } => format!("steps.{step}.{observation}"),
        }
    }
}

/// One `${…}` found in a string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateRef {
    /// Byte range of `${…}` (braces included) within the string.
    pub range: Range<usize>,
    /// The template is the entire string, so the substituted value keeps its type.
    pub whole: bool,
    pub source: TemplateSource,
}

/// A `${` that does not form a valid reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateSyntaxError {
    pub range: Range<usize>,
    pub message: String,
    pub expected: &'static str,
}

const EXPECTED_FORMS: &str = "`${params.NAME}`, `${declared.a.b}`, `${target.FIELD}` or `${steps.STEP.OBSERVATION}`";

/// The valid templates in `text`, in order. Invalid ones are skipped: the validator rejects
/// case files containing them, so the runner never sees one.
pub fn find_templates(text: &str) -> Vec<TemplateRef> {
    scan_templates(text).into_iter().filter_map(Result::ok).collect()
}

/// Every `${…}` in `text`, parsed or with the reason it is invalid.
pub fn scan_templates(text: &str) -> Vec<Result<TemplateRef, TemplateSyntaxError>> {
    let mut found = Vec::new();
    let mut cursor = 0;
    while let Some(relative) = text[cursor..].find("${") {
        let start = cursor + relative;
        let Some(close) = text[start..].find('}') else {
            found.push(Err(TemplateSyntaxError {
                range: start..text.len(),
                message: "unterminated template: `${` without a closing `}`".to_string(),
                expected: EXPECTED_FORMS,
            }));
            break;
        };
        let end = start + close + 1;
        let expression = &text[start + 2..end - 1];
        let whole = start == 0 && end == text.len();
        found.push(
            parse_expression(expression)
                .map(|source| TemplateRef {
                    range: start..end,
                    whole,
                    source,
                })
                .map_err(|message| TemplateSyntaxError {
                    range: start..end,
                    message,
                    expected: EXPECTED_FORMS,
                }),
        );
        cursor = end;
    }
    found
}

fn parse_expression(expression: &str) -> Result<TemplateSource, String> {
    let trimmed = expression.trim();
    let segments: Vec<&str> = trimmed.split('.').collect();
    if let Some(bad) = segments.iter().find(|segment| !is_segment(segment)) {
        return Err(if bad.is_empty() {
            format!("malformed template `${{{expression}}}`: empty name between dots")
        } else {
            format!("malformed template `${{{expression}}}`: `{bad}` is not a plain name")
        });
    }
    match segments.as_slice() {
        ["params", name] => Ok(TemplateSource::Param((*name).to_string())),
        ["params", ..] => Err(format!("`${{{expression}}}`: write `${{params.NAME}}` with one name")),
        ["declared", rest @ ..] if !rest.is_empty() => Ok(TemplateSource::Declared(rest.join("."))),
        ["target", "password"] => {
            Err("the target's password is never available to templates; use `credentials = \"target\"`".to_string())
        }
        ["target", field] => Ok(TemplateSource::Target((*field).to_string())),
        ["steps", step, observation @ ..] if !observation.is_empty() => Ok(TemplateSource::Step {
            step: (*step).to_string(),
            observation: observation.join("."),
        }),
        [root, ..] if ["params", "declared", "target", "steps"].contains(root) => {
            Err(format!("incomplete template `${{{expression}}}`"))
        }
        _ => Err(format!("unknown template `${{{expression}}}`")),
    }
}

fn is_segment(segment: &str) -> bool {
    !segment.is_empty()
        && segment
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_whole_and_embedded_templates() {
        let whole = find_templates("${params.attempts}");
        assert_eq!(whole.len(), 1);
        assert!(whole[0].whole);
        assert_eq!(whole[0].source, TemplateSource::Param("attempts".into()));

        let text = "locked after ${steps.burst.first_locked_attempt} of ${declared.lockout.attempts}";
        let embedded = find_templates(text);
        assert_eq!(embedded.len(), 2);
        assert!(!embedded[0].whole);
        assert_eq!(&text[embedded[0].range.clone()], "${steps.burst.first_locked_attempt}");
        assert_eq!(
            embedded[0].source,
            TemplateSource::Step {
                step: "burst".into(),
                observation: "first_locked_attempt".into()
            }
        );
        assert_eq!(embedded[1].source, TemplateSource::Declared("lockout.attempts".into()));
        assert_eq!(embedded[1].source.expression(), "declared.lockout.attempts");
    }

    #[test]
    fn rejects_bad_templates() {
        for bad in [
            "${params}",
            "${param.x}",
            "${target.password}",
            "${steps.a}",
            "${params.a b}",
            "x ${params.a",
        ] {
            let scanned = scan_templates(bad);
            assert!(scanned.iter().any(Result::is_err), "{bad} should be rejected");
            assert!(find_templates(bad).is_empty(), "{bad}");
        }
    }

    #[test]
    fn plain_text_has_no_templates() {
        assert!(scan_templates("no $ {templates} here $").is_empty());
    }
}
