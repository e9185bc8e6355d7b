//! A fleet run shared by many machines through NATS JetStream.
//!
//! Per run `R` there are two streams:
//! - `HOPQUY_FLEET_R_WORK` (subject `hopquy.fleet.R.work`), a work queue: one message per
//!   device (its inventory entry, never a password), removed only when a worker acknowledges
//!   it. One durable pull consumer (`workers`) with explicit ack and an ack wait longer than
//!   the run's device timeout, so a device is redelivered only when its worker went silent
//!   (killed, cut off): a live worker also sends `in_progress` while it audits. At most
//!   `max_deliver` + 1 deliveries: the worker that gets the last one records the device as
//!   given up instead of auditing it. Each device's message id is `<run>.<device>`, so a
//!   resumed `submit` queues no device twice within the stream's duplicate window.
//! - `HOPQUY_FLEET_R_RESULTS`, subjects `hopquy.fleet.R.meta` (the run, published once by
//!   `submit`) and `hopquy.fleet.R.results` (one [`DeviceRecord`] per device, its id as the
//!   JetStream message id, so a device audited twice across a redelivery is stored once
//!   within the duplicate window; [`FleetQueue::results`] keeps the first per device whatever
//!   the window).
//!
//! A worker acknowledges a device only after it is in its local store and its result is
//! acknowledged by the results stream: a worker killed at any point leaves the device either
//! unacknowledged (redelivered) or recorded locally (a restarted worker republishes it).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use async_nats::jetstream::{self, AckKind, consumer, message::PublishMessage, stream};
use bytes::Bytes;
use futures::StreamExt;
use serde::{Deserialize, Serialize};

use crate::inventory::{DeviceEntry, valid_id};
use crate::store::{DeviceRecord, RunMeta};

/// The durable consumer every worker of a run pulls from.
const CONSUMER: &str = "workers";
/// Bounds on what is read back from the server: a work item is one inventory entry, a result
/// one device's case rows.
const MAX_WORK_BYTES: usize = 64 * 1024;
const MAX_RESULT_BYTES: usize = 1024 * 1024;
/// How long an API request (stream info, publish acknowledgement) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum NatsError {
    #[error("the run id `{0}` is not valid: 1-64 letters, digits, `-` or `_`")]
    RunId(String),
    #[error("cannot connect to the NATS server at {url}: {detail}")]
    Connect { url: String, detail: String },
    #[error("fleet run `{run}` is already submitted to this NATS server {differs}; choose another --run")]
    Exists { run: String, differs: String },
    #[error("fleet run `{0}` is not on this NATS server (submit it first with `hopquy fleet submit`)")]
    NoRun(String),
    #[error("NATS JetStream ({what}): {detail}")]
    JetStream { what: String, detail: String },
    #[error("a message of fleet run `{run}` is not valid ({what}): {detail}")]
    Invalid { run: String, what: String, detail: String },
}

fn js_err(what: &str) -> impl FnOnce(String) -> NatsError + '_ {
    move |detail| NatsError::JetStream {
        what: what.to_owned(),
        detail,
    }
}

/// What `submit` publishes once for the run: the run every worker and the report record, and
/// the device timeout every worker applies (so the consumer's ack wait is right for all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueuedRun {
    pub run: RunMeta,
    pub device_timeout_s: u64,
    /// How many deliveries of a device may each lose their worker before the device is
    /// recorded as given up (the consumer delivers once more, for that record).
    #[serde(default = "default_max_deliver")]
    pub max_deliver: u32,
}

pub const DEFAULT_MAX_DELIVER: u32 = 3;

fn default_max_deliver() -> u32 {
    DEFAULT_MAX_DELIVER
}

/// How long the work stream remembers a device's message id: a `submit` resumed within it
/// queues no device twice.
pub const SUBMIT_DUPLICATE_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// What one `submit` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Submitted {
    /// Devices queued by this submit.
    pub queued: usize,
    /// Devices already queued by an earlier submit of the run (the server dropped the
    /// duplicate), or already with a result.
    pub already_queued: usize,
    pub already_done: usize,
    /// True when the run was already on the server (this submit resumed it).
    pub resumed: bool,
}

/// The message id of a device's work item: one per (run, device), so the work stream drops a
/// second copy of it within its duplicate window (a run id has no `.`, so it is unambiguous).
pub fn work_msg_id(run: &str, device: &str) -> String {
    format!("{run}.{device}")
}

/// How long a device may stay unacknowledged before it is redelivered: longer than a device
/// may take, so only a silent worker loses its device.
pub fn ack_wait(device_timeout: Duration) -> Duration {
    device_timeout + (device_timeout / 10).max(Duration::from_secs(5))
}

