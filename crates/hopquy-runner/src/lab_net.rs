//! The hook through which cases reach the camera's own network (`run --lab-net`). The
//! runner does not depend on hopquy-labnet: the CLI hands in an implementation, and cases
//! see the record as plain JSON, the same document as the bundle's `labnet/record.json`.

/// A running lab network, as the runner sees it. Implementations must be cheap to call
/// between steps and must not block for long (a snapshot copies the record so far).
pub trait LabNetControl: Send + Sync {
    /// What has been recorded so far: DHCP exchanges, DNS questions, flows, outage events,
    /// capture counters (the `LabNetRecord` of hopquy-labnet, serialised).
    fn snapshot(&self) -> serde_json::Value;
    /// Cuts the camera's uplink (recorded as an event with its time).
    fn cut(&self);
    /// Restores it (recorded likewise).
    fn restore(&self);
}
