//! `cargo xtask bench fleet [--devices 100,1000] [--concurrency N] [--loss PCT] [--no-nmap]`:
//! a simulated fleet (`hopquy sim --fleet N`, every camera on its own loopback address and
//! silent until spoken to) audited by `hopquy fleet run --case-set inspection`, beside nmap
//! service detection (`-sT -sV` plus the `http-title` and `rtsp-methods` scripts) over the
//! same addresses and ports. Wall time, devices per second and peak RSS (VmHWM sampled from
//! /proc every 50 ms: a spike shorter than that can be missed), and the fleet report's
//! totals, so a run that lost devices shows it. nuclei is not packaged for Debian: no row.
//!
//! `--loss PCT` runs the cameras, the fleet and nmap inside a network namespace of their own
//! (`unshare --net`) whose loopback drops PCT % of the packets it delivers (an nftables
//! `numgen random` rule: this kernel has no `netem` qdisc, and a random drop on input is the
//! same loss, both directions alike). It needs root and `nft`, and the namespace vanishes with
//! its last process, so neither a failure nor Ctrl-C leaves it behind.
//! Knob: `HOPQUY_BENCH_NMAP_LIMIT_S` stops nmap after this long (default 600).
//! Benchmarks only: nothing here is a test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The simulated cameras' shared admin password; the inventory reads it from this variable.
const PASSWORD_VAR: &str = "HOPQUY_SIM_PASSWORD";
const SAMPLE: Duration = Duration::from_millis(50);
/// Long enough for thousands of cameras to bind on a loaded machine.
const SIM_START_LIMIT: Duration = Duration::from_secs(600);

struct Options {
    devices: Vec<usize>,
    concurrency: usize,
    loss: Option<u8>,
    nmap: bool,
}

fn parse(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        devices: vec![100, 1000],
        concurrency: 16,
        loss: None,
        nmap: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| it.next().cloned().ok_or_else(|| format!("{name} needs a value"));
        match a.as_str() {
            "--devices" => {
                o.devices = value("--devices")?
                    .split(',')
                    .map(|n| match n.trim().parse::<usize>() {
                        Ok(n) if n > 0 => Ok(n),
                        _ => Err(format!("--devices: `{n}` is not a positive number")),
                    })
                    .collect::<Result<_, _>>()?;
            }
            "--concurrency" => {
                o.concurrency = match value("--concurrency")?.parse::<usize>() {
                    Ok(n) if n > 0 => n,
                    _ => return Err("--concurrency needs a positive number".into()),
                }
            }
            "--loss" => {
                o.loss = match value("--loss")?.parse::<u8>() {
                    Ok(p) if (1..100).contains(&p) => Some(p),
                    _ => return Err("--loss needs a whole percentage from 1 to 99".into()),
                }
            }
            "--no-nmap" => o.nmap = false,
            other => {
                return Err(format!(
                    "unknown option `{other}` for bench fleet; known: --devices N,N…, --concurrency N, --loss PCT, --no-nmap"
                ));
            }
        }
    }
    Ok(o)
}

/// A child process of the bench, killed (by its own handle) when dropped: an early return or
/// a panic leaves no simulated fleet running.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Removes the bench's scratch directory (inventories, bundles of every device) when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn status_kb(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = text.lines().find(|l| l.starts_with(key))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// What running a set of processes cost.
#[derive(Default)]
struct Cost {
    wall: Duration,
    /// The largest VmHWM of any one process.
    peak_one_kb: u64,
    /// The largest sum of VmRSS of the processes running at one sample.
    peak_all_kb: u64,
    failed: usize,
    /// The exit code of the last process that ended with one.
    last_code: Option<i32>,
    /// Processes still running at the limit (killed).
    stopped: usize,
}

