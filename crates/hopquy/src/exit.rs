//! The one place where errors become exit codes (DESIGN §5):
//! 0 all applicable clauses pass; 1 some clause fails; 2 usage or input-file error;
//! 3 device unreachable / run could not start; 4 run finished with inconclusive or error
//! verdicts only (no fail).

use hopquy_evidence::{Results, Verdict};

pub const PASS: u8 = 0;
pub const FAIL: u8 = 1;
pub const INPUT: u8 = 2;
pub const UNREACHABLE: u8 = 3;
pub const INCONCLUSIVE: u8 = 4;

#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Bad flags or arguments.
    #[error("{0}")]
    Usage(String),
    /// A user file (case, profile, target, answers, key) is wrong; already rendered.
    #[error("{0}")]
    Input(String),
    /// The device could not be reached, or the run could not start.
    #[error("{0}")]
    CannotStart(String),
    /// No port of the device answered.
    #[error("{0}")]
    Unreachable(String),
    /// The evidence could not be written (a full disk, a read-only directory): no device is
    /// at fault, so a fleet run stops rather than recording it against the device.
    #[error("{0}")]
    Storage(String),
    /// Verification or diff found problems (reported as a failure, exit 1).
    #[error("{0}")]
    Failed(String),
    #[error("{context}: {source}")]
    Io { context: String, source: std::io::Error },
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) | CliError::Input(_) => INPUT,
            CliError::CannotStart(_) | CliError::Unreachable(_) | CliError::Storage(_) | CliError::Io { .. } => {
                UNREACHABLE
            }
            CliError::Failed(_) => FAIL,
        }
    }

    /// The line(s) printed for this error: one `error:` prefix, whether or not the message
    /// is rendered diagnostics that carry their own.
    pub fn printed(&self) -> String {
        let text = self.to_string();
        if text.starts_with("error:") || text.starts_with("error[") {
            text
        } else {
            format!("error: {text}")
        }
    }

    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> CliError {
        let context = context.into();
        move |source| CliError::Io { context, source }
    }
}

/// Exit code of a finished run. Clauses no case tested are no passes: they are outside
/// `clauses`, and a run that tested no clause at all is inconclusive.
pub fn for_results(results: &Results) -> u8 {
    if results.clauses.is_empty() {
        return INCONCLUSIVE;
    }
    let verdicts: Vec<Verdict> = results.clauses.iter().map(|c| c.verdict).collect();
    if verdicts.contains(&Verdict::Fail) {
        FAIL
    } else if verdicts
        .iter()
        .any(|v| matches!(v, Verdict::Error | Verdict::Inconclusive))
    {
        INCONCLUSIVE
    } else {
        PASS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_is_printed_with_one_prefix() {
        let rendered = CliError::Input("error: case `x` has no step `conform`\n  --> a.toml:3:8".into());
        assert!(
            rendered.printed().starts_with("error: case `x`"),
            "{}",
            rendered.printed()
        );
        assert_eq!(rendered.printed().matches("error:").count(), 1);
        assert_eq!(
            CliError::Usage("unknown case id".into()).printed(),
            "error: unknown case id"
        );
    }
}
