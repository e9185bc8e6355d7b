//! `telnet-open`: a Telnet login prompt like a BusyBox/XM camera's. It negotiates options
//! the way telnetd does and asks for a login and password a few times. Like the debug
//! telnetd of such firmware it has accounts of its own, not the web API's: nobody gets in,
//! except under `default-password`, where the factory pairs (admin/12345, service/service)
//! get a BusyBox shell prompt. Anything else gets `Login incorrect`, as login(1) says.

use std::io;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::auth::constant_time_eq;
use crate::config::{Flaw, SimSetup};
use crate::http::{FACTORY_PASSWORD, SERVICE_ACCOUNT};
use crate::net::accept_loop;

/// IAC DO TERMINAL-TYPE, DO TERMINAL-SPEED, DO X-DISPLAY-LOCATION, DO NEW-ENVIRON.
pub const NEGOTIATION: &[u8] = &[0xFF, 0xFD, 0x18, 0xFF, 0xFD, 0x20, 0xFF, 0xFD, 0x23, 0xFF, 0xFD, 0x27];
pub const LOGIN_PROMPT: &[u8] = b"\r\nlogin: ";
const PASSWORD_PROMPT: &[u8] = b"Password: ";
const LOGIN_INCORRECT: &[u8] = b"\r\nLogin incorrect\r\n";
/// What a logged-in user sees: the shell, which then only waits for `exit`.
const SHELL: &[u8] = b"\r\n\r\nBusyBox v1.20.2 (2016-05-30 10:12:55 CST) built-in shell (ash)\r\nEnter 'help' for a list of built-in commands.\r\n\r\n~ # ";
const MAX_TRIES: usize = 3;
/// Input beyond this per line is dropped, not buffered.
const MAX_LINE: usize = 128;
const READ_TIMEOUT: Duration = Duration::from_secs(30);
const SESSION_LIMIT: Duration = Duration::from_secs(120);
/// login(1) waits before "Login incorrect"; so does the camera.
const FAILURE_DELAY: Duration = Duration::from_millis(200);

pub(crate) async fn serve(listener: TcpListener, setup: SimSetup) {
    let factory = setup.has(Flaw::DefaultPassword);
    accept_loop(listener, "telnet", move |stream, _peer| async move {
        let _ = tokio::time::timeout(SESSION_LIMIT, session(stream, factory)).await;
    })
    .await;
}

/// The factory pairs `default-password` leaves in the telnet daemon's password file.
fn factory_login(user: &[u8], password: &[u8]) -> bool {
    [("admin", FACTORY_PASSWORD), SERVICE_ACCOUNT]
        .iter()
        .any(|(u, p)| constant_time_eq(u.as_bytes(), user) & constant_time_eq(p.as_bytes(), password))
}

async fn session(mut stream: TcpStream, factory: bool) -> io::Result<()> {
    stream.write_all(NEGOTIATION).await?;
    stream.write_all(LOGIN_PROMPT).await?;
    let mut lines = LineReader::default();
    for attempt in 0..MAX_TRIES {
        if attempt > 0 {
            stream.write_all(&LOGIN_PROMPT[2..]).await?;
        }
        // What was typed is deliberately neither kept beyond the check nor logged: it may
        // be a password.
        let Some(user) = lines.next_line(&mut stream).await? else {
            return Ok(());
        };
        stream.write_all(PASSWORD_PROMPT).await?;
        let Some(password) = lines.next_line(&mut stream).await? else {
            return Ok(());
        };
        if factory && factory_login(&user, &password) {
            stream.write_all(SHELL).await?;
            // The shell runs until the client leaves; whatever it types is not executed.
            while lines.next_line(&mut stream).await?.is_some() {
                stream.write_all(b"~ # ").await?;
            }
            return Ok(());
        }
        tokio::time::sleep(FAILURE_DELAY).await;
        stream.write_all(LOGIN_INCORRECT).await?;
    }
    stream.shutdown().await
}

#[derive(Default)]
struct LineReader {
    buffer: Vec<u8>,
    position: usize,
    decoder: TelnetDecoder,
}

impl LineReader {
    /// The next line with Telnet commands removed; `None` at end of stream.
    async fn next_line(&mut self, stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
        loop {
            while let Some(&byte) = self.buffer.get(self.position) {
                self.position += 1;
                if let Some(line) = self.decoder.push(byte) {
                    return Ok(Some(line));
                }
            }
            let mut chunk = [0u8; 512];
            let read = tokio::time::timeout(READ_TIMEOUT, stream.read(&mut chunk))
                .await
                .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))??;
            if read == 0 {
                return Ok(None);
            }
            self.buffer.clear();
            self.buffer.extend_from_slice(&chunk[..read]);
            self.position = 0;
        }
    }
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum DecodeState {
    #[default]
    Data,
    Command,
    OptionCode,
    Subnegotiation,
    SubnegotiationCommand,
}

/// Strips IAC commands (RFC 854) from the client's bytes and splits lines at CR, LF,
/// CR LF or CR NUL.
#[derive(Debug, Default)]
struct TelnetDecoder {
    state: DecodeState,
    line: Vec<u8>,
    after_cr: bool,
}

const IAC: u8 = 0xFF;
const SB: u8 = 0xFA;
const SE: u8 = 0xF0;

impl TelnetDecoder {
    fn push(&mut self, byte: u8) -> Option<Vec<u8>> {
        match self.state {
            DecodeState::Data => match byte {
                IAC => self.state = DecodeState::Command,
                b'\n' if self.after_cr => self.after_cr = false,
                b'\r' | b'\n' => {
                    self.after_cr = byte == b'\r';
                    return Some(std::mem::take(&mut self.line));
                }
                0 => {}
                _ => {
                    self.after_cr = false;
                    if self.line.len() < MAX_LINE {
                        self.line.push(byte);
                    }
                }
            },
            DecodeState::Command => {
                self.state = match byte {
                    0xFB..=0xFE => DecodeState::OptionCode,
                    SB => DecodeState::Subnegotiation,
                    IAC => {
                        if self.line.len() < MAX_LINE {
                            self.line.push(IAC);
                        }
                        DecodeState::Data
                    }
                    _ => DecodeState::Data,
                };
            }
            DecodeState::OptionCode => self.state = DecodeState::Data,
            DecodeState::Subnegotiation => {
                if byte == IAC {
                    self.state = DecodeState::SubnegotiationCommand;
                }
            }
            DecodeState::SubnegotiationCommand => {
                self.state = if byte == SE {
                    DecodeState::Data
                } else {
                    DecodeState::Subnegotiation
                };
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8]) -> Vec<Vec<u8>> {
        let mut decoder = TelnetDecoder::default();
        input.iter().filter_map(|b| decoder.push(*b)).collect()
    }

    #[test]
    fn strips_negotiation_and_splits_lines() {
        let input = [
            &[0xFF, 0xFB, 0x18, 0xFF, 0xFA, 0x18, 0x00, b'x', 0xFF, 0xF0][..],
            b"root\r\n",
            b"pa",
            &[0xFF, 0xFF],
            b"ss\r\0",
            b"third\n",
        ]
        .concat();
        assert_eq!(
            lines(&input),
            vec![
                b"root".to_vec(),
                [b"pa".as_slice(), &[0xFF], b"ss"].concat(),
                b"third".to_vec()
            ]
        );
    }

    #[test]
    fn long_lines_are_capped() {
        let mut input = vec![b'a'; 10_000];
        input.push(b'\n');
        let got = lines(&input);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].len(), MAX_LINE);
    }
}
