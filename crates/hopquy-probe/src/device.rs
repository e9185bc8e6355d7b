//! The device under test as the probes see it: one host, a connection cap, a minimum gap
//! between new connections, and bounds on time and size. Every probe connects through
//! [`Device::connect_tcp`] (or takes a [`Permit`] before letting a library connect), so the
//! cap and the one-host rule hold for all protocols.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::ProbeError;

#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections to the device at once.
    pub max_connections: usize,
    /// Minimum gap between two new connections (rate limit).
    pub min_connect_gap: Duration,
    pub connect_timeout: Duration,
    /// Bound on one whole request/response.
    pub io_timeout: Duration,
    /// Bound on bytes kept from one response.
    pub max_response_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 4,
            min_connect_gap: Duration::from_millis(0),
            connect_timeout: Duration::from_secs(5),
            io_timeout: Duration::from_secs(10),
            max_response_bytes: 1024 * 1024,
        }
    }
}

#[derive(Debug)]
struct Shared {
    host: String,
    limits: Limits,
    sem: Arc<Semaphore>,
    last_connect: Mutex<Option<Instant>>,
    /// SHA-256 (hex) of the leaf certificate of the first HTTPS handshake.
    certificate_pin: std::sync::Mutex<Option<String>>,
}

/// Cloneable handle on the device; clones share the cap.
#[derive(Debug, Clone)]
pub struct Device {
    shared: Arc<Shared>,
}

/// Held while a connection to the device is open.
#[derive(Debug)]
pub struct Permit {
    _permit: OwnedSemaphorePermit,
}

impl Device {
    /// `host` is a name or an IP literal (IPv6 without brackets).
    pub fn new(host: impl Into<String>, limits: Limits) -> Self {
        let max = limits.max_connections.max(1);
        Device {
            shared: Arc::new(Shared {
                host: host.into(),
                sem: Arc::new(Semaphore::new(max)),
                limits,
                last_connect: Mutex::new(None),
                certificate_pin: std::sync::Mutex::new(None),
            }),
        }
    }

    pub fn host(&self) -> &str {
        &self.shared.host
    }

    pub fn limits(&self) -> &Limits {
        &self.shared.limits
    }

    /// `host:port`, bracketing IPv6 literals.
    pub fn authority(&self, port: u16) -> String {
        let h = &self.shared.host;
        if h.contains(':') && !h.starts_with('[') {
            format!("[{h}]:{port}")
        } else {
            format!("{h}:{port}")
        }
    }

    /// Pin the leaf certificate (SHA-256 hex) the device presented over HTTPS: the first one
    /// seen is kept for the device's lifetime (one run), and any other one later is an error.
    /// Camera certificates are rarely valid, so they are accepted — but only ever the same one.
    pub fn pin_certificate(&self, sha256: &str) -> Result<(), ProbeError> {
        let mut pin = match self.shared.certificate_pin.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        match pin.as_deref() {
            None => {
                *pin = Some(sha256.to_ascii_lowercase());
                Ok(())
            }
            Some(pinned) if pinned.eq_ignore_ascii_case(sha256) => Ok(()),
            Some(pinned) => Err(ProbeError::CertificateChanged(format!(
                "pinned sha256 {pinned} at the first handshake, now {}",
                sha256.to_ascii_lowercase()
            ))),
        }
    }

    /// Drop the pin: the next HTTPS answer pins its certificate. Only for a change the lab
    /// made itself (a factory reset or firmware update that regenerates the certificate).
    pub fn forget_certificate_pin(&self) {
        match self.shared.certificate_pin.lock() {
            Ok(mut guard) => *guard = None,
            Err(poisoned) => *poisoned.into_inner() = None,
        }
    }

    /// The pinned certificate's SHA-256, once an HTTPS answer was read.
    pub fn pinned_certificate(&self) -> Option<String> {
        match self.shared.certificate_pin.lock() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Wait for a connection slot and the rate-limit gap.
    pub async fn permit(&self) -> Permit {
        // The semaphore is never closed, so acquire cannot fail; fall back to a fresh
        // single-use semaphore rather than panic if it ever were.
        let permit = match self.shared.sem.clone().acquire_owned().await {
            Ok(p) => p,
            Err(_) => match Arc::new(Semaphore::new(1)).acquire_owned().await {
                Ok(p) => p,
                Err(_) => unreachable_permit(),
            },
        };
        let gap = self.shared.limits.min_connect_gap;
        if !gap.is_zero() {
            let mut last = self.shared.last_connect.lock().await;
            if let Some(t) = *last {
                let since = t.elapsed();
                if since < gap {
                    tokio::time::sleep(gap - since).await;
                }
            }
            *last = Some(Instant::now());
        }
        Permit { _permit: permit }
    }

    /// Resolve `host:port`. Only the target host is ever resolved.
    pub async fn resolve(&self, port: u16) -> Result<SocketAddr, ProbeError> {
        let auth = self.authority(port);
        let mut addrs = tokio::time::timeout(
            self.shared.limits.connect_timeout,
            tokio::net::lookup_host(auth.clone()),
        )
        .await
        .map_err(|_| ProbeError::Timeout(format!("resolving {auth}")))?
        .map_err(|e| ProbeError::Unreachable(format!("{auth}: {e}")))?;
        addrs
            .next()
            .ok_or_else(|| ProbeError::Unreachable(format!("{auth}: no address")))
    }

    /// Connect to `port` on the device, holding a permit for the connection's lifetime.
    pub async fn connect_tcp(&self, port: u16) -> Result<(TcpStream, Permit), ProbeError> {
        let permit = self.permit().await;
        let addr = self.resolve(port).await?;
        let stream = tokio::time::timeout(self.shared.limits.connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ProbeError::Timeout(format!("connecting to {addr}")))?
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::ConnectionRefused => ProbeError::Refused(addr.to_string()),
                _ => ProbeError::Unreachable(format!("{addr}: {e}")),
            })?;
        let _ = stream.set_nodelay(true);
        Ok((stream, permit))
    }
}

fn unreachable_permit() -> OwnedSemaphorePermit {
    // Both semaphores above are fresh and open; this path cannot be taken.
    panic!("semaphore closed")
}
