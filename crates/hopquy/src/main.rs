//! hopquy — conformance test harness for Vietnam's IP-camera cybersecurity regulations.
//!
//! Invariant: this crate is the only one that prints to the terminal or chooses an exit
//! code (see `exit.rs`). Libraries return typed errors and events.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

#[macro_use]
mod terminal;

mod bundle;
mod commands;
mod exit;
mod operator;
mod progress;
mod suite;

use exit::CliError;

#[derive(Parser, Debug)]
#[command(
    name = "hopquy",
    version,
    about = "Conformance test harness for QCVN 135:2024/BTTTT and QCVN 11:2026/BCA (IP surveillance cameras)"
)]
struct Cli {
    /// Directory holding test-cases/ and profiles/ (default: found from the current
    /// directory upwards, then next to the executable; or $HOPQUY_SUITE).
    #[arg(long, global = true, env = "HOPQUY_SUITE")]
    suite: Option<PathBuf>,
    /// Log level for diagnostics on stderr (error, warn, info, debug, trace).
    #[arg(long, global = true, default_value = "warn", env = "HOPQUY_LOG")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the suite against a device and write an evidence bundle.
    Run(RunArgs),
    /// Start the simulated camera on loopback, run the full suite, write a bundle.
    Demo(DemoArgs),
    /// List cases (and their clauses) for a regulation.
    List(ListArgs),
    /// Explain a case or a clause: requirement, cases, what the operator must supply.
    Explain(ExplainArgs),
    /// Validate case, profile, target, catalogue and answers files.
    Validate(ValidateArgs),
    /// Run the simulated camera until interrupted (for lab self-checks and manual tests).
    Sim(SimArgs),
    /// Verify an evidence bundle: every hash, no missing or extra file, the signature.
    Verify(VerifyArgs),
    /// Compare two bundles: clause and case verdict changes, evidence differences.
    Diff(DiffArgs),
    /// Re-run the exact definitions recorded in a bundle against a device (a regulator's
    /// reproduction); compare the two bundles with `hopquy diff`.
    Rerun(RerunArgs),
    /// Make an ed25519 key pair for signing bundles.
    Keygen(KeygenArgs),
    /// Show what a run will do before it starts: the cases in order, their effect on the
    /// device, estimated durations and what will be skipped. Sends nothing.
    Plan(PlanArgs),
    /// Answers files: `hopquy answers template` lists every question a run will ask.
    #[command(subcommand)]
    Answers(AnswersCommand),
    /// Inspect a fleet of cameras in service with the read-only inspection suite:
    /// `fleet run --inventory FILE --out DIR`, `fleet report DIR [--diff OTHER]`; across
    /// machines through NATS JetStream: `fleet submit`, `fleet worker`, `fleet report --nats`.
    #[command(subcommand)]
    Fleet(FleetCommand),
    /// Single protocol checks with optional --json output.
    #[command(subcommand)]
    Probe(commands::probe::ProbeCommand),
    /// Firmware images: `hopquy firmware scan IMAGE` unpacks one in memory and reports keys,
    /// fixed accounts, debug services, components (SBOM) and update integrity.
    #[command(subcommand)]
    Firmware(commands::firmware::FirmwareCommand),
    /// The camera's own network: `hopquy labnet check IFACE` runs the safety checks and
    /// prints what `run --lab-net IFACE` would do, changing nothing.
    #[command(subcommand)]
    Labnet(commands::labnet::LabNetCommand),
}

#[derive(clap::Subcommand, Debug)]
pub enum FleetCommand {
    /// Audit every camera of an inventory with the inspection suite (read-only cases only,
    /// whatever else is asked): a bundle per camera, results in DIR/fleet.sqlite, a fleet
    /// report. Format and guarantees: docs/fleet.md.
    Run(FleetRunArgs),
    /// Write the fleet report again from a fleet directory's store, optionally compared
    /// with an earlier fleet run; with --nats, collect a shared run's results first.
    Report(FleetReportArgs),
    /// Queue an inventory on a NATS JetStream server as fleet run ID, one message per
    /// device (no password), for `hopquy fleet worker` on any number of machines.
    Submit(FleetSubmitArgs),
    /// Audit devices of a queued fleet run until its queue is empty: each device recorded
    /// in DIR (store and bundle), then its result published, then acknowledged.
    Worker(FleetWorkerArgs),
}

