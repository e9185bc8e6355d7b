//! `undeclared-port`: a vendor SDK service in the manner of Hikvision's port 8000. It
//! greets with a binary header, answers every request with "not logged in" and never
//! authenticates; the finding is that the port is open without being declared.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::net::accept_loop;

const MAGIC: [u8; 4] = [0x5A, 0x5A, 0x00, 0x01];
const COMMAND_HELLO: [u8; 4] = [0x00, 0x01, 0x00, 0x00];
const COMMAND_ERROR: [u8; 4] = [0x00, 0x01, 0x00, 0x01];
const STATUS_NOT_LOGGED_IN: [u8; 4] = [0x00, 0x00, 0x00, 0x17];
const MAX_REQUESTS: usize = 8;
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The 32-byte greeting: length, magic, command, status, then a NUL-padded product tag.
pub fn banner() -> Vec<u8> {
    let mut banner = Vec::with_capacity(32);
    banner.extend_from_slice(&32u32.to_be_bytes());
    banner.extend_from_slice(&MAGIC);
    banner.extend_from_slice(&COMMAND_HELLO);
    banner.extend_from_slice(&[0; 4]);
    banner.extend_from_slice(b"hopquy-sim SDK\0\0");
    banner
}

fn not_logged_in() -> Vec<u8> {
    [&16u32.to_be_bytes()[..], &MAGIC, &COMMAND_ERROR, &STATUS_NOT_LOGGED_IN].concat()
}

pub(crate) async fn serve(listener: TcpListener) {
    accept_loop(listener, "sdk", |stream, _peer| async move {
        let _ = session(stream).await;
    })
    .await;
}

async fn session(mut stream: TcpStream) -> std::io::Result<()> {
    stream.write_all(&banner()).await?;
    let mut chunk = [0u8; 4096];
    for _ in 0..MAX_REQUESTS {
        match tokio::time::timeout(READ_TIMEOUT, stream.read(&mut chunk)).await {
            Ok(Ok(read)) if read > 0 => stream.write_all(&not_logged_in()).await?,
            _ => break,
        }
    }
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_is_a_length_prefixed_binary_header() {
        let banner = banner();
        assert_eq!(banner.len(), 32);
        assert_eq!(u32::from_be_bytes([banner[0], banner[1], banner[2], banner[3]]), 32);
        assert_eq!(&banner[4..8], &MAGIC);
        assert_eq!(not_logged_in().len(), 16);
    }
}
