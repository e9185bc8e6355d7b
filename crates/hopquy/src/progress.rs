//! Progress on stderr: a live bar on a terminal (indicatif), one plain line per finished case
//! otherwise (CI logs), or JSON events on stdout with `--json`.
//!
//! Progress never goes silent: the bar shows the case's elapsed time against the plan's
//! estimate and the run's remaining time, refreshed every second; without a terminal, a case
//! that runs past a minute prints a line each minute saying so.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hopquy_evidence::Event;
use hopquy_runner::estimate::human;
use indicatif::{ProgressBar, ProgressStyle};

use crate::commands::run::shorten_at_word;

/// How often a plain-log run says a long case is still going.
const HEARTBEAT: Duration = Duration::from_secs(60);

pub struct Progress {
    json: bool,
    /// Shows nothing: a fleet run's devices report through the fleet's own progress line.
    silent: bool,
    bar: Option<ProgressBar>,
    state: Arc<Mutex<State>>,
    ticker: Option<std::thread::JoinHandle<()>>,
    stop: Arc<std::sync::atomic::AtomicBool>,
}

/// What the display knows of the run's timing.
#[derive(Debug, Default)]
struct State {
    run_estimate: Option<Duration>,
    /// Estimates of the cases finished so far, summed: the run's ETA subtracts them.
    finished_estimates: Duration,
    current: Option<Current>,
    /// A plain-log case line was started and not ended with its verdict.
    line_open: bool,
}

#[derive(Debug)]
struct Current {
    case: String,
    index: usize,
    total: usize,
    started: Instant,
    estimate: Option<Duration>,
    step: Option<String>,
    last_heartbeat: Instant,
}

impl State {
    /// `lockout-http (18/36) · 1 min 5 s of ~5 min · run ~14 min left`.
    fn line(&self) -> Option<String> {
        let c = self.current.as_ref()?;
        let elapsed = c.started.elapsed();
        let mut line = format!("{} ({}/{})", c.case, c.index, c.total);
        if let Some(step) = &c.step {
            line.push_str(&format!(" · {step}"));
        }
        line.push_str(&format!(" · {}", human(elapsed)));
        if let Some(est) = c.estimate.filter(|e| *e >= Duration::from_secs(5)) {
            line.push_str(&format!(" of ~{}", human(est)));
        }
        if let Some(left) = self.run_left() {
            line.push_str(&format!(" · run ~{} left", human(left)));
        }
        Some(line)
    }

    /// The run's estimate minus the finished cases' estimates and the current case's
    /// elapsed time (never below what the current case still has to go).
    fn run_left(&self) -> Option<Duration> {
        let total = self.run_estimate?;
        let c = self.current.as_ref()?;
        let elapsed = c.started.elapsed();
        let current_left = c.estimate.unwrap_or_default().saturating_sub(elapsed);
        let after_current = total
            .saturating_sub(self.finished_estimates)
            .saturating_sub(c.estimate.unwrap_or_default());
        Some(after_current + current_left)
    }
}