/// Runs `commands`, `parallel` at a time, sampling their memory, until all have ended or
/// `limit` has passed (the rest are killed and counted as stopped).
fn run_sampled(commands: Vec<Command>, parallel: usize, limit: Duration) -> Result<Cost, String> {
    let begun = Instant::now();
    let mut cost = Cost::default();
    let mut pending = commands.into_iter();
    let mut running: Vec<(Guard, u64)> = Vec::new();
    let mut exhausted = false;
    loop {
        while !exhausted && running.len() < parallel {
            match pending.next() {
                Some(mut c) => {
                    let child = c
                        .spawn()
                        .map_err(|e| format!("cannot start {:?}: {e}", c.get_program()))?;
                    running.push((Guard(child), 0));
                }
                None => exhausted = true,
            }
        }
        if running.is_empty() {
            break;
        }
        let mut rss = 0;
        let mut i = 0;
        while i < running.len() {
            let (guard, hwm) = &mut running[i];
            let pid = guard.0.id();
            if let Some(kb) = status_kb(pid, "VmHWM:") {
                *hwm = (*hwm).max(kb);
            }
            rss += status_kb(pid, "VmRSS:").unwrap_or(0);
            match guard.0.try_wait() {
                Ok(Some(status)) => {
                    cost.peak_one_kb = cost.peak_one_kb.max(*hwm);
                    if !status.success() {
                        cost.failed += 1;
                    }
                    cost.last_code = status.code().or(cost.last_code);
                    running.swap_remove(i);
                }
                Ok(None) => i += 1,
                Err(e) => return Err(format!("waiting for pid {pid}: {e}")),
            }
        }
        cost.peak_all_kb = cost.peak_all_kb.max(rss);
        if begun.elapsed() > limit {
            cost.stopped = running.len() + pending.count();
            for (_, hwm) in &running {
                cost.peak_one_kb = cost.peak_one_kb.max(*hwm);
            }
            break; // dropping the guards kills what still runs
        }
        std::thread::sleep(SAMPLE);
    }
    cost.wall = begun.elapsed();
    Ok(cost)
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// A command that runs `program` in the simulated fleet's network: directly, or (with loss)
/// entering the namespace of the sim process. nsenter execs the program, so the pid sampled
/// is the program's own.
fn in_net(netns_of: Option<u32>, program: &Path) -> Command {
    match netns_of {
        None => Command::new(program),
        Some(pid) => {
            let mut c = Command::new("nsenter");
            c.arg(format!("--net=/proc/{pid}/ns/net")).arg("--").arg(program);
            c
        }
    }
}

struct Device {
    id: String,
    host: String,
    ports: Vec<u16>,
}

/// The id, host and ports of every camera of the inventory `hopquy sim` wrote (its own CSV
/// writer: no quoting in these three columns).
fn read_inventory(path: &Path) -> Result<Vec<Device>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap_or_default().split(',').collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .ok_or_else(|| format!("{}: no `{name}` column", path.display()))
    };
    let (id, host, ports) = (col("id")?, col("host")?, col("ports")?);
    lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let get = |i: usize| f.get(i).copied().unwrap_or_default();
            Ok(Device {
                id: get(id).to_owned(),
                host: get(host).to_owned(),
                ports: get(ports)
                    .split(';')
                    .filter_map(|kv| kv.split_once('=')?.1.parse().ok())
                    .collect(),
            })
        })
        .collect()
}

struct Measured {
    devices: usize,
    fleet: Cost,
    totals: BTreeMap<String, u64>,
    /// Devices whose verdicts differ from the simulator's expected ones (case by case).
    mismatched: Option<usize>,
    sim_rss_kb: Option<u64>,
    nmap: Option<NmapCost>,
}

struct NmapCost {
    cost: Cost,
    open_found: usize,
    open_expected: usize,
}

/// Where the built release binary is: the target dir cargo uses.
fn release_binary(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
        .join("release/hopquy")
}

