//! Comparing two runs (e.g. firmware before and after a fix, or a lab's run against a
//! regulator's re-run).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use crate::error::EvidenceError;
use crate::fsutil::sanitize_text;
use crate::junit::clause_sort_key;
use crate::manifest::{Manifest, read_manifest, read_results};
use crate::model::{Results, Verdict};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerdictChange {
    pub id: String,
    pub before: Verdict,
    pub after: Verdict,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceChange {
    pub case: String,
    pub path: String,
    /// SHA-256 in bundle A's manifest; `None` when A has no such file.
    pub before: Option<String>,
    pub after: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BundleDiff {
    /// "vendor model firmware" of each side, for the table heading.
    pub device_a: String,
    pub device_b: String,
    pub regulation_a: String,
    pub regulation_b: String,
    pub clause_changes: Vec<VerdictChange>,
    pub clauses_only_in_a: Vec<String>,
    pub clauses_only_in_b: Vec<String>,
    /// Clauses with a verdict in B that A did not test (a partial run): no change of verdict,
    /// a difference in what was tested.
    pub clauses_not_tested_in_a: Vec<String>,
    /// Clauses with a verdict in A that B did not test.
    pub clauses_not_tested_in_b: Vec<String>,
    pub case_changes: Vec<VerdictChange>,
    pub cases_only_in_a: Vec<String>,
    pub cases_only_in_b: Vec<String>,
    /// Empty unless both manifests were available. Exchanges carry timestamps, so evidence
    /// of a re-run differs even when verdicts do not.
    pub evidence_changes: Vec<EvidenceChange>,
    pub manifests_compared: bool,
}

impl BundleDiff {
    /// No verdict changed and both sides ran the same clauses and cases.
    pub fn verdicts_identical(&self) -> bool {
        self.clause_changes.is_empty()
            && self.case_changes.is_empty()
            && self.clauses_only_in_a.is_empty()
            && self.clauses_only_in_b.is_empty()
            && self.clauses_not_tested_in_a.is_empty()
            && self.clauses_not_tested_in_b.is_empty()
            && self.cases_only_in_a.is_empty()
            && self.cases_only_in_b.is_empty()
    }
}

fn device_line(results: &Results) -> String {
    let d = &results.device;
    let mut line = format!("{} {} firmware {}", d.vendor, d.model, d.firmware);
    if let Some(serial) = &d.serial {
        line.push_str(&format!(" serial {serial}"));
    }
    line
}

fn compare<'a>(
    a: impl Iterator<Item = (&'a str, Verdict)>,
    b: impl Iterator<Item = (&'a str, Verdict)>,
    clause_order: bool,
) -> (Vec<VerdictChange>, Vec<String>, Vec<String>) {
    let a: BTreeMap<&str, Verdict> = a.collect();
    let b: BTreeMap<&str, Verdict> = b.collect();
    let mut changes: Vec<VerdictChange> = a
        .iter()
        .filter_map(|(id, before)| {
            b.get(id).filter(|after| *after != before).map(|after| VerdictChange {
                id: id.to_string(),
                before: *before,
                after: *after,
            })
        })
        .collect();
    let mut only_a: Vec<String> = a
        .keys()
        .filter(|id| !b.contains_key(*id))
        .map(|id| id.to_string())
        .collect();
    let mut only_b: Vec<String> = b
        .keys()
        .filter(|id| !a.contains_key(*id))
        .map(|id| id.to_string())
        .collect();
    if clause_order {
        changes.sort_by_key(|c| clause_sort_key(&c.id));
        only_a.sort_by_key(|id| clause_sort_key(id));
        only_b.sort_by_key(|id| clause_sort_key(id));
    }
    (changes, only_a, only_b)
}

/// Verdict differences between two result sets.
pub fn diff(a: &Results, b: &Results) -> BundleDiff {
    let (clause_changes, clauses_only_in_a, clauses_only_in_b) = compare(
        a.clauses.iter().map(|c| (c.id.as_str(), c.verdict)),
        b.clauses.iter().map(|c| (c.id.as_str(), c.verdict)),
        true,
    );
    let untested = |r: &Results| -> BTreeSet<String> { r.clauses_not_tested.iter().map(|c| c.id.clone()).collect() };
    let (untested_a, untested_b) = (untested(a), untested(b));
    // A clause one side has no verdict for because that run did not test it.
    let (clauses_not_tested_in_b, clauses_only_in_a): (Vec<String>, Vec<String>) =
        clauses_only_in_a.into_iter().partition(|id| untested_b.contains(id));
    let (clauses_not_tested_in_a, clauses_only_in_b): (Vec<String>, Vec<String>) =
        clauses_only_in_b.into_iter().partition(|id| untested_a.contains(id));
    let (case_changes, cases_only_in_a, cases_only_in_b) = compare(
        a.cases.iter().map(|c| (c.id.as_str(), c.verdict)),
        b.cases.iter().map(|c| (c.id.as_str(), c.verdict)),
        false,
    );
    BundleDiff {
        device_a: device_line(a),
        device_b: device_line(b),
        regulation_a: a.regulation.clone(),
        regulation_b: b.regulation.clone(),
        clause_changes,
        clauses_only_in_a,
        clauses_only_in_b,
        clauses_not_tested_in_a,
        clauses_not_tested_in_b,
        case_changes,
        cases_only_in_a,
        cases_only_in_b,
        evidence_changes: Vec::new(),
        manifests_compared: false,
    }
}

/// [`diff`] plus, for every case present on both sides, the evidence files whose SHA-256
/// differs between the two manifests.
pub fn diff_with_manifests(a: &Results, b: &Results, manifest_a: &Manifest, manifest_b: &Manifest) -> BundleDiff {
    let mut result = diff(a, b);
    let cases_b: BTreeMap<&str, &crate::model::CaseResult> = b.cases.iter().map(|c| (c.id.as_str(), c)).collect();
    for case_a in &a.cases {
        let Some(case_b) = cases_b.get(case_a.id.as_str()) else {
            continue;
        };
        let paths: BTreeSet<&str> = case_a
            .evidence
            .iter()
            .chain(case_b.evidence.iter())
            .map(String::as_str)
            .collect();
        for path in paths {
            let before = manifest_a.sha256_of(path);
            let after = manifest_b.sha256_of(path);
            if before != after {
                result.evidence_changes.push(EvidenceChange {
                    case: case_a.id.clone(),
                    path: path.to_string(),
                    before: before.map(str::to_owned),
                    after: after.map(str::to_owned),
                });
            }
        }
    }
    result.manifests_compared = true;
    result
}

/// Loads results.json (and manifest.json where present) from two bundle directories.
/// Integrity is `verify`'s job; run it first when the bundles are not your own.
pub fn diff_bundles(dir_a: &Path, dir_b: &Path) -> Result<BundleDiff, EvidenceError> {
    let a = read_results(dir_a)?;
    let b = read_results(dir_b)?;
    match (read_manifest(dir_a), read_manifest(dir_b)) {
        (Ok(ma), Ok(mb)) => Ok(diff_with_manifests(&a, &b, &ma, &mb)),
        (ma, mb) => {
            for err in [ma.err(), mb.err()].into_iter().flatten() {
                tracing::warn!(error = %err, "manifest unavailable; evidence hashes not compared");
            }
            Ok(diff(&a, &b))
        }
    }
}

fn short_hash(hash: &Option<String>) -> String {
    match hash {
        Some(h) => h.chars().take(12).collect(),
        None => "(absent)".into(),
    }
}

/// Writes rows as a plain-text table with columns padded to the widest cell.
fn write_table(f: &mut fmt::Formatter<'_>, header: &[&str], rows: &[Vec<String>]) -> fmt::Result {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<String>| -> String {
        let padded: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let width = widths.get(i).copied().unwrap_or(0);
                format!("{c:<width$}")
            })
            .collect();
        format!("  {}", padded.join("  ").trim_end())
    };
    writeln!(f, "{}", line(header.iter().map(|h| h.to_string()).collect()))?;
    writeln!(f, "{}", line(widths.iter().map(|w| "-".repeat(*w)).collect()))?;
    for row in rows {
        writeln!(f, "{}", line(row.clone()))?;
    }
    Ok(())
}

