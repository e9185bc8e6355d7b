//! The connect-only half of a port sweep: which ports accept a TCP connection.
//!
//! Runs on one blocking thread with its own poller, not as a tokio future per port: a full
//! 1–65535 sweep is dominated by per-connection overhead, and a tight non-blocking loop
//! (socket, connect, one readiness event, close) does about half again as many connects per
//! second as a future per port with its timer, permit and task wake-ups. That is what nmap's
//! connect scan does too.
//!
//! Invariants: never more than `width` sockets are open at once (the device's connection cap
//! for the sweep); consecutive connects are at least `min_gap` apart; each connect gets
//! `connect_timeout`; the loop stops when the [`Cancel`] handle is dropped.

use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// What a connect attempt showed about one port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swept {
    /// The handshake completed (to someone other than ourselves).
    Open,
    /// Actively refused, or a TCP self-connect (nothing listens there).
    Closed,
    /// No answer within the connect timeout, or a host/network unreachable.
    Filtered,
    /// Failed on our side (e.g. out of file descriptors or local ports).
    Failed,
}

/// The sweep's shape and pace.
#[derive(Debug, Clone, Copy)]
pub struct SweepPace {
    /// Sockets in flight at most.
    pub width: usize,
    pub connect_timeout: Duration,
    /// Minimum time between two connects (0 = as fast as the width allows).
    pub min_gap: Duration,
}

/// Dropping the handle asks a running sweep to stop; it then returns what it has.
#[derive(Debug)]
pub struct Cancel(Arc<AtomicBool>);

impl Drop for Cancel {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// The stop flag a sweep checks, and the handle whose drop raises it.
pub fn cancel_pair() -> (Cancel, Arc<AtomicBool>) {
    let flag = Arc::new(AtomicBool::new(false));
    (Cancel(flag.clone()), flag)
}

struct InFlight {
    port: u16,
    stream: TcpStream,
    deadline: Instant,
}

/// How long the poller waits at most in one turn, so the stop flag is seen promptly.
const POLL_SLICE: Duration = Duration::from_millis(100);

/// Threads a sweep may use at most (fewer on fewer cores).
const MAX_THREADS: usize = 4;

/// One sweep thread per core, up to [`MAX_THREADS`].
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(MAX_THREADS)
}

/// [`sweep`] split over up to `threads` threads, each with its share of the width, so the
/// total in flight never exceeds `pace.width`. On loopback or a fast LAN the kernel's
/// per-connection work, not the network, sets the pace, and it then runs on every core
/// instead of one. A rate-limited sweep (`min_gap`) stays on one thread: the gap is global.
pub fn sweep_sharded(
    ip: IpAddr,
    ports: &[u16],
    pace: SweepPace,
    threads: usize,
    stop: &AtomicBool,
) -> io::Result<Vec<(u16, Swept)>> {
    let width = pace.width.max(1);
    let shards = if pace.min_gap.is_zero() {
        threads.clamp(1, width).min(ports.len().max(1))
    } else {
        1
    };
    if shards == 1 {
        return sweep(ip, ports, pace, stop);
    }
    let chunk = ports.len().div_ceil(shards);
    let outcomes: Vec<io::Result<Vec<(u16, Swept)>>> = std::thread::scope(|scope| {
        let handles: Vec<_> = ports
            .chunks(chunk)
            .enumerate()
            .map(|(i, share)| {
                // Spread the width's remainder over the first shards.
                let shard_width = width / shards + usize::from(i < width % shards);
                let shard_pace = SweepPace {
                    width: shard_width,
                    ..pace
                };
                scope.spawn(move || sweep(ip, share, shard_pace, stop))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(io::Error::other("a port sweep thread panicked")))
            })
            .collect()
    });
    let mut all = Vec::with_capacity(ports.len());
    for outcome in outcomes {
        all.extend(outcome?);
    }
    Ok(all)
}

