//! The fleet results store: one fleet run per store, one row per device, one row per device
//! and case. [`FleetStore`] is what the fleet runner and the report need; SQLite (embedded,
//! a single file in the fleet directory) is its one implementation, a shared queue's store
//! can be another.

use std::collections::BTreeSet;
use std::path::Path;

use hopquy_evidence::Verdict;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

/// The store's file name inside a fleet directory.
pub const STORE_FILE: &str = "fleet.sqlite";
/// Bumped only when a change is not additive.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started TEXT NOT NULL,
    inventory TEXT NOT NULL,
    inventory_digest TEXT NOT NULL,
    suite TEXT NOT NULL,
    regulation TEXT NOT NULL,
    cases TEXT NOT NULL,
    tool_version TEXT NOT NULL,
    device_count INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS devices (
    run_id TEXT NOT NULL REFERENCES runs(run_id),
    device_id TEXT NOT NULL,
    host TEXT NOT NULL,
    site TEXT,
    owner TEXT,
    profile TEXT NOT NULL,
    status TEXT NOT NULL,
    detail TEXT,
    bundle TEXT,
    bundle_host TEXT,
    bundle_path TEXT,
    started TEXT NOT NULL,
    finished TEXT NOT NULL,
    PRIMARY KEY (run_id, device_id)
);
CREATE TABLE IF NOT EXISTS case_results (
    run_id TEXT NOT NULL,
    device_id TEXT NOT NULL,
    case_id TEXT NOT NULL,
    verdict TEXT NOT NULL,
    clauses TEXT NOT NULL,
    summary TEXT NOT NULL,
    PRIMARY KEY (run_id, device_id, case_id),
    FOREIGN KEY (run_id, device_id) REFERENCES devices(run_id, device_id)
);
";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the fleet store {path}: {source}")]
    Sqlite {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("the fleet store {0} holds no fleet run")]
    NoRun(String),
    #[error("the fleet store {path} has schema version {found}; this hopquy reads version {SCHEMA_VERSION}")]
    Schema { path: String, found: String },
    #[error("the fleet store {path}: device `{device}` is already recorded")]
    AlreadyRecorded { path: String, device: String },
    #[error("the fleet store {path}: a stored value is not valid: {what}")]
    Corrupt { path: String, what: String },
}

/// What a fleet run is: recorded once, when it starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunMeta {
    pub run_id: String,
    pub started: String,
    pub inventory: String,
    pub inventory_digest: String,
    pub suite: String,
    pub regulation: String,
    /// The case ids every device is audited with.
    pub cases: Vec<String>,
    pub tool_version: String,
    pub device_count: usize,
}

/// How a device's audit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    /// The suite ran; the case rows hold the verdicts.
    Audited,
    /// No port of the device answered.
    Unreachable,
    /// The audit could not start or finish (timeout, bad target, …); `detail` says why.
    Error,
    /// `profile = "auto"` found no profile for it (no marker or several, and no ONVIF
    /// answer): nothing was guessed and no case ran; `detail` says what it answered.
    Unidentified,
    /// A shared run's device that every worker taking it lost (killed, crashed) before
    /// recording it, `max_deliver` times: handed out no more; `detail` says how often.
    GaveUp,
}

impl DeviceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::Audited => "audited",
            DeviceStatus::Unreachable => "unreachable",
            DeviceStatus::Error => "error",
            DeviceStatus::Unidentified => "unidentified",
            DeviceStatus::GaveUp => "gave_up",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            DeviceStatus::Audited,
            DeviceStatus::Unreachable,
            DeviceStatus::Error,
            DeviceStatus::Unidentified,
            DeviceStatus::GaveUp,
        ]
        .into_iter()
        .find(|d| d.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseRow {
    pub case: String,
    pub verdict: Verdict,
    pub clauses: Vec<String>,
    pub summary: String,
}

/// One finished device: what is written in one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceRecord {
    pub device: String,
    pub host: String,
    pub site: Option<String>,
    pub owner: Option<String>,
    pub profile: String,
    pub status: DeviceStatus,
    pub detail: Option<String>,
    /// The device's evidence bundle, relative to the fleet directory.
    pub bundle: Option<String>,
    /// The machine that holds the bundle (its host name) and the bundle's absolute path
    /// there: in a shared run the bundles stay on the workers (additive).
    #[serde(default)]
    pub bundle_host: Option<String>,
    #[serde(default)]
    pub bundle_path: Option<String>,
    pub started: String,
    pub finished: String,
    pub cases: Vec<CaseRow>,
}