#[derive(Args, Debug)]
pub struct FleetSubmitArgs {
    /// The NATS server, e.g. `nats://127.0.0.1:4222` (JetStream enabled).
    #[arg(long, value_name = "URL")]
    pub nats: String,
    /// The inventory: CSV (`.csv`) or TOML (docs/fleet.md).
    #[arg(long)]
    pub inventory: PathBuf,
    /// The fleet run's id: 1-64 letters, digits, `-` or `_`. A run already on the server
    /// with the same inventory and suite is resumed (no device is queued twice).
    #[arg(long, value_name = "ID")]
    pub run: String,
    #[arg(long, default_value = "qcvn135-2024")]
    pub regulation: String,
    /// A device whose audit takes longer is stopped and recorded as an error, by every
    /// worker; a device is redelivered only when its worker is silent for longer than this.
    #[arg(long, default_value_t = 1800, value_name = "SECONDS")]
    pub device_timeout_s: u64,
    /// A device whose worker is lost (killed, crashed) this many times is not handed out
    /// again: it is recorded as `gave_up` ("gave up after N deliveries").
    #[arg(long, default_value_t = hopquy_fleet::nats::DEFAULT_MAX_DELIVER, value_name = "N")]
    pub max_deliver: u32,
}

#[derive(Args, Debug)]
pub struct FleetWorkerArgs {
    /// The NATS server the run was submitted to.
    #[arg(long, value_name = "URL")]
    pub nats: String,
    /// The fleet run's id, as submitted.
    #[arg(long, value_name = "ID")]
    pub run: String,
    /// This worker's fleet directory (its store and the bundles of the devices it audits);
    /// the same directory continues after a stop.
    #[arg(long)]
    pub out: PathBuf,
    /// Devices audited at once by this worker.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
}

#[derive(Args, Debug)]
pub struct FleetRunArgs {
    /// The inventory: CSV (`.csv`) or TOML (docs/fleet.md).
    #[arg(long)]
    pub inventory: PathBuf,
    /// The fleet directory (new or empty; with --resume, the run to continue).
    #[arg(long)]
    pub out: PathBuf,
    /// Devices audited at once. Each device keeps its own connection cap
    /// (`max_connections`, default 4).
    #[arg(long, default_value_t = 4)]
    pub concurrency: usize,
    /// Continue the fleet run in --out: recorded devices are kept, the others audited.
    #[arg(long)]
    pub resume: bool,
    /// The case set; `inspection` (read-only automated cases) is the only one a fleet run
    /// has. (`--suite` is the global option naming the definitions directory.)
    #[arg(long, default_value = "inspection",
          value_parser = clap::builder::PossibleValuesParser::new(["inspection"]))]
    pub case_set: String,
    #[arg(long, default_value = "qcvn135-2024")]
    pub regulation: String,
    /// Audit at most this many devices now (a staged audit); `--resume` continues.
    #[arg(long, value_name = "N")]
    pub max_devices: Option<usize>,
    /// A device whose audit takes longer is stopped and recorded as an error.
    #[arg(long, default_value_t = 1800, value_name = "SECONDS")]
    pub device_timeout_s: u64,
}