/// The server URL as it may be shown: a `user:password@` or token in it is replaced by `***`,
/// since messages and logs never carry a secret.
pub fn shown_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // Several servers may be listed, comma-separated, each with its own credentials.
    let hosts: Vec<String> = rest
        .split(',')
        .map(|h| match h.rsplit_once('@') {
            Some((_, host)) => format!("***@{host}"),
            None => h.to_owned(),
        })
        .collect();
    format!("{scheme}://{}", hosts.join(","))
}

/// A valid run id is a subject token and a stream-name part.
pub fn valid_run_id(run: &str) -> bool {
    !run.is_empty() && run.len() <= 64 && run.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

fn work_stream(run: &str) -> String {
    format!("HOPQUY_FLEET_{run}_WORK")
}
fn results_stream(run: &str) -> String {
    format!("HOPQUY_FLEET_{run}_RESULTS")
}
fn work_subject(run: &str) -> String {
    format!("hopquy.fleet.{run}.work")
}
fn results_subject(run: &str) -> String {
    format!("hopquy.fleet.{run}.results")
}
fn meta_subject(run: &str) -> String {
    format!("hopquy.fleet.{run}.meta")
}

/// One connection to the server, for one fleet run.
pub struct FleetQueue {
    run: String,
    url: String,
    client: async_nats::Client,
    js: jetstream::Context,
    lost: Arc<AtomicBool>,
}

impl FleetQueue {
    /// Connects (without retrying: a wrong URL is said at once). A connection lost later sets
    /// [`FleetQueue::lost`]; the client does not hide it by reconnecting behind the worker.
    pub async fn connect(url: &str, run: &str) -> Result<FleetQueue, NatsError> {
        if !valid_run_id(run) {
            return Err(NatsError::RunId(run.to_owned()));
        }
        let lost = Arc::new(AtomicBool::new(false));
        let flag = lost.clone();
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(5))
            .request_timeout(Some(REQUEST_TIMEOUT))
            .event_callback(move |event| {
                let flag = flag.clone();
                async move {
                    // `Closed` is this process letting go of the connection; only a
                    // disconnection is a loss.
                    if matches!(event, async_nats::Event::Disconnected) {
                        tracing::warn!("NATS connection: {event}");
                        flag.store(true, Ordering::SeqCst);
                    }
                }
            })
            .connect(url)
            .await
            .map_err(|e| NatsError::Connect {
                url: shown_url(url),
                detail: e.to_string().replace(url, &shown_url(url)),
            })?;
        let mut js = jetstream::new(client.clone());
        js.set_timeout(REQUEST_TIMEOUT);
        Ok(FleetQueue {
            run: run.to_owned(),
            url: shown_url(url),
            client,
            js,
            lost,
        })
    }

    /// The server's URL without its credentials.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// True once the connection to the server was lost.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Creates the run's streams and consumer (or finds them: a half-done submit of the same
    /// run, inventory and suite is resumed), publishes the run once and one message per
    /// device not yet audited, each with its (run, device) message id.
    pub async fn submit(&self, queued: &QueuedRun, devices: &[DeviceEntry]) -> Result<Submitted, NatsError> {
        let run = &self.run;
        let mut outcome = Submitted::default();
        let mut has_meta = false;
        if self.js.get_stream(results_stream(run)).await.is_ok() {
            outcome.resumed = true;
            match self.run().await {
                Ok(before) => {
                    if let Some(differs) = differs(&before, queued) {
                        return Err(NatsError::Exists {
                            run: run.clone(),
                            differs,
                        });
                    }
                    has_meta = true;
                }
                // Stopped before the run was published: nothing to compare with.
                Err(NatsError::NoRun(_)) => {}
                Err(e) => return Err(e),
            }
        }
        let work = self
            .js
            .get_or_create_stream(stream::Config {
                name: work_stream(run),
                subjects: vec![work_subject(run)],
                retention: stream::RetentionPolicy::WorkQueue,
                storage: stream::StorageType::File,
                duplicate_window: SUBMIT_DUPLICATE_WINDOW,
                ..Default::default()
            })
            .await
            .map_err(|e| js_err("creating the work stream")(e.to_string()))?;
        self.js
            .get_or_create_stream(stream::Config {
                name: results_stream(run),
                subjects: vec![results_subject(run), meta_subject(run)],
                storage: stream::StorageType::File,
                // Long enough to cover a redelivery after a whole device timeout.
                duplicate_window: ack_wait(Duration::from_secs(queued.device_timeout_s)) * 2
                    + Duration::from_secs(3600),
                ..Default::default()
            })
            .await
            .map_err(|e| js_err("creating the results stream")(e.to_string()))?;
        work.get_or_create_consumer::<consumer::pull::Config>(
            CONSUMER,
            consumer::pull::Config {
                durable_name: Some(CONSUMER.into()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: ack_wait(Duration::from_secs(queued.device_timeout_s)),
                // One delivery more than may be lost: the last one records "gave up" instead
                // of auditing, so a device that kills its workers ends in the report rather
                // than being redelivered for ever.
                max_deliver: i64::from(queued.max_deliver) + 1,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| js_err("creating the workers' consumer")(e.to_string()))?;
        if !has_meta {
            let meta = serde_json::to_vec(queued).map_err(|e| js_err("encoding the run")(e.to_string()))?;
            self.publish(meta_subject(run), "meta", Bytes::from(meta)).await?;
        }
        // Outside the work stream's duplicate window, only the results say a device is done.
        let done: BTreeSet<String> = if outcome.resumed {
            self.results().await?.into_iter().map(|r| r.device).collect()
        } else {
            BTreeSet::new()
        };
        for device in devices {
            if done.contains(&device.id) {
                outcome.already_done += 1;
                continue;
            }
            let body = serde_json::to_vec(device).map_err(|e| js_err("encoding a device")(e.to_string()))?;
            let duplicate = self
                .publish(work_subject(run), &work_msg_id(run, &device.id), Bytes::from(body))
                .await?;
            if duplicate {
                outcome.already_queued += 1;
            } else {
                outcome.queued += 1;
            }
        }
        Ok(outcome)
    }

    /// Publishes with a message id; true when the stream already had that id (a duplicate,
    /// not stored again).
    async fn publish(&self, subject: String, id: &str, payload: Bytes) -> Result<bool, NatsError> {
        let ack = self
            .js
            .send_publish(subject, PublishMessage::build().message_id(id).payload(payload))
            .await
            .map_err(|e| js_err("publishing")(e.to_string()))?;
        let ack = ack.await.map_err(|e| js_err("publishing")(e.to_string()))?;
        Ok(ack.duplicate)
    }

    /// The run as submitted.
    pub async fn run(&self) -> Result<QueuedRun, NatsError> {
        let stream = self
            .js
            .get_stream(results_stream(&self.run))
            .await
            .map_err(|_| NatsError::NoRun(self.run.clone()))?;
        let msg = stream
            .get_last_raw_message_by_subject(&meta_subject(&self.run))
            .await
            .map_err(|_| NatsError::NoRun(self.run.clone()))?;
        let queued: QueuedRun =
            decode(&msg.payload, MAX_WORK_BYTES).map_err(|detail| self.invalid("the run", detail))?;
        if queued.run.run_id != self.run {
            return Err(self.invalid("the run", format!("it names run `{}`", queued.run.run_id)));
        }
        Ok(queued)
    }

    fn invalid(&self, what: &str, detail: String) -> NatsError {
        NatsError::Invalid {
            run: self.run.clone(),
            what: what.to_owned(),
            detail,
        }
    }

    /// The workers' consumer of this run.
    pub async fn work(&self) -> Result<WorkQueue, NatsError> {
        let stream = self
            .js
            .get_stream(work_stream(&self.run))
            .await
            .map_err(|_| NatsError::NoRun(self.run.clone()))?;
        let consumer: consumer::PullConsumer = stream
            .get_consumer(CONSUMER)
            .await
            .map_err(|e| js_err("the workers' consumer")(e.to_string()))?;
        Ok(WorkQueue {
            run: self.run.clone(),
            stream,
            consumer,
        })
    }

    /// Publishes a device's result; returns once the results stream has stored it (or
    /// recognised it as a duplicate).
    pub async fn publish_result(&self, record: &DeviceRecord) -> Result<(), NatsError> {
        let body = serde_json::to_vec(record).map_err(|e| js_err("encoding a result")(e.to_string()))?;
        self.publish(results_subject(&self.run), &record.device, Bytes::from(body))
            .await
            .map(|_| ())
    }

    /// Every device's result, once each (the first stored), in device-id order.
    pub async fn results(&self) -> Result<Vec<DeviceRecord>, NatsError> {
        let mut stream = self
            .js
            .get_stream(results_stream(&self.run))
            .await
            .map_err(|_| NatsError::NoRun(self.run.clone()))?;
        let state = stream
            .info()
            .await
            .map_err(|e| js_err("reading the results stream")(e.to_string()))?
            .state
            .clone();
        let subject = results_subject(&self.run);
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        let mut seq = state.first_sequence;
        while state.messages > 0 && seq <= state.last_sequence {
            // A sequence may be missing (deleted); anything else is an error worth stopping on.
            let next = stream
                .raw_message_builder()
                .sequence(seq)
                .next_by_subject(subject.clone())
                .send()
                .await;
            let msg = match next {
                Ok(m) => m,
                Err(e) if e.kind() == stream::RawMessageErrorKind::NoMessageFound => break,
                Err(e) => return Err(js_err("reading a result")(e.to_string())),
            };
            seq = msg.sequence + 1;
            let record: DeviceRecord =
                decode(&msg.payload, MAX_RESULT_BYTES).map_err(|detail| self.invalid("a result", detail))?;
            if seen.insert(record.device.clone()) {
                out.push(record);
            } else {
                tracing::debug!("duplicate result of `{}` ignored", record.device);
            }
        }
        out.sort_by(|a, b| a.device.cmp(&b.device));
        Ok(out)
    }

    /// Flushes what is buffered; ends the connection when dropped.
    pub async fn flush(&self) {
        let _ = self.client.flush().await;
    }
}

/// Why a run already on the server is not the one being submitted again, if it is not.
fn differs(before: &QueuedRun, now: &QueuedRun) -> Option<String> {
    let (b, n) = (&before.run, &now.run);
    if b.inventory_digest != n.inventory_digest {
        Some(format!("with another inventory ({})", b.inventory))
    } else if b.cases != n.cases || b.regulation != n.regulation {
        Some("with another inspection suite".into())
    } else if before.device_timeout_s != now.device_timeout_s || before.max_deliver != now.max_deliver {
        Some(format!(
            "with --device-timeout-s {} --max-deliver {}",
            before.device_timeout_s, before.max_deliver
        ))
    } else {
        None
    }
}

fn decode<T: serde::de::DeserializeOwned>(payload: &[u8], max: usize) -> Result<T, String> {
    if payload.len() > max {
        return Err(format!("{} bytes, more than {max}", payload.len()));
    }
    serde_json::from_slice(payload).map_err(|e| e.to_string())
}

/// The run's work queue, as a worker sees it.
#[derive(Clone)]
pub struct WorkQueue {
    run: String,
    stream: stream::Stream,
    consumer: consumer::PullConsumer,
}

impl WorkQueue {
    /// The next device for this worker, waiting up to `wait`; `None` when none came.
    pub async fn next(&self, wait: Duration) -> Result<Option<Work>, NatsError> {
        // Bounded here too: a pull whose server went away must not wait for ever.
        let pulled = tokio::time::timeout(wait + REQUEST_TIMEOUT, async {
            let mut batch = self
                .consumer
                .fetch()
                .max_messages(1)
                .expires(wait)
                .messages()
                .await
                .map_err(|e| js_err("pulling work")(e.to_string()))?;
            Ok::<_, NatsError>(batch.next().await)
        })
        .await
        .map_err(|_| js_err("pulling work")("no answer from the server".into()))??;
        let Some(msg) = pulled else {
            return Ok(None);
        };
        let msg = msg.map_err(|e| js_err("pulling work")(e.to_string()))?;
        let device = decode::<DeviceEntry>(&msg.payload, MAX_WORK_BYTES).and_then(|d| {
            if valid_id(&d.id) {
                Ok(d)
            } else {
                Err(format!("device id `{}` is not valid", d.id.escape_debug()))
            }
        });
        match device {
            Ok(device) => {
                let delivered = msg.info().map(|i| i.delivered).unwrap_or(1);
                Ok(Some(Work {
                    device,
                    delivered,
                    msg: Arc::new(msg),
                }))
            }
            Err(detail) => {
                // Nobody can audit it: terminated so it is not redelivered forever.
                let _ = msg.ack_with(AckKind::Term).await;
                Err(NatsError::Invalid {
                    run: self.run.clone(),
                    what: "a work item".into(),
                    detail,
                })
            }
        }
    }

    /// Devices not yet acknowledged by any worker (queued or being audited).
    pub async fn remaining(&self) -> Result<u64, NatsError> {
        let info = self
            .stream
            .get_info()
            .await
            .map_err(|e| js_err("reading the work stream")(e.to_string()))?;
        Ok(info.state.messages)
    }
}

/// One device taken from the queue, not yet acknowledged.
pub struct Work {
    pub device: DeviceEntry,
    /// How many times this device was delivered (more than 1: a worker before lost it).
    pub delivered: i64,
    msg: Arc<jetstream::Message>,
}

impl Work {
    /// Says "still working on it" every `every` until the returned task is aborted, so the
    /// device is not redelivered while it is audited.
    pub fn heartbeat(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let msg = self.msg.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                if let Err(e) = msg.ack_with(AckKind::Progress).await {
                    tracing::warn!("in_progress: {e}");
                }
            }
        })
    }

    /// Acknowledged and confirmed by the server: the device leaves the queue.
    pub async fn ack(&self) -> Result<(), NatsError> {
        self.msg
            .double_ack()
            .await
            .map_err(|e| js_err("acknowledging a device")(e.to_string()))
    }

    /// Handed back at once, for another worker.
    pub async fn nak(&self) {
        let _ = self.msg.ack_with(AckKind::Nak(None)).await;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::inventory::parse_inventory;

    #[test]
    fn run_ids_are_subject_tokens_and_the_ack_wait_outlasts_the_device_timeout() {
        for ok in ["q1-2026", "kill_test", "A"] {
            assert!(valid_run_id(ok), "{ok}");
        }
        for bad in ["", "a.b", "a*", "a>", "a b", "ü", &"x".repeat(65)] {
            assert!(!valid_run_id(bad), "{bad}");
        }
        for s in [1, 20, 1800] {
            let t = Duration::from_secs(s);
            assert!(ack_wait(t) >= t + Duration::from_secs(5), "{s}");
        }
        assert_eq!(ack_wait(Duration::from_secs(1800)), Duration::from_secs(1980));
    }

    /// A run queued before `max_deliver` existed reads with the default; a second submit of
    /// the same run is a resume only with the same inventory, suite and limits.
    #[test]
    fn a_resubmit_must_match_the_run_on_the_server() {
        let run = crate::store::tests::meta();
        let queued = QueuedRun {
            run: run.clone(),
            device_timeout_s: 20,
            max_deliver: DEFAULT_MAX_DELIVER,
        };
        let mut old = serde_json::to_value(&queued).unwrap();
        old.as_object_mut().unwrap().remove("max_deliver");
        let back: QueuedRun = serde_json::from_value(old).unwrap();
        assert_eq!(back, queued);
        assert_eq!(differs(&queued, &queued.clone()), None);
        let mut other = queued.clone();
        other.run.inventory_digest = "other".into();
        assert!(differs(&queued, &other).unwrap().contains("another inventory"));
        let mut other = queued.clone();
        other.run.cases.pop();
        assert!(differs(&queued, &other).unwrap().contains("inspection suite"));
        let mut other = queued.clone();
        other.max_deliver = 5;
        assert!(differs(&queued, &other).unwrap().contains("--max-deliver 3"));
    }

    #[test]
    fn a_shown_url_carries_no_credentials() {
        assert_eq!(shown_url("nats://127.0.0.1:4222"), "nats://127.0.0.1:4222");
        assert_eq!(shown_url("nats://u:s3cret@10.0.0.1:4222"), "nats://***@10.0.0.1:4222");
        assert_eq!(
            shown_url("tls://tok3n@a:4222,b:4222,x:p@w@c:1"),
            "tls://***@a:4222,b:4222,***@c:1"
        );
        assert_eq!(shown_url("127.0.0.1:4222"), "127.0.0.1:4222");
    }

    /// A work item is the inventory entry as checked, and only that: no password travels, an
    /// unknown key is refused, an oversized message is not parsed.
    #[test]
    fn a_work_item_round_trips_without_a_secret_and_refuses_what_it_does_not_know() {
        let inv = parse_inventory(
            Path::new("inv.csv"),
            "id,host,profile,username,password_env,site\ncam-1,10.0.0.1,simcam,admin,CAM_PW,HQ\n",
            &["simcam".to_owned()],
        )
        .unwrap();
        let entry = &inv.devices[0];
        let body = serde_json::to_vec(entry).unwrap();
        let text = String::from_utf8(body.clone()).unwrap();
        assert!(text.contains("\"env\":\"CAM_PW\""), "{text}");
        let back: DeviceEntry = decode(&body, MAX_WORK_BYTES).unwrap();
        assert_eq!(&back, entry);
        let mut extra: serde_json::Value = serde_json::from_slice(&body).unwrap();
        extra["password"] = "x".into();
        let err = decode::<DeviceEntry>(&serde_json::to_vec(&extra).unwrap(), MAX_WORK_BYTES).unwrap_err();
        assert!(err.contains("unknown field `password`"), "{err}");
        let err = decode::<DeviceEntry>(&vec![b' '; MAX_WORK_BYTES + 1], MAX_WORK_BYTES).unwrap_err();
        assert!(err.contains("more than"), "{err}");
    }
}
