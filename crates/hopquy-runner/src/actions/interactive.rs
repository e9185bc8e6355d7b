//! `operator` and `document` steps: a person acts or supplies evidence; the answer is
//! recorded as evidence. Without an answer the step fails with `NoAnswer`, which makes the
//! case inconclusive — never blocking, never a silent pass.

use std::sync::Arc;

use hopquy_case::observations::{AnswerObservations, Observations};
use hopquy_case::{AnswerKind, Case, Step};
use serde_json::json;

use super::{ActionError, ActionOutput, RunContext};
use crate::run::{OperatorAnswer, OperatorRequest};

pub async fn ask(step: &Step, case: &Case, ctx: &RunContext<'_>) -> Result<ActionOutput, ActionError> {
    let Some((prompt_en, prompt_vi, kind)) = step.action.get_ref().question() else {
        return Err(ActionError::Definition(format!(
            "`{}` is not an operator or document step",
            step.action.get_ref().name()
        )));
    };
    if step.action.get_ref().is_destructive() && !ctx.allow_destructive {
        return Err(ActionError::NoAnswer(
            "the step is destructive and --allow-destructive was not given".into(),
        ));
    }
    let answer_kind = kind.as_str();
    let request = OperatorRequest {
        case_id: case.id.get_ref().clone(),
        case_title: case.title.clone(),
        step_id: step.id.get_ref().clone(),
        prompt_en: prompt_en.to_owned(),
        prompt_vi: prompt_vi.to_owned(),
        answer_kind: answer_kind.to_owned(),
    };
    let operator = Arc::clone(&ctx.operator);
    // Operators may block on a terminal; keep the runtime's workers free.
    let answer: Option<OperatorAnswer> = tokio::task::spawn_blocking(move || operator.ask(&request))
        .await
        .map_err(|e| ActionError::Definition(format!("operator prompt failed: {e}")))?;
    let Some(answer) = answer else {
        return Err(ActionError::NoAnswer(format!(
            "step `{}` needs an operator answer ({answer_kind}); none was given (use --answers FILE or run interactively)",
            step.id.get_ref()
        )));
    };
    if kind == AnswerKind::Attachment && answer.attachments.is_empty() {
        return Err(ActionError::NoAnswer(format!(
            "step `{}` needs an attached file; none was given",
            step.id.get_ref()
        )));
    }
    for path in &answer.attachments {
        if !path.is_file() {
            return Err(ActionError::NoAnswer(format!(
                "attachment {} is not a readable file",
                path.display()
            )));
        }
    }
    let normalized = match kind {
        AnswerKind::YesNo => match answer.answer.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" | "có" | "co" => "yes".to_owned(),
            "n" | "no" | "không" | "khong" => "no".to_owned(),
            other => {
                return Err(ActionError::NoAnswer(format!("answer {other:?} is not yes or no")));
            }
        },
        AnswerKind::Confirm => "done".to_owned(),
        AnswerKind::Text | AnswerKind::Attachment => answer.answer.clone(),
    };
    let names: Vec<String> = answer
        .attachments
        .iter()
        .map(|p| {
            p.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        })
        .collect();
    let record = json!({
        "answer": normalized,
        "note": answer.note,
        "by": answer.by,
        "attachments": names,
        "answered_at": chrono::Utc::now().to_rfc3339(),
    });
    Ok(ActionOutput {
        observations: AnswerObservations {
            answered: Some(true),
            answer: Some(normalized),
            attachments: Some(names),
            note: Some(answer.note.clone()),
        }
        .into_value(),
        answer: Some(record),
        attachments: answer.attachments,
    })
}