/// Where fleet results are kept.
pub trait FleetStore {
    /// The run this store holds, if one was started.
    fn run(&self) -> Result<Option<RunMeta>, StoreError>;
    fn start_run(&mut self, meta: &RunMeta) -> Result<(), StoreError>;
    /// Devices already recorded: a resumed run skips them.
    fn finished_devices(&self) -> Result<BTreeSet<String>, StoreError>;
    /// Records a finished device and its case results, all or nothing.
    fn record(&mut self, record: &DeviceRecord) -> Result<(), StoreError>;
    fn devices(&self) -> Result<Vec<DeviceRecord>, StoreError>;
}

pub struct SqliteStore {
    conn: Connection,
    path: String,
}

impl SqliteStore {
    /// Opens (creating if need be) the store in `dir`.
    pub fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        let path = dir.join(STORE_FILE);
        let name = path.display().to_string();
        let conn = Connection::open(&path).map_err(|source| StoreError::Sqlite {
            path: name.clone(),
            source,
        })?;
        let store = SqliteStore { conn, path: name };
        // WAL with full sync: a committed device survives a crash or a power cut; a failed
        // commit (a full disk) leaves the previous state intact.
        store
            .conn
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| store.err(e))?;
        store
            .conn
            .pragma_update(None, "synchronous", "FULL")
            .map_err(|e| store.err(e))?;
        store
            .conn
            .pragma_update(None, "foreign_keys", "ON")
            .map_err(|e| store.err(e))?;
        store.conn.execute_batch(SCHEMA).map_err(|e| store.err(e))?;
        store.add_missing_columns()?;
        let version: Option<String> = store
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'schema_version'", [], |r| r.get(0))
            .optional()
            .map_err(|e| store.err(e))?;
        match version {
            None => {
                store
                    .conn
                    .execute(
                        "INSERT INTO meta (key, value) VALUES ('schema_version', ?1)",
                        params![SCHEMA_VERSION.to_string()],
                    )
                    .map_err(|e| store.err(e))?;
            }
            Some(v) if v == SCHEMA_VERSION.to_string() => {}
            Some(found) => {
                return Err(StoreError::Schema {
                    path: store.path.clone(),
                    found,
                });
            }
        }
        Ok(store)
    }

    /// Opens an existing store for reading (`fleet report`); a directory without one is an
    /// error rather than a new empty store.
    pub fn open_existing(dir: &Path) -> Result<SqliteStore, StoreError> {
        let path = dir.join(STORE_FILE);
        if !path.is_file() {
            return Err(StoreError::NoRun(path.display().to_string()));
        }
        SqliteStore::open(dir)
    }

    /// Columns added since schema version 1 was published (additive: a store written by an
    /// earlier hopquy gains them empty).
    fn add_missing_columns(&self) -> Result<(), StoreError> {
        let have = self.text_column("SELECT name FROM pragma_table_info('devices')")?;
        for column in ["bundle_host", "bundle_path"] {
            if !have.contains(column) {
                self.conn
                    .execute_batch(&format!("ALTER TABLE devices ADD COLUMN {column} TEXT"))
                    .map_err(|e| self.err(e))?;
            }
        }
        Ok(())
    }

    /// The first column of every row `sql` returns, as text.
    fn text_column(&self, sql: &str) -> Result<BTreeSet<String>, StoreError> {
        let mut stmt = self.conn.prepare(sql).map_err(|e| self.err(e))?;
        let values = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.err(e))?
            .collect::<Result<BTreeSet<String>, _>>()
            .map_err(|e| self.err(e))?;
        Ok(values)
    }

    fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    fn corrupt(&self, what: String) -> StoreError {
        StoreError::Corrupt {
            path: self.path.clone(),
            what,
        }
    }
}

