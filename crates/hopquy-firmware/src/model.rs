//! The report a scan produces (docs/schemas/firmware-report.schema.json is generated from
//! these types by `cargo xtask codegen`). Every list is sorted before it is returned, and nothing in it
//! depends on the clock or the machine, so the same image gives a byte-identical report.

use serde::{Deserialize, Serialize};

/// Bumped on incompatible changes; additions keep the number.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FirmwareReport {
    pub schema_version: u32,
    pub tool: Tool,
    pub image: ImageFacts,
    /// The bounds the scan ran under (they decide what "fully scanned" means).
    pub limits: Limits,
    /// Every container recognised (or recognised and not unpacked), sorted by path, offset.
    pub containers: Vec<Container>,
    pub findings: Vec<Finding>,
    /// Components with versions (also written as a CycloneDX SBOM).
    pub inventory: Vec<Component>,
    pub update_integrity: UpdateIntegrity,
    /// Bounds that were reached: what lies behind them was not analysed.
    pub limits_hit: Vec<LimitHit>,
    /// Number of file systems or archives whose entries were walked.
    pub filesystems_unpacked: u32,
    /// Set when the scan could not look inside the image (nothing unpacked, opaque data):
    /// the findings then prove nothing either way.
    pub inconclusive: Option<String>,
    /// The offline vulnerability database the inventory was matched against (`--vulndb`);
    /// absent when none was given, so "no match" and "not looked" stay apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vulndb: Option<VulnDbIdentity>,
    /// Advisories of that database whose affected versions hold a component of the
    /// inventory, sorted by component, version, id. Empty without a database.
    #[serde(default)]
    pub vulnerabilities: Vec<Vulnerability>,
}

/// Which OSV database a match used, so a regulator can re-run it with the same files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VulnDbIdentity {
    /// File or directory name (without the lab's directories).
    pub name: String,
    /// `directory`, `zip` or `file`.
    pub kind: String,
    /// SHA-256 of the zip or the file; for a directory, of its `sha256sum`-style listing
    /// (`HASH  NAME` lines, sorted by name), so `sha256sum *.json | sha256sum` reproduces it.
    pub sha256: String,
    /// OSV files read.
    pub files: u64,
    /// Records in them (withdrawn ones included).
    pub advisories: u64,
    /// Records naming a component the scan recognises (only these can match).
    pub advisories_used: u64,
    /// A directory's files with their SHA-256 (the first 1000 by name).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listing: Vec<VulnDbFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct VulnDbFile {
    pub name: String,
    pub sha256: String,
}