#[derive(Args, Debug)]
pub struct FleetReportArgs {
    /// A fleet directory (holding fleet.sqlite).
    #[arg(required_unless_present = "nats", conflicts_with = "nats")]
    pub dir: Option<PathBuf>,
    /// Collect the results of a fleet run shared through this NATS server (with --run and
    /// --out) into --out's store, then report.
    #[arg(long, value_name = "URL", requires_all = ["run", "out"])]
    pub nats: Option<String>,
    /// With --nats: the fleet run's id.
    #[arg(long, value_name = "ID", requires = "nats")]
    pub run: Option<String>,
    /// With --nats: the directory the results are collected into (new, or the same run's).
    #[arg(long, requires = "nats")]
    pub out: Option<PathBuf>,
    /// An earlier fleet directory: the report says which cameras were fixed or regressed.
    #[arg(long, value_name = "OTHER_DIR")]
    pub diff: Option<PathBuf>,
    /// Print the report (and the diff) as JSON on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The target file (device, connection, credentials, declarations).
    #[arg(long)]
    pub target: PathBuf,
    /// Directory for the evidence bundle (must not exist or be empty).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Regulation to report against.
    #[arg(long, default_value = "qcvn135-2024")]
    pub regulation: String,
    /// Operator answers and attachments for operator/document cases.
    #[arg(long)]
    pub answers: Option<PathBuf>,
    /// The firmware image submitted with the dossier: scanned once before the run (as
    /// `hopquy firmware scan`), its report and SBOM stored under firmware/ in the bundle and
    /// judged by the `firmware` cases. Not with --resume (the bundle's report is kept).
    #[arg(long, value_name = "IMAGE")]
    pub firmware: Option<PathBuf>,
    /// An offline OSV database (a directory of OSV .json files, one .json or a .zip export
    /// from osv.dev) to match the firmware image's components against. Needs --firmware.
    #[arg(long, value_name = "PATH", requires = "firmware")]
    pub vulndb: Option<PathBuf>,
    /// Never prompt: cases without an answer become inconclusive.
    #[arg(long)]
    pub non_interactive: bool,
    /// Allow destructive steps (reboot, factory reset, firmware upload).
    #[arg(long)]
    pub allow_destructive: bool,
    /// Try every pair of a credential dictionary, even after one was accepted (by default a
    /// dictionary stops at the first accepted default credential: one decides the fail).
    #[arg(long)]
    pub exhaustive: bool,
    #[command(flatten)]
    pub select: SelectionArgs,
    /// Print the plan (order, effects, estimated durations, what is skipped) and exit
    /// without contacting the device; the same as `hopquy plan`.
    #[arg(long, conflicts_with = "resume")]
    pub dry_run: bool,
    /// Sign manifest.json with this lab private key.
    #[arg(long)]
    pub sign: Option<PathBuf>,
    /// Print the event stream as JSON lines on stdout.
    #[arg(long)]
    pub json: bool,
    /// Report metadata (lab, accreditation, operator…) as a TOML file; format in
    /// docs/examples/lab.toml.
    #[arg(long)]
    pub lab: Option<PathBuf>,
    /// Finish an interrupted run's bundle: cases already finished are kept, not redone.
    /// The definitions recorded in the bundle are used, not the current suite.
    #[arg(long, conflicts_with = "out")]
    pub resume: Option<PathBuf>,
    /// Serve the camera's own network on this interface for the whole run (DHCP, DNS,
    /// sinkhole, capture; docs/lab-network.md); its record and capture go under labnet/ in
    /// the bundle. Refused on an interface with the host's default route. Not with --resume.
    #[arg(long, value_name = "IFACE", conflicts_with = "resume")]
    pub lab_net: Option<String>,
    /// What happens to the camera's outbound traffic on the lab network.
    #[arg(long, value_enum, default_value = "sinkhole", requires = "lab_net")]
    pub lab_net_mode: commands::labnet::LabNetMode,
    /// The lab's offline GeoIP file for the lab network's record: CSV, one
    /// `network,country` a line (`203.0.113.0/24,SG`; docs/lab-network.md). Without it only
    /// declared destinations have a country.
    #[arg(long, value_name = "FILE", requires = "lab_net")]
    pub geoip: Option<PathBuf>,
    /// How long, in seconds, to wait after the lab network is up for the camera to answer
    /// on a port of its profile (a camera boots and asks for its lease in 30 to 90 s).
    #[arg(long, value_name = "SECS", default_value_t = 180, requires = "lab_net")]
    pub lab_net_wait: u64,
    /// A TCP port the lab network's sinkhole also listens on (repeatable), for a camera that
    /// speaks to its services on one the defaults lack (80, 443, 554, 1883, 8000, 8080, 8443,
    /// 8883, 34567): only a listened port shows what the camera sends and whether it
    /// authenticates a TLS server.
    #[arg(long, value_name = "PORT", requires = "lab_net", value_parser = clap::value_parser!(u16).range(1..))]
    pub lab_net_port: Vec<u16>,
}

/// Which cases run. Every option given must hold for a case to be selected; `--skip` and
/// `--skip-effect` then take cases out. The selection is recorded in the bundle.
#[derive(Args, Debug, Default, Clone)]
pub struct SelectionArgs {
    /// Only these case ids (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "ID")]
    pub cases: Vec<String>,
    /// Only cases of these clauses; a group selects its clauses (`2.1` = 2.1.1, 2.1.2…).
    #[arg(long = "clause", value_delimiter = ',', value_name = "CLAUSE")]
    pub clauses: Vec<String>,
    /// Only cases of these kinds.
    #[arg(long = "kind", value_delimiter = ',', value_name = "KIND",
          value_parser = clap::builder::PossibleValuesParser::new(["automated", "operator", "document"]))]
    pub kinds: Vec<String>,
    /// Only cases of these methods (TS 103 701).
    #[arg(long = "method", value_delimiter = ',', value_name = "METHOD",
          value_parser = clap::builder::PossibleValuesParser::new(["conceptual", "functional"]))]
    pub methods: Vec<String>,
    /// Only cases with these effects on the device.
    #[arg(long = "effect", value_delimiter = ',', value_name = "EFFECT",
          value_parser = clap::builder::PossibleValuesParser::new(EFFECTS))]
    pub effects: Vec<String>,
    /// Leave out cases with these effects (e.g. `locks-account` on a camera in service).
    #[arg(long = "skip-effect", value_delimiter = ',', value_name = "EFFECT",
          value_parser = clap::builder::PossibleValuesParser::new(EFFECTS))]
    pub skip_effects: Vec<String>,
    /// Leave out these case ids.
    #[arg(long, value_delimiter = ',', value_name = "ID")]
    pub skip: Vec<String>,
}