pub fn bench(root: &Path, args: &[String]) -> Result<(), String> {
    let o = parse(args)?;
    if o.loss.is_some() && !(have("unshare") && have("nsenter") && have("nft") && have("ip")) {
        return Err("--loss needs root, `unshare`, `nsenter` (util-linux), `ip` (iproute2) and `nft`".into());
    }
    crate::run(
        root,
        "cargo",
        &["build", "--release", "-p", "hopquy", "--bin", "hopquy"],
    )?;
    let bin = release_binary(root);
    if !bin.exists() {
        return Err(format!("{} was not built", bin.display()));
    }
    let nmap = o.nmap && have("nmap");
    if o.nmap && !nmap {
        eprintln!("nmap is not installed (apt-get install nmap): no nmap row");
    }
    eprintln!("nuclei is not packaged for Debian: no nuclei row");
    let nmap_limit = Duration::from_secs(
        std::env::var("HOPQUY_BENCH_NMAP_LIMIT_S")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(600),
    );
    remove_stale_scratch();
    let load_before = load();
    let mut results = Vec::new();
    for &n in &o.devices {
        results.push(one_size(root, &bin, n, &o, nmap.then_some(nmap_limit))?);
    }
    print_table(&results, &o, &load_before);
    Ok(())
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// Scratch directories of earlier runs whose process is gone (stopped by Ctrl-C, which ends
/// the bench before its destructors run): their bundles would fill the disk.
fn remove_stale_scratch() {
    let Ok(dir) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix("hopquy-bench-fleet-")
            .and_then(|rest| rest.split('-').next())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn one_size(root: &Path, bin: &Path, n: usize, o: &Options, nmap_limit: Option<Duration>) -> Result<Measured, String> {
    let scratch = Scratch(std::env::temp_dir().join(format!("hopquy-bench-fleet-{}-{n}", std::process::id())));
    let _ = std::fs::remove_dir_all(&scratch.0);
    std::fs::create_dir_all(&scratch.0).map_err(|e| format!("{}: {e}", scratch.0.display()))?;
    let inventory = scratch.0.join("fleet.csv");
    let expected = inventory.with_extension("expected.json");
    let password = format!("Bench-{:08x}-pw!", std::process::id());
    let sim_log = std::fs::File::create(scratch.0.join("sim.log")).map_err(|e| e.to_string())?;

    let mut sim = match o.loss {
        None => Command::new(bin),
        Some(pct) => {
            // A namespace of its own whose loopback loses packets; sh execs the simulator,
            // so the namespace lives exactly as long as it (and whatever enters it).
            let mut c = Command::new("unshare");
            c.args(["--net", "--", "sh", "-c"])
                .arg(format!(
                    "ip link set lo up && nft 'table inet hopquy_bench_loss {{ chain input {{ type filter hook input priority 0; numgen random mod 100 < {pct} drop; }}; }}' && exec \"$0\" \"$@\""
                ))
                .arg(bin);
            c
        }
    };
    sim.args(["sim", "--fleet", &n.to_string(), "--write-inventory"])
        .arg(&inventory)
        .env("HOPQUY_SUITE", root)
        .env(PASSWORD_VAR, &password)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(sim_log);
    eprintln!("starting {n} simulated cameras");
    let mut sim = Guard(sim.spawn().map_err(|e| format!("cannot start hopquy sim: {e}"))?);
    let begun = Instant::now();
    // The expected verdicts are written after the inventory: once they exist, both are complete.
    while !expected.exists() {
        if let Ok(Some(status)) = sim.0.try_wait() {
            let log = std::fs::read_to_string(scratch.0.join("sim.log")).unwrap_or_default();
            return Err(format!("hopquy sim --fleet {n} stopped ({status}):\n{log}"));
        }
        if begun.elapsed() > SIM_START_LIMIT {
            return Err(format!(
                "hopquy sim --fleet {n} wrote no inventory in {SIM_START_LIMIT:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(300));
    eprintln!("{n} cameras up in {:.1} s", begun.elapsed().as_secs_f64());
    let netns = o.loss.map(|_| sim.0.id());
    let devices = read_inventory(&inventory)?;

    let out = scratch.0.join("out");
    let fleet_log_path = scratch.0.join("fleet.log");
    let fleet_log = std::fs::File::create(&fleet_log_path).map_err(|e| e.to_string())?;
    let mut fleet = in_net(netns, bin);
    fleet
        .args(["fleet", "run", "--case-set", "inspection", "--inventory"])
        .arg(&inventory)
        .arg("--out")
        .arg(&out)
        .args(["--concurrency", &o.concurrency.to_string()])
        .env("HOPQUY_SUITE", root)
        .env(PASSWORD_VAR, &password)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(fleet_log);
    eprintln!(
        "$ hopquy fleet run --case-set inspection --inventory … --out … --concurrency {}",
        o.concurrency
    );
    let fleet_cost = run_sampled(vec![fleet], 1, Duration::from_secs(24 * 3600))?;
    // 0 pass, 1 some camera fails (the simulated fleet has failing cameras), 4 inconclusive:
    // the fleet ran. Anything else (2 input, a signal) means it did not.
    if !matches!(fleet_cost.last_code, Some(0 | 1 | 4)) {
        let log = std::fs::read_to_string(&fleet_log_path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        return Err(format!(
            "hopquy fleet run of {n} devices ended with {:?}; its last lines:\n{}",
            fleet_cost.last_code,
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    let report: serde_json::Value = std::fs::read(out.join("fleet-report.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| format!("the fleet run of {n} devices wrote no readable fleet-report.json"))?;
    let totals = report["totals"]
        .as_object()
        .map(|t| t.iter().filter_map(|(k, v)| Some((k.clone(), v.as_u64()?))).collect())
        .unwrap_or_default();
    let mismatched = std::fs::read(&expected)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .map(|exp| mismatches(&exp, &report));
    let sim_rss_kb = status_kb(sim.0.id(), "VmRSS:");

    let nmap = match nmap_limit {
        None => None,
        Some(limit) => Some(nmap_fleet(netns, &devices, &scratch.0, o.concurrency, limit)?),
    };
    drop(sim);
    Ok(Measured {
        devices: n,
        fleet: fleet_cost,
        totals,
        mismatched,
        sim_rss_kb,
        nmap,
    })
}

/// Devices of the report whose case verdicts differ from what the simulator says the
/// inspection suite must find on them (devices not in the report count as differing).
fn mismatches(expected: &serde_json::Value, report: &serde_json::Value) -> usize {
    let Some(exp) = expected["devices"].as_object() else {
        return 0;
    };
    let got: BTreeMap<&str, &serde_json::Value> = report["devices"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|d| Some((d["id"].as_str()?, &d["cases"])))
                .collect()
        })
        .unwrap_or_default();
    exp.iter()
        .filter(|(id, e)| {
            let Some(cases) = got.get(id.as_str()) else {
                return true;
            };
            e["cases"]
                .as_object()
                .is_some_and(|want| want.iter().any(|(case, verdict)| cases[case] != *verdict))
        })
        .count()
}

/// nmap over the same cameras: one process per camera with its own ports (every simulated
/// camera has different ones, and one scan of their union on every address would probe
/// thousands of closed ports per host), as many at once as the fleet audits.
fn nmap_fleet(
    netns: Option<u32>,
    devices: &[Device],
    scratch: &Path,
    parallel: usize,
    limit: Duration,
) -> Result<NmapCost, String> {
    let dir = scratch.join("nmap");
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let commands = devices
        .iter()
        .map(|d| {
            let ports = d.ports.iter().map(u16::to_string).collect::<Vec<_>>().join(",");
            let mut c = in_net(netns, Path::new("nmap"));
            c.args([
                "-sT",
                "-sV",
                "-n",
                "-Pn",
                "--script",
                "http-title,rtsp-methods",
                "-p",
                &ports,
                "-oG",
            ])
            .arg(dir.join(format!("{}.gnmap", d.id)))
            .arg(&d.host)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
            c
        })
        .collect();
    eprintln!(
        "$ nmap -sT -sV -n -Pn --script http-title,rtsp-methods -p <its ports> <camera>  (×{}, {parallel} at once)",
        devices.len()
    );
    let cost = run_sampled(commands, parallel, limit)?;
    let open_found = devices
        .iter()
        .map(|d| {
            std::fs::read_to_string(dir.join(format!("{}.gnmap", d.id)))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| {
                    l.split_once("Ports: ")
                        .map(|(_, p)| p.split(", ").filter(|e| e.contains("/open/")).count())
                })
                .sum::<usize>()
        })
        .sum();
    Ok(NmapCost {
        cost,
        open_found,
        open_expected: devices.iter().map(|d| d.ports.len()).sum(),
    })
}

fn mib(kb: u64) -> String {
    format!("{:.1} MiB", kb as f64 / 1024.0)
}

fn print_table(results: &[Measured], o: &Options, load_before: &str) {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "\nfleet bench: {cores} cores, load average {load_before} before, {} after; --concurrency {}{}\n",
        load(),
        o.concurrency,
        o.loss
            .map(|p| format!(", {p} % of loopback packets dropped (nftables, own namespace)"))
            .unwrap_or_default()
    );
    println!("| devices | tool | wall | devices/s | peak RSS | peak RSS / device in flight | outcome |");
    println!("|---:|---|---:|---:|---:|---:|---|");
    for m in results {
        let t = |k: &str| m.totals.get(k).copied().unwrap_or(0);
        let secs = m.fleet.wall.as_secs_f64();
        println!(
            "| {} | hopquy fleet run | {:.1} s | {:.2} | {} | {:.0} KiB | {} audited: {} passing, {} failing, {} unreachable, {} errors{}{}{} |",
            m.devices,
            secs,
            m.devices as f64 / secs,
            mib(m.fleet.peak_one_kb),
            m.fleet.peak_one_kb as f64 / o.concurrency.min(m.devices) as f64,
            t("audited"),
            t("passing"),
            t("failing"),
            t("unreachable"),
            t("errors") + t("unidentified") + t("gave_up"),
            m.mismatched
                .map(|x| format!("; {x} devices differ from the expected verdicts"))
                .unwrap_or_default(),
            m.fleet.last_code.map(|c| format!("; exit {c}")).unwrap_or_default(),
            m.sim_rss_kb
                .map(|kb| format!("; simulator {}", mib(kb)))
                .unwrap_or_default(),
        );
        if let Some(n) = &m.nmap {
            let secs = n.cost.wall.as_secs_f64();
            println!(
                "| {} | nmap -sT -sV + 2 scripts, {} at once | {:.1} s | {:.2} | {} one, {} at once | {:.0} KiB | {}/{} open ports found{}{} |",
                m.devices,
                o.concurrency,
                secs,
                m.devices as f64 / secs,
                mib(n.cost.peak_one_kb),
                mib(n.cost.peak_all_kb),
                n.cost.peak_all_kb as f64 / o.concurrency.min(m.devices) as f64,
                n.open_found,
                n.open_expected,
                if n.cost.failed > 0 {
                    format!("; {} runs failed", n.cost.failed)
                } else {
                    String::new()
                },
                if n.cost.stopped > 0 {
                    format!("; {} stopped at the limit", n.cost.stopped)
                } else {
                    String::new()
                },
            );
        }
    }
}
