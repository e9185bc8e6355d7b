//! Fleet inspection: many deployed cameras audited with the read-only inspection suite, the
//! results kept in one store and reported per camera and per clause.
//!
//! Modules: `inventory` (the lab's or agency's list of cameras, CSV or TOML, checked with
//! file:line diagnostics, each row turned into a target file), `inspection` (the fixed case
//! selection and the guard every planned case passes), `store` (the results store: the
//! [`store::FleetStore`] trait and its one implementation, SQLite), `report` (the fleet report
//! model, its CSV/JSON/HTML writers and the diff of two fleet runs), `nats` (a fleet run shared
//! by many machines through NATS JetStream: work queue, results, redelivery).
//!
//! Invariants:
//! - A case that could lock an account, change a setting, create a user, try a credential
//!   dictionary or needs a person never runs in a fleet audit: [`inspection::guard`] refuses
//!   it, whatever selection produced it. The fleet runner calls it on every planned case.
//! - An inventory never holds a password: credentials are a username plus a reference
//!   (`password_env` or `credentials_file`); a `password` column or key is an error.
//! - Unknown inventory columns and keys are errors naming file and line; one bad line means
//!   nothing is audited.
//! - A device is recorded in one store transaction when it finishes (its device row and all
//!   its case rows, or nothing), so a crash, Ctrl-C or full disk loses no finished device and
//!   `--resume` redoes no recorded one.
//! - No verdicts here: they come from the runner, through bundles. The one network peer is
//!   the NATS server of `nats`; cameras are contacted only by the runner.

pub mod inspection;
pub mod inventory;
pub mod nats;
pub mod report;
pub mod store;

pub use inspection::{INSPECTION_SUITE, Refusal, guard, inspection_cases, inspection_selection};
pub use inventory::{
    CredentialRef, DeviceEntry, Inventory, InventoryError, load_inventory, parse_inventory, write_csv,
};
pub use report::{FleetDiff, FleetReport, build_report, diff_reports};
pub use store::{DeviceRecord, DeviceStatus, FleetStore, RunMeta, SqliteStore, StoreError};