const EFFECTS: [&str; 6] = [
    "read-only",
    "locks-account",
    "configures",
    "intrusive",
    "destructive",
    "needs-operator",
];

#[derive(Args, Debug)]
pub struct PlanArgs {
    /// The target file (its password is not needed: nothing is sent).
    #[arg(long)]
    pub target: PathBuf,
    #[arg(long, default_value = "qcvn135-2024")]
    pub regulation: String,
    #[command(flatten)]
    pub select: SelectionArgs,
    /// Plan the destructive cases as run (as `run --allow-destructive` would).
    #[arg(long)]
    pub allow_destructive: bool,
    /// Operator answers the run will use: the plan says which operator steps stay open.
    #[arg(long)]
    pub answers: Option<PathBuf>,
    /// Plan as `run --lab-net IFACE` would: the lab-network cases replace the operator's
    /// manual captures (nothing is set up on IFACE).
    #[arg(long, value_name = "IFACE")]
    pub lab_net: Option<String>,
    /// Print the plan as one JSON document on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Subcommand, Debug)]
pub enum AnswersCommand {
    /// Write an answers file with every operator and document step a run will ask for, to
    /// fill in before the session.
    Template(AnswersTemplateArgs),
}

#[derive(Args, Debug)]
pub struct AnswersTemplateArgs {
    /// The target file of the run the answers are for.
    #[arg(long)]
    pub target: PathBuf,
    #[arg(long, default_value = "qcvn135-2024")]
    pub regulation: String,
    #[command(flatten)]
    pub select: SelectionArgs,
    /// Include the destructive cases' steps (for a run with `--allow-destructive`).
    #[arg(long)]
    pub allow_destructive: bool,
    /// For a run with `--lab-net IFACE`: the lab-network cases' steps replace those of the
    /// operator's manual captures.
    #[arg(long, value_name = "IFACE")]
    pub lab_net: Option<String>,
    /// Write here instead of stdout (refuses to overwrite an existing file).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RerunArgs {
    /// The bundle whose definitions (cases, catalogue, profile) are re-run.
    pub bundle: PathBuf,
    /// The device to run against (its password is never in a bundle).
    #[arg(long)]
    pub target: PathBuf,
    /// Directory for the new bundle.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub answers: Option<PathBuf>,
    /// As for `run`: the firmware image to scan and judge (the original bundle's image, to
    /// compare like with like).
    #[arg(long, value_name = "IMAGE")]
    pub firmware: Option<PathBuf>,
    /// As for `run`: the OSV database to match the image's components against.
    #[arg(long, value_name = "PATH", requires = "firmware")]
    pub vulndb: Option<PathBuf>,
    #[arg(long)]
    pub non_interactive: bool,
    #[arg(long)]
    pub allow_destructive: bool,
    /// As for `run`: try every pair of a dictionary even after one was accepted.
    #[arg(long)]
    pub exhaustive: bool,
    #[arg(long)]
    pub sign: Option<PathBuf>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Simulated camera personality (and flaws): `legacy`, `hardened`, `hardened+no-lockout`…
    #[arg(long, default_value = "legacy")]
    pub personality: String,
    /// Bundle directory (default: ./hopquy-demo-<personality>-<time>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long, default_value = "qcvn135-2024")]
    pub regulation: String,
    #[arg(long)]
    pub json: bool,
    /// Sign the demo bundle's manifest with this private key (see `hopquy keygen`).
    #[arg(long)]
    pub sign: Option<PathBuf>,
    /// Run without the simulated manufacturer's dossier and bench: operator and document
    /// cases stay inconclusive and destructive cases are not run.
    #[arg(long)]
    pub no_dossier: bool,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[arg(long, default_value = "qcvn135-2024")]
    pub regulation: String,
    #[arg(long)]
    pub json: bool,
    /// Only the known-vulnerability cases, one line per CVE (id, CVSS, KEV, case, affected).
    #[arg(long)]
    pub cve: bool,
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    /// A case id or a clause id (e.g. `lockout-http` or `2.1.5`).
    pub what: String,
    #[arg(long, default_value = "qcvn135-2024")]
    pub regulation: String,
}

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// Files or directories; default: the whole suite (cases, catalogue, profiles).
    pub paths: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct SimArgs {
    #[arg(long, default_value = "legacy")]
    pub personality: String,
    /// Bind services on fixed ports from this base (http=base, https=base+1, …).
    #[arg(long)]
    pub port_base: Option<u16>,
    /// Loopback address to serve on (default: a fresh one in 127.64.0.0/10, so that a port
    /// sweep of it sees this camera and not the other services on 127.0.0.1).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<std::net::IpAddr>,
    /// Write a target file for the running camera here.
    #[arg(long)]
    pub write_target: Option<PathBuf>,
    /// Give the camera an uplink: it resolves its cloud, update and telemetry names through
    /// this DNS server and contacts them, as cameras phone home (for a lab network,
    /// `10.77.0.1:53`). Without it the camera sends nothing of its own. Its `--bind` address
    /// must be loopback, or the process must be in a network namespace of its own.
    #[arg(long, value_name = "ADDR:PORT")]
    pub uplink_resolver: Option<std::net::SocketAddr>,
    /// With --uplink-resolver: seconds between update checks and telemetry reports.
    #[arg(long, value_name = "S", default_value_t = 5, requires = "uplink_resolver")]
    pub uplink_period_s: u64,
    /// Write the personality's dossier (declarations, documents, answers.toml) into this
    /// directory, for `hopquy run --answers DIR/answers.toml` against this camera.
    #[arg(long, value_name = "DIR")]
    pub dossier: Option<PathBuf>,
    /// List personalities and flaws, then exit.
    #[arg(long)]
    pub list: bool,
    /// Start N simulated cameras of mixed personalities, each on its own loopback address.
    #[arg(long, value_name = "N", conflicts_with_all = ["port_base", "bind", "write_target", "dossier", "uplink_resolver"])]
    pub fleet: Option<usize>,
    /// With --fleet: write the cameras' inventory (CSV) here, and their expected verdicts
    /// beside it (FILE with the extension `.expected.json`).
    #[arg(long, value_name = "FILE", requires = "fleet")]
    pub write_inventory: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    pub bundle: PathBuf,
    /// Lab public key: the signature must verify with it.
    #[arg(long)]
    pub key: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct DiffArgs {
    pub a: PathBuf,
    pub b: PathBuf,
}

#[derive(Args, Debug)]
pub struct KeygenArgs {
    /// Path prefix: writes PREFIX.key (private, mode 0600) and PREFIX.pub.
    #[arg(long)]
    pub out: PathBuf,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::UNREACHABLE);
        }
    };
    let result = runtime.block_on(dispatch(cli));
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            errln!("{}", e.printed());
            ExitCode::from(e.exit_code())
        }
    }
}

