//! The inventory as a CycloneDX 1.5 SBOM (JSON). Its serial number is derived from the
//! image's SHA-256, and it has no timestamp, so it is as reproducible as the report.

use serde_json::{Value, json};

use crate::model::FirmwareReport;

pub fn cyclonedx(report: &FirmwareReport) -> Value {
    let components: Vec<Value> = report
        .inventory
        .iter()
        .map(|c| {
            let purl = format!("pkg:generic/{}@{}", c.name, c.version);
            json!({
                "type": c.component_type,
                "bom-ref": purl,
                "name": c.name,
                "version": c.version,
                "purl": purl,
                "evidence": {
                    "occurrences": c.evidence.iter().map(|p| json!({ "location": p })).collect::<Vec<_>>(),
                },
            })
        })
        .collect();
    let mut bom = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": format!("urn:uuid:{}", uuid_from(&report.image.sha256)),
        "version": 1,
        "metadata": {
            "tools": {
                "components": [{
                    "type": "application",
                    "name": report.tool.name,
                    "version": report.tool.version,
                }],
            },
            "component": {
                "type": "firmware",
                "bom-ref": format!("firmware:{}", report.image.sha256),
                "name": report.image.name,
                "hashes": [{ "alg": "SHA-256", "content": report.image.sha256 }],
            },
        },
        "components": components,
    });
    if report.vulndb.is_some()
        && let Some(map) = bom.as_object_mut()
    {
        map.insert("vulnerabilities".into(), Value::Array(vulnerabilities(report)));
    }
    bom
}

/// The matched advisories as CycloneDX 1.5 vulnerabilities, each affecting the component's
/// purl at its version. Only written when a database was given: an empty array then says
/// "matched, nothing found", its absence "not matched".
fn vulnerabilities(report: &FirmwareReport) -> Vec<Value> {
    report
        .vulnerabilities
        .iter()
        .map(|v| {
            let purl = format!("pkg:generic/{}@{}", v.component, v.version);
            let mut entry = json!({
                "bom-ref": format!("{}:{}", v.id, purl),
                "id": v.id,
                "source": { "name": "OSV" },
                "references": v.aliases.iter().map(|a| json!({ "id": a, "source": { "name": "OSV" } })).collect::<Vec<_>>(),
                "detail": format!("{} (database file {})", v.basis, v.source_file),
                "affects": [{
                    "ref": purl,
                    "versions": [{ "version": v.version, "status": "affected" }],
                }],
            });
            if let Some(map) = entry.as_object_mut() {
                if let Some(rating) = v.severity.as_deref().and_then(rating) {
                    map.insert("ratings".into(), json!([rating]));
                }
                if let Some(fixed) = &v.fixed {
                    map.insert(
                        "recommendation".into(),
                        json!(format!("upgrade {} to {fixed} or later", v.component)),
                    );
                }
            }
            entry
        })
        .collect()
}

/// A CVSS vector as a CycloneDX rating (method from the vector's version), or a plain
/// severity word when the database gave one.
fn rating(severity: &str) -> Option<Value> {
    let method = if severity.starts_with("CVSS:3.1/") {
        "CVSSv31"
    } else if severity.starts_with("CVSS:3.0/") {
        "CVSSv3"
    } else if severity.starts_with("CVSS:4.0/") {
        "CVSSv4"
    } else if severity.starts_with("AV:") {
        "CVSSv2"
    } else {
        let word = severity.to_ascii_lowercase();
        return ["critical", "high", "medium", "low", "info", "none"]
            .contains(&word.as_str())
            .then(|| json!({ "severity": word, "source": { "name": "OSV" } }));
    };
    Some(json!({ "method": method, "vector": severity, "source": { "name": "OSV" } }))
}

/// An RFC 4122 version-8 (custom) UUID from the first 16 bytes of the image hash.
fn uuid_from(sha256_hex: &str) -> String {
    let mut bytes = [0u8; 16];
    if let Ok(decoded) = hex::decode(sha256_hex.get(..32).unwrap_or_default())
        && decoded.len() == bytes.len()
    {
        bytes.copy_from_slice(&decoded);
    }
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let h = hex::encode(bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_serial_number_is_a_version_8_uuid_from_the_hash() {
        let uuid = uuid_from(&"ab".repeat(32));
        assert_eq!(uuid, "abababab-abab-8bab-abab-abababababab");
    }
}
