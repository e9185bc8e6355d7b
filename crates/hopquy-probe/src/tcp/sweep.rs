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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
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
    /// No answer at the full connect timeout, or a host/network unreachable.
    Filtered,
    /// No answer within this pass's (adaptive) timeout. [`adaptive_sweep`] retries these at
    /// the full timeout and reports what is still silent as [`Swept::Filtered`].
    TimedOut,
    /// Failed on our side (e.g. out of file descriptors or local ports).
    Failed,
}

/// The sweep's shape and pace.
#[derive(Debug, Clone, Copy)]
pub struct SweepPace {
    /// Sockets in flight at most.
    pub width: usize,
    /// The full connect timeout: what a connect gets before the round trip is known, the
    /// cap of the adaptive timeout, and the timeout of the retry pass.
    pub connect_timeout: Duration,
    /// Minimum time between two connects (0 = as fast as the width allows).
    pub min_gap: Duration,
    /// Floor of the timeout adapted to the measured round trip; `None` gives every connect
    /// the full timeout.
    pub adaptive_floor: Option<Duration>,
}

/// How many round-trip timeouts (RFC 6298's `srtt + 4·rttvar`) a connect gets in the
/// adaptive pass: headroom for a device whose accept path is slower than its RST path.
const RTO_MULTIPLIER: u32 = 2;

/// The retry pass runs at the full timeout while it costs at most this many full timeouts
/// (timed-out ports ≤ waves × width). Beyond that the device drops SYNs to closed ports
/// wholesale, and a full-timeout retry of every port would cost what the adaptive pass
/// saved; those ports get one more try at the adaptive timeout instead (packet loss).
pub const FULL_RETRY_WAVES: usize = 2;

/// The round trip as measured by answered connects (SYN-ACK or RST), smoothed as TCP does
/// (RFC 6298).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rtt {
    srtt: Duration,
    rttvar: Duration,
    samples: u32,
}

impl Rtt {
    pub fn add(&mut self, sample: Duration) {
        if self.samples == 0 {
            self.srtt = sample;
            self.rttvar = sample / 2;
        } else {
            let delta = self.srtt.abs_diff(sample);
            self.rttvar = (self.rttvar * 3 + delta) / 4;
            self.srtt = (self.srtt * 7 + sample) / 8;
        }
        self.samples = self.samples.saturating_add(1);
    }

    /// The smoothed round trip, once any connect was answered.
    pub fn smoothed(&self) -> Option<Duration> {
        (self.samples > 0).then_some(self.srtt)
    }

    pub fn samples(&self) -> u32 {
        self.samples
    }

    /// The connect timeout for `pace`: the full one until a connect was answered (or when
    /// the pace is not adaptive), else scaled to the round trip, at least the floor.
    pub fn timeout(&self, pace: &SweepPace) -> Duration {
        match pace.adaptive_floor {
            Some(floor) if self.samples > 0 => ((self.srtt + self.rttvar * 4) * RTO_MULTIPLIER)
                .max(floor)
                .min(pace.connect_timeout),
            _ => pace.connect_timeout,
        }
    }
}

/// What one pass over a port list found.
#[derive(Debug, Clone, Default)]
pub struct SweepPass {
    pub ports: Vec<(u16, Swept)>,
    pub rtt: Rtt,
    /// The connect timeout in force at the end of the pass (the one most ports got).
    pub timeout: Duration,
}