impl Progress {
    /// `prompts`: an operator may be prompted on the terminal, which a live bar would garble.
    pub fn new(json: bool, prompts: bool) -> Self {
        let bar = (!json && !prompts && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::new(0);
            let style = ProgressStyle::with_template("{spinner} [{pos}/{len}] {elapsed_precise} {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        // JSON consumers have the events' own estimates; everyone else gets a ticker.
        let ticker = (!json).then(|| {
            let (state, stop, bar) = (state.clone(), stop.clone(), bar.clone());
            std::thread::spawn(move || tick(&state, &stop, bar.as_ref()))
        });
        Progress {
            json,
            silent: false,
            bar,
            state,
            ticker,
            stop,
        }
    }

    /// Shows nothing (no bar, no ticker, no lines).
    pub fn silent() -> Self {
        Progress {
            json: false,
            silent: true,
            bar: None,
            state: Arc::new(Mutex::new(State::default())),
            ticker: None,
            stop: Arc::new(std::sync::atomic::AtomicBool::new(false)),
        }
    }

    pub fn event(&self, ev: &Event) {
        if self.silent {
            return;
        }
        let Ok(mut state) = self.state.lock() else { return };
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
                    estimated_s,
                    ..
                },
                bar,
            ) => {
                state.run_estimate = estimated_s.map(Duration::from_secs);
                let mut line = format!("running {} cases against {regulation}", planned_cases.len());
                if let Some(s) = estimated_s {
                    line.push_str(&format!(
                        ", about {} of machine time (`hopquy plan` shows why)",
                        human(Duration::from_secs(*s))
                    ));
                }
                match bar {
                    Some(b) => {
                        b.set_length(planned_cases.len() as u64);
                        b.println(line);
                    }
                    None => errln!("{line}"),
                }
            }
            (
                Event::CaseStarted {
                    case,
                    index,
                    total,
                    estimated_s,
                    ..
                },
                bar,
            ) => {
                let estimate = estimated_s.map(Duration::from_secs);
                state.current = Some(Current {
                    case: case.clone(),
                    index: *index,
                    total: *total,
                    started: Instant::now(),
                    estimate,
                    step: None,
                    last_heartbeat: Instant::now(),
                });
                match bar {
                    Some(b) => {
                        b.set_position(index.saturating_sub(1) as u64);
                        if let Some(line) = state.line() {
                            b.set_message(line);
                        }
                    }
                    None => {
                        let mut err = std::io::stderr().lock();
                        let _ = write!(err, "[{index:>3}/{total}] {case:<44} ");
                        if let Some(est) = estimate.filter(|e| *e >= Duration::from_secs(30)) {
                            let _ = write!(err, "(about {}) ", human(est));
                        }
                        let _ = err.flush();
                        state.line_open = true;
                    }
                }
            }
            (Event::StepFinished { step, .. }, bar) => {
                if let Some(c) = state.current.as_mut() {
                    c.step = Some(step.clone());
                }
                if let (Some(b), Some(line)) = (bar, state.line()) {
                    b.set_message(line);
                }
            }
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
                if let Some(c) = state.current.take() {
                    state.finished_estimates += c.estimate.unwrap_or_default();
                }
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
                    // A heartbeat broke the case's line: name the case again.
                    None if !state.line_open => errln!("        {case:<44} {:<14} {short}", verdict.as_str()),
                    None => errln!("{:<14} {short}", verdict.as_str()),
                }
                state.line_open = false;
            }
            (Event::RunFinished { .. }, bar) => {
                state.current = None;
                if let Some(b) = bar {
                    b.finish_and_clear();
                }
            }
            _ => {}
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.ticker.take() {
            let _ = t.join();
        }
    }
}

/// Refreshes the bar's message each second; without a bar, says once a minute that a long
/// case is still running.
fn tick(state: &Mutex<State>, stop: &std::sync::atomic::AtomicBool, bar: Option<&ProgressBar>) {
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(250));
        let Ok(mut state) = state.lock() else { return };
        match bar {
            Some(b) => {
                if let Some(line) = state.line() {
                    b.set_message(line);
                }
            }
            None => {
                let due = state
                    .current
                    .as_ref()
                    .is_some_and(|c| c.last_heartbeat.elapsed() >= HEARTBEAT);
                if due && let Some(line) = state.line() {
                    if state.line_open {
                        errln!("");
                        state.line_open = false;
                    }
                    errln!("        … still running: {line}");
                    if let Some(c) = state.current.as_mut() {
                        c.last_heartbeat = Instant::now();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_run_eta_counts_down_with_finished_cases_and_the_current_one() {
        let mut state = State {
            run_estimate: Some(Duration::from_secs(600)),
            finished_estimates: Duration::from_secs(100),
            ..Default::default()
        };
        state.current = Some(Current {
            case: "lockout-http".into(),
            index: 18,
            total: 36,
            started: Instant::now() - Duration::from_secs(60),
            estimate: Some(Duration::from_secs(300)),
            step: Some("burst".into()),
            last_heartbeat: Instant::now(),
        });
        // 600 - 100 finished - 300 current = 200 after it, plus 240 of the current case left.
        let left = state.run_left().unwrap_or_default().as_secs();
        assert!((439..=440).contains(&left), "{left}");
        let line = state.line().unwrap_or_default();
        assert!(
            line.starts_with("lockout-http (18/36) · burst · 1 min of ~5 min · run ~7 min"),
            "{line}"
        );
    }

    #[test]
    fn a_case_over_its_estimate_never_counts_below_zero() {
        let state = State {
            run_estimate: Some(Duration::from_secs(100)),
            current: Some(Current {
                case: "c".into(),
                index: 1,
                total: 1,
                started: Instant::now() - Duration::from_secs(500),
                estimate: Some(Duration::from_secs(100)),
                step: None,
                last_heartbeat: Instant::now(),
            }),
            ..Default::default()
        };
        assert_eq!(state.run_left(), Some(Duration::ZERO));
    }
}
