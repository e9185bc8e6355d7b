//! Builders for the test images: every format is written here in Rust (or through the crate
//! that writes it), so the tests need no external tool and each setup is visible in code.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Cursor, Write};
use std::path::Path;

use hopquy_firmware::{KnownCredential, ScanOptions};

/// A throwaway RSA key (PKCS#1 PEM) and a self-signed certificate for it, made by OpenSSL
/// when the tests run — never committed, so no secret scanner meets a private key in the
/// repository — with the SHA-256 of its SubjectPublicKeyInfo as OpenSSL computes it, so the
/// scanner's key fingerprint is checked against an independent tool.
pub struct TestKey {
    pub key_pem: String,
    pub cert_pem: String,
    pub spki_sha256: String,
}

pub fn test_key() -> &'static TestKey {
    static KEY: std::sync::OnceLock<TestKey> = std::sync::OnceLock::new();
    KEY.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let p = |name: &str| dir.path().join(name).to_str().unwrap().to_owned();
        let openssl = |args: &[&str]| {
            let o = std::process::Command::new("openssl")
                .args(args)
                .output()
                .unwrap_or_else(|e| panic!("the firmware tests need the openssl command to make their test key: {e}"));
            assert!(
                o.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&o.stderr)
            );
            o.stdout
        };
        openssl(&["genrsa", "-traditional", "-out", &p("key.pem"), "2048"]);
        openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            &p("key.pem"),
            "-subj",
            "/CN=hopquy test camera",
            "-days",
            "3650",
            "-out",
            &p("cert.pem"),
        ]);
        openssl(&[
            "rsa",
            "-in",
            &p("key.pem"),
            "-pubout",
            "-outform",
            "DER",
            "-out",
            &p("spki.der"),
        ]);
        let digest = String::from_utf8(openssl(&["dgst", "-sha256", "-r", &p("spki.der")])).unwrap();
        TestKey {
            key_pem: std::fs::read_to_string(p("key.pem")).unwrap(),
            cert_pem: std::fs::read_to_string(p("cert.pem")).unwrap(),
            spki_sha256: digest.split_whitespace().next().unwrap().to_owned(),
        }
    })
}
/// `openssl passwd -1 -salt hqtest 12345` (the Hikvision default admin:12345).
pub const ADMIN_12345_MD5: &str = "$1$hqtest$Q9PtxQkMFXFDIl/gzSpB80";
/// `openssl passwd -6 -salt hqsalt S3cure-unique-Pw`: in no dictionary.
pub const UNIQUE_SHA512: &str =
    "$6$hqsalt$LeOfqpnaiUdjEOlEnNAgiwrsstYSfd6vQZ/vPSW5hBId6.ARRIXYfvu6wPi1l24eHYx.e9DLAiNB1Md4Kd4t8/";

/// The project's real default-credential dictionary, read as the CLI reads it.
pub fn dictionary_options() -> ScanOptions {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../test-cases/data/default-credentials.toml");
    let text = std::fs::read_to_string(path).unwrap();
    let value: toml::Value = toml::from_str(&text).unwrap();
    let credentials = value["credential"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| KnownCredential {
            dictionary: "default-credentials".into(),
            username: c["username"].as_str().unwrap().into(),
            password: c["password"].as_str().unwrap().into(),
        })
        .collect();
    ScanOptions {
        credentials,
        ..ScanOptions::default()
    }
}

// ---------------------------------------------------------------------------------------
// Compression
// ---------------------------------------------------------------------------------------

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn xz(data: &[u8]) -> Vec<u8> {
    let mut e = liblzma::write::XzEncoder::new(Vec::new(), 6);
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

pub fn zstd(data: &[u8]) -> Vec<u8> {
    zstd::encode_all(data, 3).unwrap()
}

// ---------------------------------------------------------------------------------------
// uImage
// ---------------------------------------------------------------------------------------

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = flate2::Crc::new();
    c.update(bytes);
    c.sum()
}

