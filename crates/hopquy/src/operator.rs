//! Operator answers: from an answers file first, then (interactive runs on a terminal) a
//! bilingual prompt; otherwise no answer, which the runner turns into `inconclusive`.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use hopquy_runner::{Operator, OperatorAnswer, OperatorRequest};

/// Parsed answers file, keyed by (case, step).
#[derive(Debug, Default)]
pub struct Answers {
    entries: BTreeMap<(String, String), OperatorAnswer>,
}

impl Answers {
    /// Loads an answers file without knowing the cases (the demo's own dossier).
    pub fn load(path: &Path) -> Result<Answers, String> {
        let file = hopquy_case::load_answers(path).map_err(|d| hopquy_case::render_diagnostics(&d))?;
        Ok(Answers::from_file(path, file))
    }

    /// Loads an answers file whose every case and step id must be one of `cases`' operator
    /// or document steps: a mistyped id is an error, not a silently unanswered step.
    pub fn load_for(path: &Path, suite: &hopquy_case::Suite) -> Result<Answers, String> {
        let cases: Vec<&hopquy_case::Case> = suite.cases.iter().map(|loaded| &loaded.case).collect();
        let file = hopquy_case::load_answers_for(path, &cases).map_err(|d| hopquy_case::render_diagnostics(&d))?;
        Ok(Answers::from_file(path, file))
    }

    /// The (case, step) pairs answered.
    pub fn answered(&self) -> Vec<(String, String)> {
        self.entries.keys().cloned().collect()
    }

    fn from_file(path: &Path, file: hopquy_case::AnswersFile) -> Answers {
        let base = path.parent().unwrap_or(Path::new("."));
        let mut entries = BTreeMap::new();
        for a in file.answer {
            let attachments = a
                .attachments
                .iter()
                .map(|p| {
                    let p = PathBuf::from(p);
                    if p.is_absolute() { p } else { base.join(p) }
                })
                .collect();
            entries.insert(
                (a.case.clone(), a.step.clone()),
                OperatorAnswer {
                    answer: a.answer.clone(),
                    attachments,
                    note: a.note.clone(),
                    by: a.by.clone(),
                },
            );
        }
        Answers { entries }
    }
}

pub struct BenchOperator {
    answers: Answers,
    interactive: bool,
    // One prompt at a time on the terminal.
    tty: Mutex<()>,
}

impl BenchOperator {
    pub fn new(answers: Answers, non_interactive: bool) -> Self {
        let interactive = !non_interactive && std::io::stdin().is_terminal() && std::io::stderr().is_terminal();
        BenchOperator {
            answers,
            interactive,
            tty: Mutex::new(()),
        }
    }
}

impl Operator for BenchOperator {
    fn prompts_on_terminal(&self) -> bool {
        self.interactive
    }

    fn ask(&self, req: &OperatorRequest) -> Option<OperatorAnswer> {
        if let Some(a) = self.answers.entries.get(&(req.case_id.clone(), req.step_id.clone())) {
            return Some(a.clone());
        }
        if !self.interactive {
            return None;
        }
        let _guard = self.tty.lock().ok()?;
        let mut err = std::io::stderr();
        let _ = writeln!(
            err,
            "\n━━ Thao tác của kiểm định viên / Operator action — {} ({})",
            req.case_title, req.case_id
        );
        let _ = writeln!(err, "VI: {}", req.prompt_vi);
        let _ = writeln!(err, "EN: {}", req.prompt_en);
        let hint = match req.answer_kind.as_str() {
            "yes-no" => "Trả lời có/không — answer yes/no (empty = skip)",
            "confirm" => "Nhấn Enter khi xong, gõ 'skip' để bỏ qua — press Enter when done, type 'skip' to skip",
            "attachment" => "Đường dẫn tệp đính kèm — path of the file to attach (empty = skip)",
            _ => "Nhập câu trả lời — type the answer (empty = skip)",
        };
        let _ = write!(err, "{hint}\n> ");
        let _ = err.flush();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).ok()?;
        let line = line.trim().to_owned();
        match req.answer_kind.as_str() {
            "confirm" if line.eq_ignore_ascii_case("skip") => None,
            "confirm" => Some(OperatorAnswer {
                answer: "done".into(),
                ..Default::default()
            }),
            _ if line.is_empty() => None,
            "attachment" => Some(OperatorAnswer {
                answer: "attached".into(),
                attachments: vec![PathBuf::from(line)],
                ..Default::default()
            }),
            _ => Some(OperatorAnswer {
                answer: line,
                ..Default::default()
            }),
        }
    }
}
