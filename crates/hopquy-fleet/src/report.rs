//! The fleet report: which camera fails which clause, from the store. Written as JSON (the
//! model), CSV (one row per device and case) and HTML (a sortable per-camera table, failure
//! counts per clause and a bar chart of them); two reports compare with [`diff_reports`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use hopquy_evidence::{Verdict, aggregate};
use minijinja::value::Serde;
use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};

use crate::store::{DeviceRecord, DeviceStatus, RunMeta};

pub const REPORT_JSON: &str = "fleet-report.json";
pub const REPORT_CSV: &str = "fleet-report.csv";
pub const REPORT_HTML: &str = "fleet-report.html";
pub const REPORT_TEMPLATE: &str = include_str!("../templates/fleet-report.html.j2");

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetReport {
    pub run: RunMeta,
    pub totals: Totals,
    pub devices: Vec<DeviceSummary>,
    /// Every clause the suite's cases map to, with how many audited devices fail it.
    pub clauses: Vec<ClauseCount>,
    /// Devices of the inventory not recorded yet (an interrupted or limited run).
    pub not_audited: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub devices: usize,
    pub audited: usize,
    /// Audited devices failing at least one clause.
    pub failing: usize,
    /// Audited devices failing nothing, whose every clause passed or was not applicable.
    pub passing: usize,
    pub unreachable: usize,
    pub errors: usize,
    /// `profile = "auto"` devices no profile was found for (additive).
    #[serde(default)]
    pub unidentified: usize,
    /// Shared-run devices every worker taking them was lost on, `max_deliver` times (additive).
    #[serde(default)]
    pub gave_up: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceSummary {
    pub id: String,
    pub host: String,
    pub site: Option<String>,
    pub owner: Option<String>,
    pub profile: String,
    pub status: DeviceStatus,
    pub detail: Option<String>,
    pub bundle: Option<String>,
    /// Where the bundle is: the machine's host name and the absolute path there (additive).
    #[serde(default)]
    pub bundle_host: Option<String>,
    #[serde(default)]
    pub bundle_path: Option<String>,
    /// Per clause, the aggregate of its cases' verdicts on this device.
    pub clauses: BTreeMap<String, Verdict>,
    pub failing_clauses: Vec<String>,
    pub cases: BTreeMap<String, Verdict>,
}

impl DeviceSummary {
    /// `host:/path/to/bundle` where both are known, else the path relative to the fleet
    /// directory that recorded it.
    pub fn bundle_location(&self) -> Option<String> {
        match (&self.bundle_host, &self.bundle_path) {
            (Some(h), Some(p)) => Some(format!("{h}:{p}")),
            (None, Some(p)) => Some(p.clone()),
            _ => self.bundle.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClauseCount {
    pub clause: String,
    /// From the regulation catalogue, when the report was built with it.
    #[serde(default)]
    pub title_en: Option<String>,
    #[serde(default)]
    pub title_vi: Option<String>,
    pub failing: usize,
    pub errors: usize,
    pub inconclusive: usize,
}

pub fn build_report(run: &RunMeta, records: &[DeviceRecord]) -> FleetReport {
    let mut totals = Totals {
        devices: run.device_count,
        ..Totals::default()
    };
    let mut devices = Vec::new();
    let mut all_clauses: BTreeSet<String> = BTreeSet::new();
    for r in records {
        let mut by_clause: BTreeMap<String, Vec<Verdict>> = BTreeMap::new();
        for c in &r.cases {
            for cl in &c.clauses {
                by_clause.entry(cl.clone()).or_default().push(c.verdict);
                all_clauses.insert(cl.clone());
            }
        }
        let clauses: BTreeMap<String, Verdict> = by_clause
            .into_iter()
            .map(|(cl, verdicts)| (cl, aggregate(verdicts)))
            .collect();
        let failing_clauses: Vec<String> = clauses
            .iter()
            .filter(|(_, v)| **v == Verdict::Fail)
            .map(|(c, _)| c.clone())
            .collect();
        match r.status {
            DeviceStatus::Audited => {
                totals.audited += 1;
                if failing_clauses.is_empty() {
                    if clauses
                        .values()
                        .all(|v| matches!(v, Verdict::Pass | Verdict::NotApplicable))
                    {
                        totals.passing += 1;
                    }
                } else {
                    totals.failing += 1;
                }
            }
            DeviceStatus::Unreachable => totals.unreachable += 1,
            DeviceStatus::Error => totals.errors += 1,
            DeviceStatus::Unidentified => totals.unidentified += 1,
            DeviceStatus::GaveUp => totals.gave_up += 1,
        }
        devices.push(DeviceSummary {
            id: r.device.clone(),
            host: r.host.clone(),
            site: r.site.clone(),
            owner: r.owner.clone(),
            profile: r.profile.clone(),
            status: r.status,
            detail: r.detail.clone(),
            bundle: r.bundle.clone(),
            bundle_host: r.bundle_host.clone(),
            bundle_path: r.bundle_path.clone(),
            failing_clauses,
            clauses,
            cases: r.cases.iter().map(|c| (c.case.clone(), c.verdict)).collect(),
        });
    }
    let count = |cl: &str, v: Verdict| {
        devices
            .iter()
            .filter(|d| d.status == DeviceStatus::Audited && d.clauses.get(cl) == Some(&v))
            .count()
    };
    let clauses = all_clauses
        .iter()
        .map(|cl| ClauseCount {
            clause: cl.clone(),
            title_en: None,
            title_vi: None,
            failing: count(cl, Verdict::Fail),
            errors: count(cl, Verdict::Error),
            inconclusive: count(cl, Verdict::Inconclusive),
        })
        .collect();
    FleetReport {
        run: run.clone(),
        not_audited: run.device_count.saturating_sub(records.len()),
        totals,
        devices,
        clauses,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("writing {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("rendering the fleet report: {0}")]
    Render(String),
}

impl FleetReport {
    /// Names each clause from the regulation catalogue: `id → (title_vi, title_en)`.
    pub fn with_clause_titles(mut self, titles: &BTreeMap<String, (String, String)>) -> Self {
        for c in &mut self.clauses {
            if let Some((vi, en)) = titles.get(&c.clause) {
                c.title_vi = Some(vi.clone());
                c.title_en = Some(en.clone());
            }
        }
        self
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|_| "{}".into())
    }

    /// One row per device and case (and one per device that has no case row: unreachable or
    /// failed to audit), for spreadsheets and a regulator's own tools.
    pub fn to_csv(&self) -> Result<String, ReportError> {
        let mut w = csv::Writer::from_writer(Vec::new());
        let io = |e: csv::Error| ReportError::Render(e.to_string());
        w.write_record([
            "device", "host", "site", "owner", "profile", "status", "case", "verdict", "detail", "bundle",
        ])
        .map_err(io)?;
        for d in &self.devices {
            let bundle = d.bundle_location().unwrap_or_default();
            let fixed = [
                d.id.as_str(),
                d.host.as_str(),
                d.site.as_deref().unwrap_or(""),
                d.owner.as_deref().unwrap_or(""),
                d.profile.as_str(),
                d.status.as_str(),
            ];
            if d.cases.is_empty() {
                let mut row: Vec<&str> = fixed.to_vec();
                row.extend(["", "", d.detail.as_deref().unwrap_or(""), bundle.as_str()]);
                w.write_record(&row).map_err(io)?;
            }
            for (case, verdict) in &d.cases {
                let mut row: Vec<&str> = fixed.to_vec();
                row.extend([
                    case.as_str(),
                    verdict.as_str(),
                    d.detail.as_deref().unwrap_or(""),
                    bundle.as_str(),
                ]);
                w.write_record(&row).map_err(io)?;
            }
        }
        let bytes = w.into_inner().map_err(|e| ReportError::Render(e.to_string()))?;
        String::from_utf8(bytes).map_err(|e| ReportError::Render(e.to_string()))
    }

    /// The HTML report (autoescaped; every string from a device or an inventory is data).
    pub fn to_html(&self, diff: Option<&FleetDiff>) -> Result<String, ReportError> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.add_template("fleet", REPORT_TEMPLATE)
            .map_err(|e| ReportError::Render(e.to_string()))?;
        let max = self.clauses.iter().map(|c| c.failing).max().unwrap_or(0).max(1);
        let bars: Vec<Bar> = self
            .clauses
            .iter()
            .enumerate()
            .map(|(i, c)| Bar {
                clause: c.clause.clone(),
                failing: c.failing,
                y: 8 + i * BAR_PITCH,
                width: c.failing * BAR_MAX_WIDTH / max,
            })
            .collect();
        let view = View {
            r: self,
            bars,
            chart_height: 16 + self.clauses.len() * BAR_PITCH,
            diff,
            diff_headline: diff.map(FleetDiff::headline),
            generated: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        };
        env.get_template("fleet")
            .and_then(|t| t.render(minijinja::context! { v => Serde(&view) }))
            .map_err(|e| ReportError::Render(e.to_string()))
    }

    /// Writes the JSON, CSV and HTML reports into `dir`, each atomically.
    pub fn write_all(&self, dir: &Path, diff: Option<&FleetDiff>) -> Result<(), ReportError> {
        write_atomic(&dir.join(REPORT_JSON), self.to_json().as_bytes())?;
        write_atomic(&dir.join(REPORT_CSV), self.to_csv()?.as_bytes())?;
        write_atomic(&dir.join(REPORT_HTML), self.to_html(diff)?.as_bytes())?;
        Ok(())
    }
}

const BAR_PITCH: usize = 22;
const BAR_MAX_WIDTH: usize = 400;

#[derive(Serialize)]
struct Bar {
    clause: String,
    failing: usize,
    y: usize,
    width: usize,
}

#[derive(Serialize)]
struct View<'a> {
    r: &'a FleetReport,
    bars: Vec<Bar>,
    chart_height: usize,
    diff: Option<&'a FleetDiff>,
    diff_headline: Option<String>,
    generated: String,
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ReportError> {
    let io = |source| ReportError::Io {
        path: path.display().to_string(),
        source,
    };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// What changed between two fleet runs, per device (matched by id).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetDiff {
    /// Failed some clause before; audited now and fails none.
    pub fixed: Vec<String>,
    /// Fails a clause now that it did not fail before.
    pub regressed: Vec<String>,
    /// Audited before, unreachable or in error now.
    pub lost: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Per device, the clauses that newly fail (regressions) and that no longer fail.
    pub newly_failing: BTreeMap<String, Vec<String>>,
    pub no_longer_failing: BTreeMap<String, Vec<String>>,
}

impl FleetDiff {
    /// `12 cameras fixed, 3 regressed, …`.
    pub fn headline(&self) -> String {
        let n = |k: usize| if k == 1 { "camera" } else { "cameras" };
        let mut parts = vec![
            format!("{} {} fixed", self.fixed.len(), n(self.fixed.len())),
            format!("{} regressed", self.regressed.len()),
        ];
        if !self.lost.is_empty() {
            parts.push(format!("{} no longer audited (unreachable or error)", self.lost.len()));
        }
        if !self.added.is_empty() {
            parts.push(format!("{} new", self.added.len()));
        }
        if !self.removed.is_empty() {
            parts.push(format!("{} gone from the inventory", self.removed.len()));
        }
        parts.join(", ")
    }
}

/// `before` → `after`.
pub fn diff_reports(before: &FleetReport, after: &FleetReport) -> FleetDiff {
    let old: BTreeMap<&str, &DeviceSummary> = before.devices.iter().map(|d| (d.id.as_str(), d)).collect();
    let new: BTreeMap<&str, &DeviceSummary> = after.devices.iter().map(|d| (d.id.as_str(), d)).collect();
    let mut diff = FleetDiff::default();
    for (id, b) in &new {
        let Some(a) = old.get(id) else {
            diff.added.push((*id).to_owned());
            continue;
        };
        if a.status == DeviceStatus::Audited && b.status != DeviceStatus::Audited {
            diff.lost.push((*id).to_owned());
            continue;
        }
        if b.status != DeviceStatus::Audited {
            continue;
        }
        let was: BTreeSet<&String> = a.failing_clauses.iter().collect();
        let now: BTreeSet<&String> = b.failing_clauses.iter().collect();
        let newly: Vec<String> = now.difference(&was).map(|s| (*s).clone()).collect();
        let gone: Vec<String> = was.difference(&now).map(|s| (*s).clone()).collect();
        if !newly.is_empty() {
            diff.regressed.push((*id).to_owned());
            diff.newly_failing.insert((*id).to_owned(), newly);
        } else if !was.is_empty() && now.is_empty() {
            diff.fixed.push((*id).to_owned());
        }
        if !gone.is_empty() {
            diff.no_longer_failing.insert((*id).to_owned(), gone);
        }
    }
    diff.removed = old
        .keys()
        .filter(|id| !new.contains_key(*id))
        .map(|id| (*id).to_owned())
        .collect();
    diff
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::store::tests::{meta, record};

    fn report(records: &[DeviceRecord]) -> FleetReport {
        let mut m = meta();
        m.device_count = 4;
        build_report(&m, records)
    }

    fn fleet(telnet_a: Verdict, telnet_b: Verdict) -> FleetReport {
        report(&[
            record(
                "a",
                DeviceStatus::Audited,
                &[
                    ("telnet-closed", telnet_a, "2.6.1"),
                    ("tls-https", Verdict::Pass, "2.5.1"),
                ],
            ),
            record(
                "b",
                DeviceStatus::Audited,
                &[
                    ("telnet-closed", telnet_b, "2.6.1"),
                    ("tls-https", Verdict::Fail, "2.5.1"),
                ],
            ),
            record("c", DeviceStatus::Unreachable, &[]),
        ])
    }

    #[test]
    fn counts_per_device_and_per_clause() {
        let titles = [("2.6.1".to_owned(), ("Cổng".to_owned(), "Ports".to_owned()))].into();
        let r = fleet(Verdict::Fail, Verdict::Fail).with_clause_titles(&titles);
        assert_eq!(
            r.clauses
                .iter()
                .find(|c| c.clause == "2.6.1")
                .unwrap()
                .title_en
                .as_deref(),
            Some("Ports")
        );
        assert!(r.to_html(None).unwrap().contains("Ports"));
        assert_eq!(r.totals.audited, 2);
        assert_eq!(r.totals.failing, 2);
        assert_eq!(r.totals.unreachable, 1);
        assert_eq!(r.not_audited, 1);
        let c = |id: &str| r.clauses.iter().find(|c| c.clause == id).unwrap().failing;
        assert_eq!(c("2.6.1"), 2);
        assert_eq!(c("2.5.1"), 1);
        assert_eq!(r.devices[1].failing_clauses, ["2.5.1", "2.6.1"]);
        let csv = r.to_csv().unwrap();
        assert_eq!(csv.lines().count(), 1 + 2 + 2 + 1, "{csv}");
        assert!(csv.contains("c,127.0.0.1,HQ,,simcam,unreachable,,,"), "{csv}");
        // Where each bundle is: the worker's host name and the path there.
        assert!(
            csv.lines().nth(1).unwrap().ends_with(",worker-a:/srv/fleet/devices/a"),
            "{csv}"
        );
        let html = r.to_html(None).unwrap();
        assert!(
            html.contains("on worker-a: ") && html.contains("fleet&#x2f;devices&#x2f;a"),
            "{html}"
        );
        let back: FleetReport = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn the_html_report_has_the_table_the_counts_and_the_chart_and_escapes_device_text() {
        let mut r = fleet(Verdict::Fail, Verdict::Pass);
        r.devices[0].detail = Some("<script>alert(1)</script>".into());
        let html = r.to_html(None).unwrap();
        assert!(html.contains("<table id=\"devices\""), "table");
        assert!(html.contains("<svg"), "chart");
        assert!(html.contains("data-sort"), "sortable");
        assert!(!html.contains("<script>alert(1)"), "escaped");
        assert!(html.contains("&lt;script&gt;alert(1)"), "escaped text shown");
    }

    #[test]
    fn a_diff_counts_fixed_and_regressed_cameras() {
        let before = fleet(Verdict::Fail, Verdict::Pass);
        let after = fleet(Verdict::Pass, Verdict::Fail);
        let d = diff_reports(&before, &after);
        // a failed 2.6.1 and now fails nothing; b newly fails 2.6.1.
        assert_eq!(d.fixed, ["a"]);
        assert_eq!(d.regressed, ["b"]);
        assert_eq!(d.newly_failing["b"], ["2.6.1"]);
        assert_eq!(d.headline(), "1 camera fixed, 1 regressed");
        let same = diff_reports(&before, &before);
        assert_eq!(same, FleetDiff::default());
        let html = after.to_html(Some(&d)).unwrap();
        assert!(html.contains("1 camera fixed, 1 regressed"), "headline in the report");
        assert!(html.contains("<code>b</code> (2.6.1)"), "the regression and its clause");
    }
}
