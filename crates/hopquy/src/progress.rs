//! Progress on stderr: one plain line per finished case (also when not a terminal, so CI
//! logs read well), or JSON events on stdout with `--json`.

use std::io::Write;
use std::sync::Mutex;

use hopquy_evidence::Event;

pub struct Progress {
    json: bool,
    out: Mutex<()>,
}

impl Progress {
    pub fn new(json: bool) -> Self {
        Progress {
            json,
            out: Mutex::new(()),
        }
    }

    pub fn event(&self, ev: &Event) {
        let Ok(_guard) = self.out.lock() else { return };
        if self.json {
            if let Ok(line) = serde_json::to_string(ev) {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
            return;
        }
        let mut err = std::io::stderr().lock();
        match ev {
            Event::RunStarted {
                planned_cases,
                regulation,
                ..
            } => {
                let _ = writeln!(err, "running {} cases against {regulation}", planned_cases.len());
            }
            Event::CaseStarted { case, index, total, .. } => {
                let _ = write!(err, "[{index:>3}/{total}] {case:<44} ");
                let _ = err.flush();
            }
            Event::CaseFinished { verdict, summary, .. } => {
                let first_line = summary.lines().next().unwrap_or("");
                let short: String = first_line.chars().take(110).collect();
                let _ = writeln!(err, "{:<14} {short}", verdict.as_str());
            }
            _ => {}
        }
    }
}