impl fmt::Display for BundleDiff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = |text: &str| sanitize_text(text).replace('\n', " ");
        writeln!(f, "A: {} ({})", s(&self.device_a), s(&self.regulation_a))?;
        writeln!(f, "B: {} ({})", s(&self.device_b), s(&self.regulation_b))?;
        if self.regulation_a != self.regulation_b {
            writeln!(f, "warning: the two runs use different regulations")?;
        }
        let verdict_rows = |changes: &[VerdictChange]| -> Vec<Vec<String>> {
            changes
                .iter()
                .map(|c| vec![s(&c.id), c.before.to_string(), c.after.to_string()])
                .collect()
        };
        writeln!(f)?;
        if self.clause_changes.is_empty() {
            writeln!(f, "Clause verdicts: no change")?;
        } else {
            writeln!(f, "Clause verdicts changed ({}):", self.clause_changes.len())?;
            write_table(f, &["clause", "A", "B"], &verdict_rows(&self.clause_changes))?;
        }
        if self.case_changes.is_empty() {
            writeln!(f, "Case verdicts: no change")?;
        } else {
            writeln!(f, "Case verdicts changed ({}):", self.case_changes.len())?;
            write_table(f, &["case", "A", "B"], &verdict_rows(&self.case_changes))?;
        }
        for (label, ids) in [
            ("Clauses only in A", &self.clauses_only_in_a),
            ("Clauses only in B", &self.clauses_only_in_b),
            (
                "Clauses not tested in A (B has a verdict)",
                &self.clauses_not_tested_in_a,
            ),
            (
                "Clauses not tested in B (A has a verdict)",
                &self.clauses_not_tested_in_b,
            ),
            ("Cases only in A", &self.cases_only_in_a),
            ("Cases only in B", &self.cases_only_in_b),
        ] {
            if !ids.is_empty() {
                let list: Vec<String> = ids.iter().map(|id| s(id)).collect();
                writeln!(f, "{label} ({}): {}", ids.len(), list.join(", "))?;
            }
        }
        if !self.manifests_compared {
            writeln!(f, "Evidence: not compared (a manifest is missing)")?;
        } else if self.evidence_changes.is_empty() {
            writeln!(f, "Evidence: identical for every case run on both sides")?;
        } else {
            writeln!(
                f,
                "Evidence differing by sha256 ({}; re-runs differ in timestamps even when verdicts agree):",
                self.evidence_changes.len()
            )?;
            let rows: Vec<Vec<String>> = self
                .evidence_changes
                .iter()
                .map(|c| vec![s(&c.case), s(&c.path), short_hash(&c.before), short_hash(&c.after)])
                .collect();
            write_table(f, &["case", "file", "A sha256", "B sha256"], &rows)?;
        }
        Ok(())
    }
}