/// U-Boot legacy header (`mkimage -A arm -O linux -T <kind> -C <comp>`): 64 bytes, big
/// endian, header and data CRC32.
pub fn uimage(payload: &[u8], kind: u8, comp: u8, name: &str) -> Vec<u8> {
    let mut h = vec![0u8; 64];
    h[0..4].copy_from_slice(&[0x27, 0x05, 0x19, 0x56]);
    h[8..12].copy_from_slice(&1_700_000_000u32.to_be_bytes());
    h[12..16].copy_from_slice(&(payload.len() as u32).to_be_bytes());
    h[16..20].copy_from_slice(&0x8000u32.to_be_bytes());
    h[20..24].copy_from_slice(&0x8000u32.to_be_bytes());
    h[24..28].copy_from_slice(&crc32(payload).to_be_bytes());
    h[28] = 5; // linux
    h[29] = 2; // arm
    h[30] = kind;
    h[31] = comp;
    let n = name.as_bytes();
    h[32..32 + n.len().min(32)].copy_from_slice(&n[..n.len().min(32)]);
    let hcrc = crc32(&h);
    h[4..8].copy_from_slice(&hcrc.to_be_bytes());
    h.extend_from_slice(payload);
    h
}

// ---------------------------------------------------------------------------------------
// cpio (newc)
// ---------------------------------------------------------------------------------------

