//! Progress on stderr: a live bar on a terminal (indicatif), one plain line per finished case
//! otherwise (CI logs), or JSON events on stdout with `--json`.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

use hopquy_evidence::Event;
use indicatif::{ProgressBar, ProgressStyle};

use crate::commands::run::shorten_at_word;

pub struct Progress {
    json: bool,
    bar: Option<ProgressBar>,
    out: Mutex<()>,
}

impl Progress {
    /// `prompts`: an operator may be prompted on the terminal, which a live bar would garble.
    pub fn new(json: bool, prompts: bool) -> Self {
        let bar = (!json && !prompts && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(0);
            let style = ProgressStyle::with_template("{spinner} [{pos}/{len}] {elapsed_precise} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(std::time::Duration::from_millis(200));
            bar
        });
        Progress {
            json,
            bar,
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
        match (ev, &self.bar) {
            (
                Event::RunStarted {
                    planned_cases,
                    regulation,
                    ..
                },
                bar,
            ) => {
                let line = format!("running {} cases against {regulation}", planned_cases.len());
                match bar {
                    Some(b) => {
                        b.set_length(planned_cases.len() as u64);
                        b.println(line);
                    }
                    None => errln!("{line}"),
                }
            }
            (Event::CaseStarted { case, index, total, .. }, Some(b)) => {
                b.set_position(index.saturating_sub(1) as u64);
                b.set_message(format!("{case} ({index}/{total})"));
            }
            (Event::CaseStarted { case, index, total, .. }, None) => {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "[{index:>3}/{total}] {case:<44} ");
                let _ = err.flush();
            }
            (Event::StepFinished { case, step, .. }, Some(b)) => b.set_message(format!("{case} · {step}")),
            (Event::OperatorPrompt { case, .. }, Some(b)) => b.set_message(format!("{case}: waiting for the operator")),
            (
                Event::CaseFinished {
                    case,
                    verdict,
                    summary,
                    cause,
                    ..
                },
                bar,
            ) => {
                let mut short = shorten_at_word(summary.lines().next().unwrap_or(""), 110);
                // The class only; its hint is printed once, under the clause table.
                if let Some(cause) = cause {
                    short.push_str(&format!(" [{cause}]"));
                }
                match bar {
                    Some(b) => {
                        b.inc(1);
                        b.println(format!("{case:<44} {:<14} {short}", verdict.as_str()));
                    }
                    None => errln!("{:<14} {short}", verdict.as_str()),
                }
            }
            (Event::RunFinished { .. }, Some(b)) => b.finish_and_clear(),
            _ => {}
        }
    }
}
