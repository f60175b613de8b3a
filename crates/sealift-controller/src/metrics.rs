//! Prometheus metrics, served on `/metrics` in the OpenMetrics text format.
//!
//! | metric | labels | meaning |
//! |---|---|---|
//! | `sealift_promotions` | `phase` | Promotion objects by phase (from the watch cache, at scrape time) |
//! | `sealift_step_duration_seconds` | `step` | one engine step, side effect and status write included |
//! | `sealift_port_call_duration_seconds` | `port` (`git`, `verify`, `forge`), `operation`, `outcome` | calls to Git, the registry verifier and the forge |
//! | `sealift_port_call_errors_total` | `port`, `operation`, `reason` | failed or rejected calls, by reason |
//! | `sealift_forge_requests_total` | `forge`, `operation`, `status` | HTTP requests to forge APIs |
//! | `sealift_lead_time_seconds` | — | Promotion created → merged |
//! | `sealift_reconcile_errors_total` | `reason` | reconciliations that failed (Kubernetes API errors) |
//! | `sealift_leader` | — | 1 while this replica holds the Lease |
//!
//! Every label value is bounded (static names, phases, reasons, status codes): no object names.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use sealift_adapters::observe::{CallOutcome, PortObserver};
use sealift_forge::{RequestEvent, RequestObserver};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabel {
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StepLabel {
    step: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabel {
    port: String,
    operation: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabel {
    port: String,
    operation: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ForgeLabel {
    forge: String,
    operation: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    [
        0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ]
    .into_iter()
}

/// The controller's metrics.
pub struct Metrics {
    registry: Mutex<Registry>,
    promotions: Family<PhaseLabel, Gauge>,
    steps: Family<StepLabel, Histogram>,
    calls: Family<CallLabel, Histogram>,
    call_errors: Family<ErrorLabel, Counter>,
    forge_requests: Family<ForgeLabel, Counter>,
    lead_time: Histogram,
    reconcile_errors: Family<ReasonLabel, Counter>,
    leader: Gauge,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("sealift");
        let promotions = Family::<PhaseLabel, Gauge>::default();
        registry.register(
            "promotions",
            "Promotion objects by phase",
            promotions.clone(),
        );
        let steps = Family::<StepLabel, Histogram>::new_with_constructor(
            (|| Histogram::new(latency_buckets())) as fn() -> Histogram,
        );
        let steps = steps_family(steps);
        registry.register(
            "step_duration_seconds",
            "One engine step: its side effect and the status write",
            steps.clone(),
        );
        let calls = Family::<CallLabel, Histogram>::new_with_constructor(
            (|| Histogram::new(latency_buckets())) as fn() -> Histogram,
        );
        let calls = calls_family(calls);
        registry.register(
            "port_call_duration_seconds",
            "Calls to git, the verifier (registry) and the forge",
            calls.clone(),
        );
        let call_errors = Family::<ErrorLabel, Counter>::default();
        registry.register(
            "port_call_errors",
            "Rejected or failed calls to git, the verifier and the forge, by reason",
            call_errors.clone(),
        );
        let forge_requests = Family::<ForgeLabel, Counter>::default();
        registry.register(
            "forge_requests",
            "HTTP requests to forge APIs by operation and status code",
            forge_requests.clone(),
        );
        let lead_time = Histogram::new([
            1.0, 5.0, 30.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0, 604800.0,
        ]);
        registry.register(
            "lead_time_seconds",
            "From a Promotion's creation to its merge",
            lead_time.clone(),
        );
        let reconcile_errors = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "reconcile_errors",
            "Reconciliations that failed (Kubernetes API errors), by reason",
            reconcile_errors.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica holds the Lease",
            leader.clone(),
        );
        Metrics {
            registry: Mutex::new(registry),
            promotions,
            steps,
            calls,
            call_errors,
            forge_requests,
            lead_time,
            reconcile_errors,
            leader,
        }
    }

    /// Replaces the per-phase counts.
    pub fn set_phases<'a>(&self, counts: impl IntoIterator<Item = (&'a str, i64)>) {
        self.promotions.clear();
        for (phase, n) in counts {
            self.promotions
                .get_or_create(&PhaseLabel {
                    phase: phase.to_owned(),
                })
                .set(n);
        }
    }

    /// Records one engine step.
    pub fn step(&self, step: &str, elapsed: Duration) {
        self.steps
            .get_or_create(&StepLabel {
                step: step.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// Records a lead time.
    pub fn lead_time(&self, elapsed: Duration) {
        self.lead_time.observe(elapsed.as_secs_f64());
    }

    /// Counts a failed reconciliation.
    pub fn reconcile_error(&self, reason: &str) {
        self.reconcile_errors
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Whether this replica leads.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            out.clear();
        }
        out
    }
}

// Type inference helpers: a family whose constructor is a plain function pointer.
fn steps_family(
    f: Family<StepLabel, Histogram, fn() -> Histogram>,
) -> Family<StepLabel, Histogram, fn() -> Histogram> {
    f
}

fn calls_family(
    f: Family<CallLabel, Histogram, fn() -> Histogram>,
) -> Family<CallLabel, Histogram, fn() -> Histogram> {
    f
}

impl PortObserver for Metrics {
    fn observe(
        &self,
        port: &'static str,
        operation: &'static str,
        elapsed: Duration,
        outcome: CallOutcome,
    ) {
        let (label, reason) = match outcome {
            CallOutcome::Ok => ("ok", None),
            CallOutcome::Rejected(r) => ("rejected", Some(r)),
            CallOutcome::Failed(r) => ("failed", Some(r)),
        };
        self.calls
            .get_or_create(&CallLabel {
                port: port.to_owned(),
                operation: operation.to_owned(),
                outcome: label.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
        if let Some(reason) = reason {
            self.call_errors
                .get_or_create(&ErrorLabel {
                    port: port.to_owned(),
                    operation: operation.to_owned(),
                    reason: reason.to_owned(),
                })
                .inc();
        }
    }
}

impl RequestObserver for Metrics {
    fn observe(&self, event: &RequestEvent) {
        self.forge_requests
            .get_or_create(&ForgeLabel {
                forge: event.forge.to_string(),
                operation: event.operation.to_owned(),
                status: event
                    .status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "error".to_owned()),
            })
            .inc();
    }
}
