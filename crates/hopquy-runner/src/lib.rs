//! The runner plans and executes cases against one device, decides every verdict, and
//! emits the run's event stream.
//!
//! Architecture invariants:
//! - This is the only crate that decides verdicts. Probes observe; the CLI prints.
//! - The runner writes no files: evidence (exchanges, answers, events) is handed to a
//!   [`RunObserver`] as it is produced, so a reporter can persist it before the next case
//!   starts and an interrupted run loses nothing already observed.
//! - Cases run one at a time against the device, read-only first, then cases that may lock
//!   an account, then configuration changes, then destructive ones (only with
//!   `allow_destructive`). A lockout case therefore cannot spoil a later read-only case.
//! - A step's transport failure is an `error` (or `inconclusive` if the case says so), with
//!   the failed exchange recorded; the run goes on with the next case.

pub mod actions;
pub mod classify;
pub mod estimate;
pub mod expect;
pub mod identify;
pub mod lab_net;
pub mod measured;
pub mod plan;
pub mod run;
pub mod selection;
pub mod template;

pub use estimate::{CaseEstimate, RunEstimate, SweepEstimate};
pub use lab_net::LabNetControl;
pub use plan::{Plan, PlannedCase, Skip};
pub use run::{
    CaseOutcome, InputError, Operator, OperatorAnswer, OperatorRequest, RunInput, RunObserver, RunOptions, RunOutcome,
    Runner, Target, run,
};
pub use selection::{EffectFilter, Selection, SelectionError};