fn init_logging(level: &str) {
    let filter =
        tracing_subscriber::EnvFilter::try_new(level).unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn dispatch(cli: Cli) -> Result<u8, CliError> {
    let suite_root = cli.suite.clone();
    match cli.command {
        Command::Run(args) => commands::run::run(suite_root, args).await,
        Command::Demo(args) => commands::demo::demo(suite_root, args).await,
        Command::List(args) => commands::info::list(suite_root, args),
        Command::Explain(args) => commands::info::explain(suite_root, args),
        Command::Validate(args) => commands::info::validate(suite_root, args),
        Command::Sim(args) => commands::sim::sim(suite_root, args).await,
        Command::Fleet(FleetCommand::Run(args)) => commands::fleet::run(suite_root, args).await,
        Command::Fleet(FleetCommand::Report(args)) => commands::fleet::report(suite_root, args).await,
        Command::Fleet(FleetCommand::Submit(args)) => commands::fleet::submit(suite_root, args).await,
        Command::Fleet(FleetCommand::Worker(args)) => commands::fleet::worker(suite_root, args).await,
        Command::Verify(args) => commands::evidence::verify(args),
        Command::Diff(args) => commands::evidence::diff(args),
        Command::Rerun(args) => commands::run::rerun(args).await,
        Command::Keygen(args) => commands::evidence::keygen(args),
        Command::Probe(cmd) => commands::probe::probe(cmd).await,
        Command::Firmware(cmd) => commands::firmware::firmware(suite_root, cmd),
        Command::Labnet(cmd) => commands::labnet::labnet(cmd),
        Command::Plan(args) => commands::plan::plan(suite_root, args),
        Command::Answers(AnswersCommand::Template(args)) => commands::plan::answers_template(suite_root, args),
    }
}