/// A whole sweep: the adaptive pass and the retry of its timed-out ports.
#[derive(Debug, Clone, Default)]
pub struct SweepReport {
    /// Every port once; no [`Swept::TimedOut`] remains (still silent = `Filtered`).
    pub ports: Vec<(u16, Swept)>,
    /// Smoothed round trip of the answered connects, if any.
    pub rtt: Option<Duration>,
    /// Connect timeout of the first pass at its end (adapted to the round trip).
    pub sweep_timeout: Duration,
    /// Ports retried because the first pass timed them out.
    pub retried: usize,
    /// Timeout of the retry pass (the full one unless the retry was too large, see
    /// [`FULL_RETRY_WAVES`]); `None` when nothing was retried.
    pub retry_timeout: Option<Duration>,
    /// Ports the retry found open: slow answerers the adaptive timeout alone would have lost.
    pub open_on_retry: usize,
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
    started: Instant,
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

/// The adaptive sweep: one pass with connect timeouts scaled to the measured round trip,
/// then a retry pass for every port that pass timed out, so a device that drops SYNs to
/// closed ports costs a fraction of the full timeout per port while a slow open port is
/// still found. Both passes keep `pace.width` and `pace.min_gap`. `on_open` hears of each
/// open port as soon as it is found (from the sweep threads), so banner grabs can start
/// while the sweep goes on.
pub fn adaptive_sweep(
    ip: IpAddr,
    ports: &[u16],
    pace: SweepPace,
    threads: usize,
    stop: &AtomicBool,
    on_open: &(dyn Fn(u16) + Sync),
) -> io::Result<SweepReport> {
    let first = sweep_sharded_with(ip, ports, pace, threads, stop, on_open)?;
    let mut report = SweepReport {
        rtt: first.rtt.smoothed(),
        sweep_timeout: first.timeout,
        ..SweepReport::default()
    };
    let mut results = Vec::with_capacity(first.ports.len());
    let mut timed_out = Vec::new();
    for (port, state) in first.ports {
        if state == Swept::TimedOut {
            timed_out.push(port);
        } else {
            results.push((port, state));
        }
    }
    if !timed_out.is_empty() && !stop.load(Ordering::Relaxed) {
        let retry_timeout = if timed_out.len() <= FULL_RETRY_WAVES.saturating_mul(pace.width.max(1)) {
            pace.connect_timeout
        } else {
            first.timeout
        };
        tracing::debug!(
            retried = timed_out.len(),
            timeout_ms = retry_timeout.as_millis(),
            "retrying the ports the adaptive pass timed out"
        );
        let retry_pace = SweepPace {
            connect_timeout: retry_timeout,
            adaptive_floor: None,
            ..pace
        };
        let second = sweep_sharded_with(ip, &timed_out, retry_pace, threads, stop, on_open)?;
        report.retried = timed_out.len();
        report.retry_timeout = Some(retry_timeout);
        report.open_on_retry = second.ports.iter().filter(|(_, s)| *s == Swept::Open).count();
        timed_out.clear();
        results.extend(second.ports);
    }
    // Stopped before the retry: what timed out is what we know.
    results.extend(timed_out.into_iter().map(|p| (p, Swept::TimedOut)));
    for (_, state) in &mut results {
        if *state == Swept::TimedOut {
            *state = Swept::Filtered;
        }
    }
    report.ports = results;
    Ok(report)
}

/// [`sweep`] split over up to `threads` threads, each with its share of the width, so the
/// total in flight never exceeds `pace.width`. On loopback or a fast LAN the kernel's
/// per-connection work, not the network, sets the pace, and it then runs on every core
/// instead of one. A rate-limited sweep (`min_gap`) stays on one thread: the gap is global.
/// The threads share one round-trip estimate.
pub fn sweep_sharded(
    ip: IpAddr,
    ports: &[u16],
    pace: SweepPace,
    threads: usize,
    stop: &AtomicBool,
) -> io::Result<SweepPass> {
    sweep_sharded_with(ip, ports, pace, threads, stop, &|_| {})
}

fn sweep_sharded_with(
    ip: IpAddr,
    ports: &[u16],
    pace: SweepPace,
    threads: usize,
    stop: &AtomicBool,
    on_open: &(dyn Fn(u16) + Sync),
) -> io::Result<SweepPass> {
    let width = pace.width.max(1);
    let shards = if pace.min_gap.is_zero() {
        threads.clamp(1, width).min(ports.len().max(1))
    } else {
        1
    };
    // One estimate for all threads: the device has one round trip, and a thread whose share
    // holds no open port (a device dropping SYNs to closed ports) must not wait the full
    // timeout on every port until it finds one.
    let rtt = Mutex::new(Rtt::default());
    if shards == 1 {
        return sweep_with(ip, ports, pace, stop, on_open, &rtt);
    }
    let chunk = ports.len().div_ceil(shards);
    let outcomes: Vec<io::Result<SweepPass>> = std::thread::scope(|scope| {
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
                let rtt = &rtt;
                scope.spawn(move || sweep_with(ip, share, shard_pace, stop, on_open, rtt))
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
    let mut all = SweepPass {
        ports: Vec::with_capacity(ports.len()),
        ..SweepPass::default()
    };
    for outcome in outcomes {
        let pass = outcome?;
        all.ports.extend(pass.ports);
        if pass.rtt.smoothed() > all.rtt.smoothed() {
            all.rtt = pass.rtt;
        }
        all.timeout = all.timeout.max(pass.timeout);
    }
    Ok(all)
}

/// Connect to every port of `ip` and classify it. Blocking: call from a blocking thread.
/// Ports whose outcome was not known when the sweep was stopped are left out.
pub fn sweep(ip: IpAddr, ports: &[u16], pace: SweepPace, stop: &AtomicBool) -> io::Result<SweepPass> {
    sweep_with(ip, ports, pace, stop, &|_| {}, &Mutex::new(Rtt::default()))
}

fn sweep_with(
    ip: IpAddr,
    ports: &[u16],
    pace: SweepPace,
    stop: &AtomicBool,
    on_open: &(dyn Fn(u16) + Sync),
    shared_rtt: &Mutex<Rtt>,
) -> io::Result<SweepPass> {
    let rtt_now = || shared_rtt.lock().map_or_else(|p| *p.into_inner(), |r| *r);
    let mut width = pace.width.max(1);
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(width.min(1024));
    let mut slots: Vec<Option<InFlight>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    // Every connection in flight gets the same timeout (the current one, which adapts as
    // answers come in), so the oldest connection is always the first to expire.
    let mut by_age: VecDeque<(Instant, usize, u16)> = VecDeque::new();
    let mut results = Vec::with_capacity(ports.len());
    let mut timeout = rtt_now().timeout(&pace);
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
            slots[index] = Some(InFlight {
                port,
                stream,
                started: now,
            });
            by_age.push_back((now, index, port));
            in_flight += 1;
        }

        let now = Instant::now();
        let mut wait = by_age.front().map_or(POLL_SLICE, |(started, _, _)| {
            (*started + timeout).saturating_duration_since(now)
        });
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

        let answered_at = Instant::now();
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
                // A SYN-ACK or an RST is one round trip; a local failure says nothing.
                if matches!(state, Swept::Open | Swept::Closed) {
                    let sample = answered_at.saturating_duration_since(done.started);
                    match shared_rtt.lock() {
                        Ok(mut r) => r.add(sample),
                        Err(poisoned) => poisoned.into_inner().add(sample),
                    }
                }
                if state == Swept::Open {
                    on_open(done.port);
                }
                results.push((done.port, state));
                free.push(index);
                in_flight -= 1;
            }
        }
        timeout = rtt_now().timeout(&pace);

