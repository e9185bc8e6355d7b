//! One integration binary (uv / ripgrep style): the suite tests itself against the simulated
//! camera, the CLI contract is exercised through the built binary, and broken devices are
//! shown to give bounded `error` verdicts.

#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod bin;
mod cases;
mod cli;
mod demo;
mod evidence;
mod firmware;
mod fleet;
mod fleet_nats;
mod hostile;
mod known_vulns;
mod lab_net;
mod plan;
