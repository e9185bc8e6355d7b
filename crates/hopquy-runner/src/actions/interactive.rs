//! `operator` and `document` steps: a person acts or supplies evidence; the answer is
//! recorded as evidence. Without an answer the step fails with `NoAnswer`, which makes the
//! case inconclusive — never blocking, never a silent pass.

use std::sync::Arc;

use hopquy_case::{Case, Step};
use serde_json::json;

use super::{ActionError, ActionOutput, RunContext};
use crate::run::{OperatorAnswer, OperatorRequest};

pub async fn ask(step: &Step, case: &Case, ctx: &RunContext<'_>) -> Result<ActionOutput, ActionError> {
    if step.destructive == Some(true) && !ctx.allow_destructive {
        return Err(ActionError::NoAnswer(
            "the step is destructive and --allow-destructive was not given".into(),
        ));
    }
    let answer_kind = step.answer.as_ref().map(|a| a.get_ref().clone()).unwrap_or_else(|| {
        if step.action.get_ref() == "document" {
            "attachment".into()
        } else {
            "confirm".into()
        }
    });
    let request = OperatorRequest {
        case_id: case.id.get_ref().clone(),
        case_title: case.title.clone(),
        step_id: step.id.get_ref().clone(),
        prompt_en: step.prompt.clone().unwrap_or_default(),
        prompt_vi: step.prompt_vi.clone().unwrap_or_default(),
        answer_kind: answer_kind.clone(),
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
    if answer_kind == "attachment" && answer.attachments.is_empty() {
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
    let normalized = match answer_kind.as_str() {
        "yes-no" => match answer.answer.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" | "có" | "co" => "yes".to_owned(),
            "n" | "no" | "không" | "khong" => "no".to_owned(),
            other => {
                return Err(ActionError::NoAnswer(format!("answer {other:?} is not yes or no")));
            }
        },
        "confirm" => "done".to_owned(),
        _ => answer.answer.clone(),
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
        observations: json!({"answered": true, "answer": normalized, "attachments": names, "note": answer.note}),
        answer: Some(record),
        attachments: answer.attachments,
    })
}
