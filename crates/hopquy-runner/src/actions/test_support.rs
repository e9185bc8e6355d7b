//! Shared by the action modules' unit tests.

use crate::run::{Operator, OperatorAnswer, OperatorRequest};

/// Answers nothing: operator and document steps become inconclusive.
pub struct NoOperator;

impl Operator for NoOperator {
    fn ask(&self, _request: &OperatorRequest) -> Option<OperatorAnswer> {
        None
    }
}