        // Expire connections past the timeout (entries whose slot was settled or reused are
        // stale and skipped).
        let now = Instant::now();
        while let Some(&(started, index, port)) = by_age.front() {
            if started + timeout > now {
                break;
            }
            by_age.pop_front();
            let Some(slot) = slots.get_mut(index) else { continue };
            if slot.as_ref().is_some_and(|f| f.port == port && f.started == started) && slot.take().is_some() {
                results.push((port, Swept::TimedOut));
                free.push(index);
                in_flight -= 1;
            }
        }
        if in_flight == 0 {
            by_age.clear();
        }
    }
    Ok(SweepPass {
        ports: results,
        rtt: rtt_now(),
        timeout,
    })
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
            adaptive_floor: None,
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
            let mut got = sweep(ip, &[closed, open, closed], pace(width), &stop).unwrap().ports;
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
            let got = sweep_sharded(ip, &ports, pace(5), threads, &stop).unwrap().ports;
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
        let got = sweep(ip, &[1, 2, 3], pace(4), &stop).unwrap().ports;
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
        .unwrap()
        .ports;
        assert_eq!(got.len(), 4);
        // Three gaps between four connects: a lower bound, which load cannot break.
        assert!(begun.elapsed() >= Duration::from_millis(150), "{:?}", begun.elapsed());
    }

    #[test]
    fn the_adaptive_timeout_follows_the_round_trip_within_floor_and_full() {
        let adaptive = SweepPace {
            adaptive_floor: Some(Duration::from_millis(100)),
            ..pace(8)
        };
        let mut rtt = Rtt::default();
        assert_eq!(
            rtt.timeout(&adaptive),
            Duration::from_secs(2),
            "full until a connect is answered"
        );
        rtt.add(Duration::from_micros(200));
        assert_eq!(
            rtt.timeout(&adaptive),
            Duration::from_millis(100),
            "a loopback round trip gets the floor"
        );
        let mut slow = Rtt::default();
        for _ in 0..8 {
            slow.add(Duration::from_millis(80));
        }
        let t = slow.timeout(&adaptive);
        assert!(t > Duration::from_millis(160) && t < Duration::from_secs(2), "{t:?}");
        slow.add(Duration::from_secs(3));
        assert_eq!(
            slow.timeout(&adaptive),
            Duration::from_secs(2),
            "capped at the full timeout"
        );
        assert_eq!(
            slow.timeout(&pace(8)),
            Duration::from_secs(2),
            "not adaptive: always full"
        );
    }

    #[test]
    fn the_adaptive_sweep_reports_every_port_once_and_no_timed_out_state() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let open = listener.local_addr().unwrap().port();
        let mut ports = closed_ports(6);
        ports.push(open);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let stop = AtomicBool::new(false);
        let adaptive = SweepPace {
            adaptive_floor: Some(Duration::from_millis(100)),
            ..pace(4)
        };
        let heard = std::sync::Mutex::new(Vec::new());
        let report = adaptive_sweep(ip, &ports, adaptive, 2, &stop, &|p| heard.lock().unwrap().push(p)).unwrap();
        assert_eq!(*heard.lock().unwrap(), vec![open], "open ports are announced as found");
        assert_eq!(report.ports.len(), ports.len());
        assert!(report.ports.iter().all(|(_, s)| *s != Swept::TimedOut));
        assert_eq!(
            report.ports.iter().filter(|(_, s)| *s == Swept::Open).count(),
            1,
            "{report:?}"
        );
        assert!(report.rtt.is_some(), "answered connects measure the round trip");
        assert!(report.sweep_timeout <= Duration::from_secs(2));
    }
}