/// Connect to every port of `ip` and classify it. Blocking: call from a blocking thread.
/// Ports whose outcome was not known when the sweep was stopped are left out.
pub fn sweep(ip: IpAddr, ports: &[u16], pace: SweepPace, stop: &AtomicBool) -> io::Result<Vec<(u16, Swept)>> {
    let mut width = pace.width.max(1);
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(width.min(1024));
    let mut slots: Vec<Option<InFlight>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    // Deadlines grow with start time because the timeout is the same for every port, so the
    // oldest connection is always at the front.
    let mut by_age: VecDeque<(Instant, usize, u16)> = VecDeque::new();
    let mut results = Vec::with_capacity(ports.len());
    let mut next_port = ports.iter().copied();
    let mut pending = next_port.next();
    let mut in_flight = 0usize;
    let mut next_connect_at = Instant::now();

    while pending.is_some() || in_flight > 0 {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        // Start connects while there is room (and the rate limit allows).
        while let Some(port) = pending {
            if in_flight >= width {
                break;
            }
            let now = Instant::now();
            if !pace.min_gap.is_zero() && now < next_connect_at {
                break;
            }
            let addr = SocketAddr::new(ip, port);
            let mut stream = match TcpStream::connect(addr) {
                Ok(s) => s,
                // Out of descriptors or local ports (a low `ulimit -n`): this machine's limit,
                // not the device's answer. Narrow to what is in flight and retry the port once
                // some of those close; with nothing in flight there is nothing to wait for.
                Err(e) if is_local_exhaustion(&e) && in_flight > 0 => {
                    tracing::debug!(%addr, error = %e, in_flight, "narrowing the port sweep");
                    width = in_flight;
                    break;
                }
                Err(e) => {
                    pending = next_port.next();
                    results.push((port, classify_error(&e, addr)));
                    continue;
                }
            };
            pending = next_port.next();
            if !pace.min_gap.is_zero() {
                next_connect_at = now + pace.min_gap;
            }
            let index = free.pop().unwrap_or_else(|| {
                slots.push(None);
                slots.len() - 1
            });
            if let Err(e) = poll.registry().register(&mut stream, Token(index), Interest::WRITABLE) {
                tracing::debug!(%addr, error = %e, "port probe failed locally (poller)");
                free.push(index);
                results.push((port, Swept::Failed));
                continue;
            }
            let deadline = now + pace.connect_timeout;
            slots[index] = Some(InFlight { port, stream, deadline });
            by_age.push_back((deadline, index, port));
            in_flight += 1;
        }

        let now = Instant::now();
        let mut wait = by_age
            .front()
            .map_or(POLL_SLICE, |(deadline, _, _)| deadline.saturating_duration_since(now));
        if pending.is_some() && in_flight < width {
            wait = wait.min(next_connect_at.saturating_duration_since(now));
        }
        poll.poll(&mut events, Some(wait.min(POLL_SLICE))).or_else(|e| {
            if e.kind() == io::ErrorKind::Interrupted {
                Ok(())
            } else {
                Err(e)
            }
        })?;

        for event in &events {
            let index = event.token().0;
            let Some(slot) = slots.get_mut(index) else { continue };
            let Some(flight) = slot.as_ref() else { continue };
            let Some(state) = settled(&flight.stream, flight.port, ip) else {
                continue;
            };
            // Dropping the stream closes the socket, which also takes it out of the poller
            // (nothing else holds the descriptor): no deregister call per port.
            if let Some(done) = slot.take() {
                results.push((done.port, state));
                free.push(index);
                in_flight -= 1;
            }
        }

        // Expire connections past their deadline (entries whose slot was settled or reused
        // are stale and skipped).
        let now = Instant::now();
        while let Some(&(deadline, index, port)) = by_age.front() {
            if deadline > now {
                break;
            }
            by_age.pop_front();
            let Some(slot) = slots.get_mut(index) else { continue };
            if slot.as_ref().is_some_and(|f| f.port == port && f.deadline == deadline) && slot.take().is_some() {
                results.push((port, Swept::Filtered));
                free.push(index);
                in_flight -= 1;
            }
        }
        if in_flight == 0 {
            by_age.clear();
        }
    }
    Ok(results)
}