impl FleetStore for SqliteStore {
    fn run(&self) -> Result<Option<RunMeta>, StoreError> {
        let row = self
            .conn
            .query_row(
                "SELECT run_id, started, inventory, inventory_digest, suite, regulation, cases, tool_version, device_count FROM runs",
                [],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, String>(4)?,
                        r.get::<_, String>(5)?,
                        r.get::<_, String>(6)?,
                        r.get::<_, String>(7)?,
                        r.get::<_, i64>(8)?,
                    ))
                },
            )
            .optional()
            .map_err(|e| self.err(e))?;
        let Some((run_id, started, inventory, inventory_digest, suite, regulation, cases, tool_version, count)) = row
        else {
            return Ok(None);
        };
        let cases: Vec<String> = serde_json::from_str(&cases).map_err(|e| self.corrupt(format!("runs.cases: {e}")))?;
        Ok(Some(RunMeta {
            run_id,
            started,
            inventory,
            inventory_digest,
            suite,
            regulation,
            cases,
            tool_version,
            device_count: usize::try_from(count).unwrap_or(0),
        }))
    }

    fn start_run(&mut self, meta: &RunMeta) -> Result<(), StoreError> {
        let cases = serde_json::to_string(&meta.cases).unwrap_or_else(|_| "[]".into());
        self.conn
            .execute(
                "INSERT INTO runs (run_id, started, inventory, inventory_digest, suite, regulation, cases, tool_version, device_count) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    meta.run_id,
                    meta.started,
                    meta.inventory,
                    meta.inventory_digest,
                    meta.suite,
                    meta.regulation,
                    cases,
                    meta.tool_version,
                    meta.device_count as i64
                ],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    fn finished_devices(&self) -> Result<BTreeSet<String>, StoreError> {
        self.text_column("SELECT device_id FROM devices")
    }

    fn record(&mut self, record: &DeviceRecord) -> Result<(), StoreError> {
        let run_id: String = self
            .conn
            .query_row("SELECT run_id FROM runs", [], |r| r.get(0))
            .optional()
            .map_err(|e| self.err(e))?
            .ok_or_else(|| StoreError::NoRun(self.path.clone()))?;
        let path = self.path.clone();
        let err = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(err)?;
        let inserted = tx.execute(
            "INSERT INTO devices (run_id, device_id, host, site, owner, profile, status, detail, bundle, started, finished, bundle_host, bundle_path) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
            params![
                run_id,
                record.device,
                record.host,
                record.site,
                record.owner,
                record.profile,
                record.status.as_str(),
                record.detail,
                record.bundle,
                record.started,
                record.finished,
                record.bundle_host,
                record.bundle_path
            ],
        );
        if let Err(rusqlite::Error::SqliteFailure(e, _)) = &inserted
            && e.code == rusqlite::ErrorCode::ConstraintViolation
        {
            return Err(StoreError::AlreadyRecorded {
                path,
                device: record.device.clone(),
            });
        }
        inserted.map_err(err)?;
        for case in &record.cases {
            tx.execute(
                "INSERT INTO case_results (run_id, device_id, case_id, verdict, clauses, summary) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    run_id,
                    record.device,
                    case.case,
                    case.verdict.as_str(),
                    serde_json::to_string(&case.clauses).unwrap_or_else(|_| "[]".into()),
                    case.summary
                ],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(())
    }

    fn devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT device_id, host, site, owner, profile, status, detail, bundle, started, finished, bundle_host, bundle_path FROM devices ORDER BY device_id",
            )
            .map_err(|e| self.err(e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                    r.get::<_, String>(8)?,
                    r.get::<_, String>(9)?,
                    (r.get::<_, Option<String>>(10)?, r.get::<_, Option<String>>(11)?),
                ))
            })
            .map_err(|e| self.err(e))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.err(e))?;
        let mut cases_stmt = self
            .conn
            .prepare(
                "SELECT case_id, verdict, clauses, summary FROM case_results WHERE device_id = ?1 ORDER BY case_id",
            )
            .map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for (
            device,
            host,
            site,
            owner,
            profile,
            status,
            detail,
            bundle,
            started,
            finished,
            (bundle_host, bundle_path),
        ) in rows
        {
            let status =
                DeviceStatus::parse(&status).ok_or_else(|| self.corrupt(format!("device status `{status}`")))?;
            let raw = cases_stmt
                .query_map(params![device], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                    ))
                })
                .map_err(|e| self.err(e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| self.err(e))?;
            let mut cases = Vec::new();
            for (case, verdict, clauses, summary) in raw {
                let verdict: Verdict = serde_json::from_value(serde_json::Value::String(verdict.clone()))
                    .map_err(|_| self.corrupt(format!("verdict `{verdict}`")))?;
                let clauses: Vec<String> =
                    serde_json::from_str(&clauses).map_err(|e| self.corrupt(format!("clauses: {e}")))?;
                cases.push(CaseRow {
                    case,
                    verdict,
                    clauses,
                    summary,
                });
            }
            out.push(DeviceRecord {
                device,
                host,
                site,
                owner,
                profile,
                status,
                detail,
                bundle,
                bundle_host,
                bundle_path,
                started,
                finished,
                cases,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn meta() -> RunMeta {
        RunMeta {
            run_id: "r1".into(),
            started: "2026-01-01T00:00:00Z".into(),
            inventory: "fleet.csv".into(),
            inventory_digest: "d".into(),
            suite: "inspection".into(),
            regulation: "qcvn135-2024".into(),
            cases: vec!["telnet-closed".into(), "tls-https".into()],
            tool_version: "0".into(),
            device_count: 2,
        }
    }

    pub(crate) fn record(id: &str, status: DeviceStatus, verdicts: &[(&str, Verdict, &str)]) -> DeviceRecord {
        DeviceRecord {
            device: id.into(),
            host: "127.0.0.1".into(),
            site: Some("HQ".into()),
            owner: None,
            profile: "simcam".into(),
            status,
            detail: None,
            bundle: Some(format!("devices/{id}")),
            bundle_host: Some("worker-a".into()),
            bundle_path: Some(format!("/srv/fleet/devices/{id}")),
            started: "s".into(),
            finished: "f".into(),
            cases: verdicts
                .iter()
                .map(|(c, v, cl)| CaseRow {
                    case: (*c).into(),
                    verdict: *v,
                    clauses: vec![(*cl).into()],
                    summary: "x".into(),
                })
                .collect(),
        }
    }

    #[test]
    fn devices_round_trip_and_a_device_is_never_recorded_twice() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.run().unwrap(), None);
        store.start_run(&meta()).unwrap();
        let a = record(
            "a",
            DeviceStatus::Audited,
            &[
                ("telnet-closed", Verdict::Fail, "2.6.1"),
                ("tls-https", Verdict::Pass, "2.5.1"),
            ],
        );
        store.record(&a).unwrap();
        let err = store.record(&a).unwrap_err();
        assert!(matches!(err, StoreError::AlreadyRecorded { .. }), "{err}");
        drop(store);
        // Reopened: what was committed is there, once.
        let store = SqliteStore::open_existing(dir.path()).unwrap();
        assert_eq!(store.run().unwrap(), Some(meta()));
        assert_eq!(store.finished_devices().unwrap(), ["a".to_owned()].into());
        assert_eq!(store.devices().unwrap(), vec![a]);
    }

    /// A full disk, as SQLite sees one (`max_page_count` reached: SQLITE_FULL): the device is
    /// refused whole, what was recorded stays, and once there is room it records.
    #[test]
    fn a_full_disk_refuses_the_device_whole_and_loses_nothing_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        store.start_run(&meta()).unwrap();
        let a = record("a", DeviceStatus::Audited, &[("tls-https", Verdict::Pass, "2.5.1")]);
        store.record(&a).unwrap();
        let pages: i64 = store.conn.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
        store.conn.pragma_update(None, "max_page_count", pages).unwrap();
        let mut big = record("b", DeviceStatus::Audited, &[]);
        big.cases = (0..200)
            .map(|i| CaseRow {
                case: format!("case-{i}"),
                verdict: Verdict::Fail,
                clauses: vec!["2.6.1".into()],
                summary: "x".repeat(2000),
            })
            .collect();
        let err = store.record(&big).unwrap_err();
        assert!(err.to_string().contains("full"), "{err}");
        assert_eq!(store.finished_devices().unwrap(), ["a".to_owned()].into());
        store.conn.pragma_update(None, "max_page_count", 1_000_000).unwrap();
        store.record(&big).unwrap();
        assert_eq!(store.devices().unwrap().len(), 2);
    }

    /// A store written before the bundle's host and path were kept opens, gains the columns
    /// and keeps its devices (their location unknown).
    #[test]
    fn an_older_store_gains_the_bundle_location_columns() {
        let dir = tempfile::tempdir().unwrap();
        let old = SCHEMA.replace("    bundle_host TEXT,\n    bundle_path TEXT,\n", "");
        assert_ne!(old, SCHEMA);
        {
            let conn = Connection::open(dir.path().join(STORE_FILE)).unwrap();
            conn.execute_batch(&old).unwrap();
            conn.execute_batch(
                "INSERT INTO meta VALUES ('schema_version', '1');
                 INSERT INTO runs VALUES ('r1', 's', 'i', 'd', 'inspection', 'q', '[]', '0', 1);
                 INSERT INTO devices VALUES ('r1', 'a', 'h', NULL, NULL, 'simcam', 'audited', NULL, 'devices/a', 's', 'f');",
            )
            .unwrap();
        }
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let got = store.devices().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].bundle.as_deref(), got[0].bundle_host.as_deref()),
            (Some("devices/a"), None)
        );
        let b = record("b", DeviceStatus::GaveUp, &[]);
        store.record(&b).unwrap();
        assert_eq!(store.devices().unwrap()[1], b);
    }

    #[test]
    fn a_failed_device_write_leaves_nothing_half_recorded() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        store.start_run(&meta()).unwrap();
        // Two rows for one case violate the case table's key inside the transaction.
        let bad = record(
            "b",
            DeviceStatus::Audited,
            &[
                ("tls-https", Verdict::Pass, "2.5.1"),
                ("tls-https", Verdict::Fail, "2.5.1"),
            ],
        );
        assert!(store.record(&bad).is_err());
        assert!(store.finished_devices().unwrap().is_empty());
        assert!(SqliteStore::open_existing(&dir.path().join("nope")).is_err());
    }
}
