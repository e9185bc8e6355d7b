//! Case, profile, target and regulation-catalogue model. Parses and validates TOML with
//! file:line:column errors. No network, no verdicts.
pub mod model;
pub use model::*;
