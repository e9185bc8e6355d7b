//! Shared helpers for the black-box suite.