pub enum Node<'a> {
    File(&'a str, &'a [u8]),
    Dir(&'a str),
    Symlink(&'a str, &'a str),
    CharDev(&'a str),
}

pub fn cpio(nodes: &[Node<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut ino = 1;
    let mut push = |out: &mut Vec<u8>, name: &str, mode: u32, data: &[u8]| {
        let header = format!(
            "070701{ino:08X}{mode:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            if mode & 0o170000 == 0o020000 { 5 } else { 0 },
            1,
            name.len() + 1,
            0
        );
        ino += 1;
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
        out.extend_from_slice(data);
        while !out.len().is_multiple_of(4) {
            out.push(0);
        }
    };
    for node in nodes {
        match node {
            Node::File(name, data) => push(&mut out, name, 0o100644, data),
            Node::Dir(name) => push(&mut out, name, 0o040755, b""),
            Node::Symlink(name, target) => push(&mut out, name, 0o120777, target.as_bytes()),
            Node::CharDev(name) => push(&mut out, name, 0o020600, b""),
        }
    }
    push(&mut out, "TRAILER!!!", 0, b"");
    out
}

// ---------------------------------------------------------------------------------------
// squashfs (backhand's writer)
// ---------------------------------------------------------------------------------------

pub fn squashfs(nodes: &[Node<'_>], compressor: backhand::compression::Compressor) -> Vec<u8> {
    let mut fs = backhand::FilesystemWriter::default();
    fs.set_compressor(backhand::FilesystemCompressor::new(compressor, None).unwrap());
    fs.set_time(1_700_000_000);
    let header = backhand::NodeHeader {
        permissions: 0o755,
        uid: 0,
        gid: 0,
        mtime: 1_700_000_000,
    };
    for node in nodes {
        match node {
            Node::File(name, data) => fs.push_file(Cursor::new(data.to_vec()), name, header).unwrap(),
            Node::Dir(name) => fs.push_dir(name, header).unwrap(),
            Node::Symlink(name, target) => fs.push_symlink(target, name, header).unwrap(),
            Node::CharDev(name) => fs.push_char_device(0x0501, name, header).unwrap(),
        }
    }
    let mut out = Cursor::new(Vec::new());
    fs.write(&mut out).unwrap();
    out.into_inner()
}

// ---------------------------------------------------------------------------------------
// tar with names the tar crate's builder would refuse
// ---------------------------------------------------------------------------------------

pub fn tar_raw(entries: &[(&str, u8, &[u8], &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, kind, data, link) in entries {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        h[136..148].copy_from_slice(b"00000000000\0");
        h[156] = *kind;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        while !out.len().is_multiple_of(512) {
            out.push(0);
        }
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// Deterministic noise (xorshift): what an encrypted vendor container looks like.
pub fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    (0..len)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The two reference root file systems
// ---------------------------------------------------------------------------------------

pub const BAD_INITTAB: &str = "::sysinit:/etc/init.d/rcS\n::respawn:/usr/sbin/telnetd -F -l /bin/login\nttyS0::respawn:/sbin/getty -L ttyS0 115200 vt100\n";
pub const BAD_RCS: &str = "#!/bin/sh\nmount -a\n/usr/sbin/dropbear -R\nCLOUD_TOKEN=9f8e7d6c5b4a39281706\n/usr/bin/ipcam --admin-password=Hik12345Secret &\n";
pub const GOOD_INITTAB: &str = "::sysinit:/etc/init.d/rcS\n::respawn:/usr/bin/ipcam\n::shutdown:/bin/umount -a -r\n";
pub const GOOD_RCS: &str =
    "#!/bin/sh\nmount -a\n# telnetd is not started on production builds\n/usr/bin/ipcam --config /etc/ipcam.conf &\n";

pub fn bad_shadow() -> String {
    format!("root:!:19000:0:99999:7:::\nadmin:{ADMIN_12345_MD5}:19000:0:99999:7:::\n")
}

pub fn bad_rootfs_nodes(shadow: &str) -> Vec<(String, Vec<u8>)> {
    let mut busybox = vec![0x7f, b'E', b'L', b'F', 0, 0, 0, 0];
    busybox.extend_from_slice(b"\0BusyBox v1.31.1 (2021-03-02 10:11:12 CST) multi-call binary.\0");
    let mut libcrypto = vec![0x7f, b'E', b'L', b'F', 0, 0, 0, 0];
    libcrypto.extend_from_slice(b"\0OpenSSL 1.0.2k  26 Jan 2017\0");
    vec![
        (
            "etc/passwd".into(),
            b"root:x:0:0:root:/root:/bin/sh\nadmin:x:1000:1000::/home/admin:/bin/sh\n".to_vec(),
        ),
        ("etc/shadow".into(), shadow.as_bytes().to_vec()),
        ("etc/inittab".into(), BAD_INITTAB.as_bytes().to_vec()),
        ("etc/init.d/rcS".into(), BAD_RCS.as_bytes().to_vec()),
        (
            "etc/ssl/private/server.key".into(),
            test_key().key_pem.as_bytes().to_vec(),
        ),
        (
            "etc/ssl/certs/server.pem".into(),
            test_key().cert_pem.as_bytes().to_vec(),
        ),
        ("bin/busybox".into(), busybox),
        ("usr/lib/libcrypto.so.1.0.0".into(), libcrypto),
    ]
}

pub fn good_rootfs_nodes() -> Vec<(String, Vec<u8>)> {
    let mut busybox = vec![0x7f, b'E', b'L', b'F', 0, 0, 0, 0];
    busybox.extend_from_slice(b"\0BusyBox v1.36.1 (2024-05-02 10:11:12 CST) multi-call binary.\0");
    let mut libcrypto = vec![0x7f, b'E', b'L', b'F', 0, 0, 0, 0];
    libcrypto.extend_from_slice(b"\0OpenSSL 3.0.13 30 Jan 2024\0");
    vec![
        ("etc/passwd".into(), b"root:x:0:0:root:/root:/bin/false\n".to_vec()),
        ("etc/shadow".into(), b"root:!:19000:0:99999:7:::\n".to_vec()),
        ("etc/inittab".into(), GOOD_INITTAB.as_bytes().to_vec()),
        ("etc/init.d/rcS".into(), GOOD_RCS.as_bytes().to_vec()),
        (
            "etc/ipcam.conf".into(),
            b"[network]\nhttps_port = 443\npassword_policy = strong\n".to_vec(),
        ),
        ("bin/busybox".into(), busybox),
        ("usr/lib/libcrypto.so.3".into(), libcrypto),
    ]
}

/// Adds the parent directories each file needs and makes `Node`s of them.
pub fn with_dirs(files: &[(String, Vec<u8>)]) -> Vec<Node<'_>> {
    let mut dirs: Vec<String> = Vec::new();
    for (name, _) in files {
        let mut acc = String::new();
        let parts: Vec<&str> = name.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            if !acc.is_empty() {
                acc.push('/');
            }
            acc.push_str(part);
            if !dirs.contains(&acc) {
                dirs.push(acc.clone());
            }
        }
    }
    let dirs: &'static [String] = Box::leak(dirs.into_boxed_slice());
    let mut nodes: Vec<Node<'_>> = dirs.iter().map(|d| Node::Dir(d.as_str())).collect();
    nodes.extend(files.iter().map(|(n, d)| Node::File(n.as_str(), d.as_slice())));
    nodes
}