/// The outcome of a connect that signalled readiness, or `None` if it is still in progress
/// (a spurious wake-up).
fn settled(stream: &TcpStream, port: u16, ip: IpAddr) -> Option<Swept> {
    match stream.take_error() {
        Ok(Some(e)) => return Some(classify_error(&e, SocketAddr::new(ip, port))),
        Ok(None) => {}
        Err(e) => return Some(classify_error(&e, SocketAddr::new(ip, port))),
    }
    match stream.peer_addr() {
        Ok(peer) => {
            // TCP simultaneous open: sweeping the ephemeral range of a local address, the
            // kernel can pick the destination port as the source port and the socket
            // "connects" to itself. Nothing listens there: the port is closed.
            if stream.local_addr().is_ok_and(|local| local == peer) {
                Some(Swept::Closed)
            } else {
                Some(Swept::Open)
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotConnected => None,
        Err(e) => Some(classify_error(&e, SocketAddr::new(ip, port))),
    }
}

fn is_local_exhaustion(e: &io::Error) -> bool {
    // EMFILE, ENFILE (too many open files), EADDRNOTAVAIL (no free local port): stable errno
    // values on Linux and the BSDs, which std maps to no specific ErrorKind.
    e.kind() == io::ErrorKind::AddrNotAvailable || matches!(e.raw_os_error(), Some(23 | 24))
}

fn classify_error(e: &io::Error, addr: SocketAddr) -> Swept {
    use io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => Swept::Closed,
        K::TimedOut | K::HostUnreachable | K::NetworkUnreachable => Swept::Filtered,
        _ => {
            tracing::debug!(%addr, error = %e, "port probe failed locally");
            Swept::Failed
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pace(width: usize) -> SweepPace {
        SweepPace {
            width,
            connect_timeout: Duration::from_secs(2),
            min_gap: Duration::ZERO,
        }
    }

    /// Ports that were free a moment ago: nothing listens on them.
    fn closed_ports(n: usize) -> Vec<u16> {
        (0..n)
            .map(|_| {
                std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port()
            })
            .collect()
    }

    #[test]
    fn open_and_closed_ports_are_told_apart_at_any_width() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap().port();
        let closed = closed_ports(1)[0];
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for width in [1, 2, 64] {
            let stop = AtomicBool::new(false);
            let mut got = sweep(ip, &[closed, open, closed], pace(width), &stop).unwrap();
            got.sort_unstable_by_key(|(port, state)| (*port, *state == Swept::Open));
            let mut want = vec![(closed, Swept::Closed), (closed, Swept::Closed), (open, Swept::Open)];
            want.sort_unstable_by_key(|(port, state)| (*port, *state == Swept::Open));
            assert_eq!(got, want, "width {width}");
        }
    }

    #[test]
    fn shards_together_report_every_port_once() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap().port();
        let closed = closed_ports(9);
        let mut ports = closed.clone();
        ports.insert(4, open);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let stop = AtomicBool::new(false);
        for threads in [1, 2, 3, 16] {
            let got = sweep_sharded(ip, &ports, pace(5), threads, &stop).unwrap();
            let mut seen: Vec<u16> = got.iter().map(|(p, _)| *p).collect();
            seen.sort_unstable();
            let mut want = ports.clone();
            want.sort_unstable();
            assert_eq!(seen, want, "{threads} threads");
            let opened: Vec<u16> = got.iter().filter(|(_, s)| *s == Swept::Open).map(|(p, _)| *p).collect();
            assert_eq!(opened, vec![open], "{threads} threads");
        }
    }

    #[test]
    fn a_raised_stop_flag_ends_the_sweep_early() {
        let stop = AtomicBool::new(true);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let got = sweep(ip, &[1, 2, 3], pace(4), &stop).unwrap();
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn the_gap_spaces_connects_apart() {
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let closed = closed_ports(4);
        let stop = AtomicBool::new(false);
        let begun = Instant::now();
        let got = sweep(
            ip,
            &closed,
            SweepPace {
                min_gap: Duration::from_millis(50),
                ..pace(8)
            },
            &stop,
        )
        .unwrap();
        assert_eq!(got.len(), 4);
        // Three gaps between four connects: a lower bound, which load cannot break.
        assert!(begun.elapsed() >= Duration::from_millis(150), "{:?}", begun.elapsed());
    }
}
