//! The reporter: persists the runner's events and per-case evidence into a bundle as they
//! arrive, then finishes it (results, junit, report, manifest, signature).

use std::sync::Mutex;

use hopquy_evidence::paths::{self, ANSWERS_FILE, CASE_RESULT_FILE, EVENTS_FILE};
use hopquy_evidence::{BundleWriter, Event};
use hopquy_runner::{CaseOutcome, RunObserver};

use crate::progress::Progress;

pub struct BundleObserver {
    pub writer: Mutex<BundleWriter>,
    pub progress: Progress,
    /// First write failure: the run stops being trustworthy evidence, so the CLI reports it.
    pub failure: Mutex<Option<String>>,
}

impl BundleObserver {
    pub fn new(writer: BundleWriter, progress: Progress) -> Self {
        BundleObserver {
            writer: Mutex::new(writer),
            progress,
            failure: Mutex::new(None),
        }
    }

    fn note_failure(&self, what: String) {
        if let Ok(mut f) = self.failure.lock()
            && f.is_none()
        {
            tracing::error!("{what}");
            *f = Some(what);
        }
    }

    pub fn take(self) -> (Result<BundleWriter, String>, Option<String>) {
        let failure = self.failure.into_inner().ok().flatten();
        (
            self.writer
                .into_inner()
                .map_err(|_| "bundle writer poisoned".to_owned()),
            failure,
        )
    }
}

impl RunObserver for BundleObserver {
    fn event(&self, event: &Event) {
        self.progress.event(event);
        let result = match self.writer.lock() {
            Ok(mut w) => w.append_event(event).map_err(|e| e.to_string()),
            Err(_) => Err("bundle writer poisoned".into()),
        };
        if let Err(e) = result {
            self.note_failure(format!("writing {EVENTS_FILE}: {e}"));
        }
    }

    fn case_done(&self, outcome: &CaseOutcome) {
        let Ok(mut w) = self.writer.lock() else {
            self.note_failure("bundle writer poisoned".into());
            return;
        };
        let id = &outcome.result.id;
        // The case's own result, so an interrupted run can be resumed without redoing it.
        match serde_json::to_vec_pretty(&outcome.result) {
            Ok(bytes) => {
                if let Err(e) = w.write_case_file(id, CASE_RESULT_FILE, &bytes) {
                    self.note_failure(format!("writing the result of {id}: {e}"));
                }
            }
            Err(e) => self.note_failure(format!("encoding the result of {id}: {e}")),
        }
        if !outcome.exchanges.is_empty()
            && let Err(e) = w.write_exchanges(id, &outcome.exchanges)
        {
            self.note_failure(format!("writing exchanges of {id}: {e}"));
        }
        if !outcome.answers.is_empty() {
            match serde_json::to_vec_pretty(&outcome.answers) {
                Ok(bytes) => {
                    if let Err(e) = w.write_case_file(id, ANSWERS_FILE, &bytes) {
                        self.note_failure(format!("writing answers of {id}: {e}"));
                    }
                }
                Err(e) => self.note_failure(format!("encoding answers of {id}: {e}")),
            }
        }
        for (step, path) in &outcome.attachments {
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "attachment".into());
            match std::fs::read(path) {
                Ok(bytes) => {
                    if let Err(e) = w.write_case_file(id, &paths::attachment(step, &name), &bytes) {
                        self.note_failure(format!("writing attachment {name} of {id}: {e}"));
                    }
                }
                Err(e) => self.note_failure(format!("reading attachment {}: {e}", path.display())),
            }
        }
    }
}
