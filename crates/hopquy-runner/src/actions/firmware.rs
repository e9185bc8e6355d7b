//! The `firmware` action: the report of the image scanned once before the run, summarised
//! into observations a case can judge. The scan is the CLI's (it owns the file and the
//! bundle); this step only reads, so every `firmware` step of a run judges the same report.
//!
//! Without an image the step still succeeds, with `image_given = false` and every other
//! observation null: the case's own expectation decides (inconclusive, by the suite's cases),
//! because a missing image is missing evidence, not a device that is not applicable.

use hopquy_case::observations::FirmwareObservations;
use hopquy_firmware::{Finding, FindingKind, FirmwareReport};
use serde_json::{Value, json};

use super::ActionOutput;

pub fn run(report: Option<&FirmwareReport>) -> Result<ActionOutput, super::ActionError> {
    Ok(ActionOutput::observed(super::observed_as::<FirmwareObservations>(
        observations(report),
    )?))
}

fn observations(report: Option<&FirmwareReport>) -> Value {
    let Some(report) = report else {
        return json!({
            "image_given": false,
            "image": null,
            "searched": null,
            "inconclusive": null,
            "limits_hit": null,
            "private_keys": null,
            "default_credentials": null,
            "fixed_accounts": null,
            "empty_passwords": null,
            "hardcoded_secrets": null,
            "debug_services": null,
            "eol_components": null,
            "update_integrity": null,
            "update_integrity_evidence": null,
            "components": null,
            "vulndb_given": null,
            "vulnerabilities": null,
        });
    };
    let of = |kind: FindingKind| report.findings.iter().filter(move |f| f.kind == kind);
    let keys: Vec<&Finding> = of(FindingKind::PrivateKey).collect();
    let accounts = |kind: FindingKind| {
        let list: Vec<Value> = of(kind)
            .map(|f| json!({ "user": f.account(), "path": f.path }))
            .collect();
        json!({ "count": list.len(), "accounts": list })
    };
    let defaults: Vec<Value> = of(FindingKind::DefaultCredential)
        .map(|f| json!({ "user": f.account(), "dictionary": f.dictionary(), "path": f.path }))
        .collect();
    let secrets: Vec<&str> = of(FindingKind::HardcodedSecret).map(|f| f.path.as_str()).collect();
    let services: Vec<Value> = of(FindingKind::DebugService)
        .map(|f| json!({ "path": f.path, "title": f.title, "clauses": f.clauses }))
        .collect();
    let eol: Vec<&str> = of(FindingKind::EndOfLifeComponent)
        .map(|f| f.excerpt.as_str())
        .collect();
    let vulnerabilities = report.vulndb.as_ref().map(|db| {
        let items: Vec<Value> = report
            .vulnerabilities
            .iter()
            .map(|v| json!({ "id": v.id, "aliases": v.aliases, "component": v.component, "version": v.version, "fixed": v.fixed }))
            .collect();
        json!({
            "count": items.len(),
            "items": items,
            "database": { "name": db.name, "sha256": db.sha256, "files": db.files },
        })
    });
    json!({
        "image_given": true,
        "image": {
            "name": report.image.name,
            "sha256": report.image.sha256,
            "size": report.image.size,
            "entropy": report.image.entropy,
        },
        "searched": report.filesystems_unpacked > 0 && report.inconclusive.is_none(),
        "inconclusive": report.inconclusive,
        "limits_hit": report.limits_hit.len(),
        "private_keys": {
            "count": keys.len(),
            "fingerprints": keys.iter().filter_map(|f| f.fingerprint.as_deref()).collect::<Vec<_>>(),
            "paths": keys.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
        },
        "default_credentials": { "count": defaults.len(), "accounts": defaults },
        "fixed_accounts": accounts(FindingKind::FixedAccount),
        "empty_passwords": accounts(FindingKind::EmptyPassword),
        "hardcoded_secrets": { "count": secrets.len(), "paths": secrets },
        "debug_services": { "count": services.len(), "services": services },
        "eol_components": { "count": eol.len(), "components": eol },
        "update_integrity": serde_json::to_value(report.update_integrity.verdict).unwrap_or(Value::Null),
        "update_integrity_evidence": report.update_integrity.evidence,
        "components": {
            "count": report.inventory.len(),
            "components": report.inventory.iter().map(|c| format!("{} {}", c.name, c.version)).collect::<Vec<_>>(),
        },
        "vulndb_given": report.vulndb.is_some(),
        "vulnerabilities": vulnerabilities,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use hopquy_case::actions;

    fn report() -> FirmwareReport {
        // A report as the scanner writes it for an image with a default credential and a
        // private key: only redacted excerpts and fingerprints, which is all this step may pass on.
        serde_json::from_value(json!({
            "schema_version": 1,
            "tool": { "name": "hopquy", "version": "0" },
            "image": { "name": "fw.bin", "size": 10, "sha256": "ab", "entropy": 4.0 },
            "limits": { "max_image_bytes": 1, "max_total_bytes": 1, "max_file_bytes": 1,
                        "max_depth": 1, "max_entries": 1, "max_ratio": 1 },
            "containers": [],
            "findings": [
                { "kind": "default_credential", "severity": "critical", "path": "[cpio@0x0]/etc/shadow",
                  "offset": 0, "title": "hard-coded default credential: the MD5-crypt hash of \"admin\" matches entry 1 of dictionary default-credentials",
                  "excerpt": "admin:$1$hqtest$<redacted>:19000", "fingerprint": "sha256:11", "clauses": ["2.1.1"] },
                { "kind": "private_key", "severity": "high", "path": "[cpio@0x0]/etc/key.pem",
                  "offset": 0, "title": "RSA private key", "excerpt": "<redacted>", "fingerprint": "sha256:22", "clauses": ["2.4.3"] },
                { "kind": "debug_service", "severity": "high", "path": "[cpio@0x0]/etc/inittab",
                  "offset": 0, "title": "telnetd started at boot", "excerpt": "::respawn:/usr/sbin/telnetd", "clauses": ["2.6.1"] }
            ],
            "inventory": [],
            "update_integrity": { "verdict": "crc_only", "evidence": [] },
            "limits_hit": [],
            "filesystems_unpacked": 1,
            "inconclusive": null
        }))
        .unwrap_or_else(|e| panic!("report: {e}"))
    }

    #[test]
    fn the_report_is_summarised_without_secrets() {
        let o = observations(Some(&report()));
        assert_eq!(o["image_given"], true);
        assert_eq!(o["searched"], true);
        assert_eq!(o["default_credentials"]["count"], 1);
        assert_eq!(o["default_credentials"]["accounts"][0]["user"], "admin");
        assert_eq!(
            o["default_credentials"]["accounts"][0]["dictionary"],
            "default-credentials"
        );
        assert_eq!(o["private_keys"]["fingerprints"], json!(["sha256:22"]));
        assert_eq!(o["debug_services"]["count"], 1);
        assert_eq!(o["fixed_accounts"]["count"], 0);
        assert_eq!(o["update_integrity"], "crc_only");
        assert_eq!(o["vulndb_given"], false);
        assert!(o["vulnerabilities"].is_null(), "no database, no claim either way");
        assert!(!o.to_string().contains("$1$hqtest$"), "{o}");
    }

    #[test]
    fn matched_vulnerabilities_are_counted_with_their_database() {
        let mut r = report();
        r.inventory.push(hopquy_firmware::Component {
            name: "openssl".into(),
            version: "1.0.2k".into(),
            component_type: "library".into(),
            evidence: vec![],
        });
        r.vulndb = Some(hopquy_firmware::VulnDbIdentity {
            name: "osv".into(),
            kind: "directory".into(),
            sha256: "cd".into(),
            files: 2,
            advisories: 2,
            advisories_used: 2,
            listing: vec![],
        });
        let o = observations(Some(&r));
        assert_eq!(o["vulndb_given"], true);
        assert_eq!(o["components"]["count"], 1);
        assert_eq!(o["vulnerabilities"]["count"], 0);
        r.vulnerabilities.push(hopquy_firmware::Vulnerability {
            id: "CVE-2017-3735".into(),
            aliases: vec![],
            component: "openssl".into(),
            version: "1.0.2k".into(),
            fixed: Some("1.0.2m".into()),
            severity: None,
            source_file: "CVE-2017-3735.json".into(),
            basis: "version-based".into(),
        });
        let o = observations(Some(&r));
        assert_eq!(o["vulnerabilities"]["count"], 1);
        assert_eq!(o["vulnerabilities"]["items"][0]["id"], "CVE-2017-3735");
        assert_eq!(o["vulnerabilities"]["database"]["sha256"], "cd");
    }

    #[test]
    fn an_image_nothing_was_unpacked_from_is_not_searched() {
        let mut opaque = report();
        opaque.findings.clear();
        opaque.filesystems_unpacked = 0;
        opaque.inconclusive = Some("nothing unpacked; entropy 7.999 bits/byte".into());
        let o = observations(Some(&opaque));
        assert_eq!(o["searched"], false);
        assert_eq!(o["private_keys"]["count"], 0);
        assert!(o["inconclusive"].as_str().is_some_and(|s| s.contains("entropy")));
    }

    #[test]
    fn without_an_image_nothing_is_claimed() {
        let o = observations(None);
        assert_eq!(o["image_given"], false);
        assert!(o["private_keys"].is_null() && o["searched"].is_null());
    }

    #[test]
    fn every_observation_is_documented_and_every_documented_one_emitted() {
        let spec = actions::action("firmware").unwrap_or_else(|| panic!("no firmware action"));
        for o in [observations(None), observations(Some(&report()))] {
            let emitted: Vec<&str> = o
                .as_object()
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            let mut documented: Vec<&str> = spec.observations.iter().map(|s| s.name).collect();
            let mut emitted = emitted;
            emitted.sort_unstable();
            documented.sort_unstable();
            assert_eq!(emitted, documented);
        }
    }
}