/// One known vulnerability of one inventory component, matched by version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Vulnerability {
    /// The OSV record's id (`CVE-…`, `DSA-…`, `OSV-…`).
    pub id: String,
    pub aliases: Vec<String>,
    pub component: String,
    pub version: String,
    /// The first fixed version after the component's, when the record names one.
    pub fixed: Option<String>,
    /// CVSS vector or the database's own rating, as the record states it.
    pub severity: Option<String>,
    /// The database file the record came from (`osv.zip!CVE-2017-3735.json`).
    pub source_file: String,
    /// How it matched; always version-based (see docs/firmware.md for what that misses).
    pub basis: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Tool {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImageFacts {
    /// File name only: the lab's directory layout is not evidence.
    pub name: String,
    pub size: u64,
    pub sha256: String,
    /// Shannon entropy of the whole image, bits per byte (0–8), three decimals.
    pub entropy: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Limits {
    pub max_image_bytes: u64,
    pub max_total_bytes: u64,
    pub max_file_bytes: u64,
    pub max_depth: u32,
    pub max_entries: u64,
    pub max_ratio: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContainerStatus {
    /// Parsed and walked (or decompressed) completely.
    Unpacked,
    /// Parsed until the data ran out.
    Truncated,
    /// Recognised but malformed; what could be read was analysed.
    Corrupt,
    /// Recognised, but this version of hopquy cannot unpack it (see docs/firmware.md).
    Unsupported,
    /// Not recognised; the entropy says whether it is likely encrypted or compressed.
    Opaque,
    /// Not unpacked because a limit was reached (see `limits_hit`).
    Limited,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Container {
    /// `uimage`, `gzip`, `xz`, `lzma`, `zstd`, `tar`, `cpio`, `zip`, `squashfs`, `cramfs`,
    /// `jffs2`, `ubi`, `fit`, `unknown`.
    pub format: String,
    /// Where it is: the virtual path of the blob that holds it.
    pub path: String,
    pub offset: u64,
    /// Bytes of the container in its parent (as far as known).
    pub size: u64,
    pub status: ContainerStatus,
    /// Bits per byte, for opaque and unsupported data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entropy: Option<f64>,
    /// Entries walked (archives and file systems).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entries: Option<u64>,
    /// Header facts (uImage name and type, squashfs compression) or why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    PrivateKey,
    Certificate,
    /// A fixed account with a password hash: the same on every unit of the model.
    FixedAccount,
    /// A fixed account whose hash matches a publicly known default credential.
    DefaultCredential,
    /// An account that logs in with no password at all.
    EmptyPassword,
    /// A second account with UID 0.
    ExtraRootAccount,
    /// A password, token or key written in a script or configuration file.
    HardcodedSecret,
    /// Telnet, a serial-console getty or shell, or an SSH server started at boot.
    DebugService,
    /// A component past its maintainer's end of life.
    EndOfLifeComponent,
    /// An archive entry that would escape the extraction root (`..`, absolute name, a
    /// symbolic link climbing out). Never followed: the scan extracts nothing to disk.
    UnsafeEntry,
    /// Device node, FIFO or socket in an archive (normal in a root file system; recorded
    /// because an extractor would create it).
    SpecialEntry,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Finding {
    pub kind: FindingKind,
    pub severity: Severity,
    /// Virtual path: container chain, then the path inside the file system.
    pub path: String,
    /// Byte offset inside that file (or blob) where the evidence starts.
    pub offset: u64,
    /// One line a person reads; never a secret.
    pub title: String,
    /// Redacted excerpt of the evidence: secrets replaced by `<redacted …>`.
    pub excerpt: String,
    /// SHA-256 fingerprint of the secret or object (`sha256:…`), to re-check without the
    /// secret itself being written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// QCVN 135:2024 clauses the finding bears on.
    pub clauses: Vec<String>,
}

impl Finding {
    /// The account an account finding (`default_credential`, `fixed_account`,
    /// `empty_password`, `extra_root_account`) is about: the first field of its redacted
    /// passwd/shadow line, which `accounts.rs` always writes first.
    pub fn account(&self) -> Option<&str> {
        matches!(
            self.kind,
            FindingKind::DefaultCredential
                | FindingKind::FixedAccount
                | FindingKind::EmptyPassword
                | FindingKind::ExtraRootAccount
        )
        .then(|| self.excerpt.split(':').next())
        .flatten()
        .filter(|user| !user.is_empty())
    }

    /// The credential dictionary a `default_credential` finding's hash matched (the title
    /// ends `… of dictionary NAME`).
    pub fn dictionary(&self) -> Option<&str> {
        if self.kind != FindingKind::DefaultCredential {
            return None;
        }
        self.title.rsplit_once(" of dictionary ").map(|(_, name)| name.trim())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Component {
    pub name: String,
    pub version: String,
    /// CycloneDX component type: `application`, `library`, `operating-system`.
    pub component_type: String,
    /// Where it was seen (first paths, sorted).
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum IntegrityVerdict {
    /// A signature container or signature block was found outside the file systems.
    Signed,
    /// Only checksums (uImage CRC32): anyone can rebuild a valid image.
    CrcOnly,
    /// Neither a signature nor a checksum header.
    NoneFound,
    /// The image was opaque: nothing can be said.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct UpdateIntegrity {
    pub verdict: IntegrityVerdict,
    pub evidence: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    TotalBytes,
    FileBytes,
    Depth,
    Entries,
    Ratio,
    /// A password hash whose work factor is too high to check offline within the scan.
    HashCost,
    /// An external unpacker (cramfs, jffs2, UBI) ran past its time limit.
    ToolTime,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema)]
pub struct LimitHit {
    pub limit: LimitKind,
    pub path: String,
    pub offset: u64,
    pub detail: String,
}
