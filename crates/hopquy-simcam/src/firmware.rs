//! The firmware image the simulated manufacturer submits with its dossier: a newc cpio root
//! file system in the vendor's signed container (`firmware_image`), whose contents follow the
//! setup's flaws, so `hopquy run --firmware` and `hopquy demo` can judge the firmware cases
//! against the same camera the network cases see.
//!
//! What each flaw puts into the image, and why it is the same weakness seen offline:
//! - `default-password`: `/etc/shadow` holds admin:12345 and service:service as MD5-crypt
//!   hashes (the camera accepts both pairs); otherwise both accounts are locked until the
//!   first-use password is set.
//! - `telnet-open`: `/etc/inittab` starts telnetd at boot.
//! - `shared-certificate`: the HTTPS private key every unit shares is in `/etc/ssl/private`.
//! - `unsigned-firmware`: the container carries only its digest, no vendor signature.
//! - `legacy-tls`: the TLS library is OpenSSL 1.0.2k (the SSLv3/TLS 1.0 suites the camera
//!   still offers are what such builds ship), which known-vulnerability databases list as
//!   affected; otherwise OpenSSL 3.0.13. BusyBox 1.36.1 either way.
//!
//! The hardened image starts no debug service and holds no key, fixed password or token.

use crate::config::{Flaw, SimSetup};
use crate::http::{firmware_image, forged_firmware_image};

/// `openssl passwd -1 -salt hqtest 12345`.
const ADMIN_12345_MD5: &str = "$1$hqtest$Q9PtxQkMFXFDIl/gzSpB80";
/// `openssl passwd -1 -salt hqsvc service`.
const SERVICE_SERVICE_MD5: &str = "$1$hqsvc$Hzda1t0fGQEHQh6iRYFN7/";

/// The simulated lab's offline vulnerability database (`osv/`, two trimmed OSV records:
/// OpenSSL before 1.0.2m, BusyBox before 1.35), as `(file name, bytes)`: what `hopquy demo`
/// matches the image against, as a lab passes `--vulndb`.
pub fn sample_osv() -> &'static [(&'static str, &'static [u8])] {
    &[
        ("CVE-2017-3735.json", include_bytes!("../osv/CVE-2017-3735.json")),
        (
            "DEBIAN-CVE-2022-48174.json",
            include_bytes!("../osv/DEBIAN-CVE-2022-48174.json"),
        ),
    ]
}

/// The image of the firmware this setup runs.
pub fn rootfs_image(setup: &SimSetup) -> Vec<u8> {
    let passwd = "root:x:0:0:root:/root:/bin/sh\nadmin:x:1000:1000:admin:/home/admin:/bin/sh\nservice:x:1001:1001:service:/home/service:/bin/false\n";
    let shadow = if setup.has(Flaw::DefaultPassword) {
        format!(
            "root:*:19000:0:99999:7:::\nadmin:{ADMIN_12345_MD5}:19000:0:99999:7:::\nservice:{SERVICE_SERVICE_MD5}:19000:0:99999:7:::\n"
        )
    } else {
        "root:*:19000:0:99999:7:::\nadmin:!:19000:0:99999:7:::\nservice:!:19000:0:99999:7:::\n".to_owned()
    };
    let mut inittab = String::from("::sysinit:/etc/init.d/rcS\n::respawn:/usr/bin/ipc_server\n");
    if setup.has(Flaw::TelnetOpen) {
        inittab.push_str("::respawn:/usr/sbin/telnetd -F -l /bin/login\n");
    }
    let mut files: Vec<(&str, Vec<u8>)> = vec![
        ("etc", Vec::new()),
        ("etc/passwd", passwd.as_bytes().to_vec()),
        ("etc/shadow", shadow.into_bytes()),
        ("etc/inittab", inittab.into_bytes()),
        (
            "etc/init.d/rcS",
            b"#!/bin/sh\nmount -a\n/usr/bin/ipc_server --config /etc/ipc.conf &\n".to_vec(),
        ),
        ("etc/ipc.conf", b"[stream]\ncodec = h264\nport = 554\n".to_vec()),
    ];
    // Version strings as the binaries print them, so the scan's inventory (the SBOM) and an
    // offline vulnerability match see what they would on a real image.
    files.push((
        "bin/busybox",
        elf(b"BusyBox v1.36.1 (2024-05-02 10:11:12 UTC) multi-call binary."),
    ));
    if setup.has(Flaw::LegacyTls) {
        files.push(("usr/lib/libcrypto.so.1.0.0", elf(b"OpenSSL 1.0.2k  26 Jan 2017")));
    } else {
        files.push(("usr/lib/libcrypto.so.3", elf(b"OpenSSL 3.0.13 30 Jan 2024")));
    }
    if setup.has(Flaw::SharedCertificate) {
        files.push((
            "etc/ssl/private/server.key",
            crate::tls::SHARED_KEY_PEM.as_bytes().to_vec(),
        ));
    }
    let rootfs = newc(&files);
    if setup.has(Flaw::UnsignedFirmware) {
        forged_firmware_image(&rootfs)
    } else {
        firmware_image(&rootfs)
    }
}

/// A stand-in ELF file that holds only the version string a real binary embeds.
fn elf(version: &[u8]) -> Vec<u8> {
    [b"\x7fELF\x01\x01\x01\0\0".as_slice(), version, b"\0"].concat()
}

/// A newc cpio archive (the initramfs format): names ending in nothing are files, `etc` and
/// the like (empty data, no dot) are written as directories.
fn newc(files: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let trailer = ("TRAILER!!!", Vec::new());
    for (ino, (name, data)) in files.iter().chain(std::iter::once(&trailer)).enumerate() {
        let mode: u32 = match *name {
            "TRAILER!!!" => 0,
            "etc" => 0o040755,
            _ => 0o100644,
        };
        let header = format!(
            "070701{:08X}{mode:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}{:08X}",
            ino + 1,
            0,
            0,
            1,
            0,
            data.len(),
            0,
            0,
            0,
            0,
            name.len() + 1,
            0
        );
        out.extend_from_slice(header.as_bytes());
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        pad4(&mut out);
        out.extend_from_slice(data);
        pad4(&mut out);
    }
    out
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Personality;

    #[test]
    fn the_flaws_decide_what_the_image_holds() {
        let hardened = rootfs_image(&SimSetup::new(Personality::Hardened));
        let legacy = rootfs_image(&SimSetup::new(Personality::Legacy));
        let has = |image: &[u8], needle: &str| image.windows(needle.len()).any(|w| w == needle.as_bytes());
        for needle in ["telnetd", "PRIVATE KEY", "$1$", "OpenSSL 1.0.2k"] {
            assert!(!has(&hardened, needle), "hardened holds {needle}");
            assert!(has(&legacy, needle), "legacy lacks {needle}");
        }
        assert!(has(&hardened, "070701"));
    }
}
