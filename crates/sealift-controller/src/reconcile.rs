//! One reconciliation of one Promotion: read it fresh, refuse spec changes, then let the engine
//! step until it must wait, writing the status (server-side apply, field manager `sealift`) and an
//! Event after every step, so a crash at any point resumes from the last recorded step.

use crate::metrics::Metrics;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::api::{Patch, PatchParams};
use kube::core::DeserializeGuard;
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource, ResourceExt};
use sealift_api::conditions::reasons;
use sealift_api::{Phase, Promotion, PromotionStatus};
use sealift_core::backoff;
pub use sealift_core::driver::phase_name;
use sealift_core::driver::{self, Transition};
use sealift_core::status::truncate;
use sealift_core::{Engine, Next, PromotionRef};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The field manager of every status write.
pub use sealift_api::FIELD_MANAGER;

/// What every reconciliation shares.
pub struct Context {
    /// The API client.
    pub client: Client,
    /// The pipeline.
    pub engine: Engine,
    /// Publishes Events that may repeat (retries, a malformed object): kube's Recorder folds a
    /// repeat into the first Event's series instead of creating another object. It remembers
    /// every Event it published for 6 minutes, so one-off transition Events do not go through it
    /// (with hundreds of promotions a minute that memory was most of the controller's growth).
    pub recorder: Recorder,
    /// Who publishes: for the one-off transition Events.
    pub reporter: Reporter,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Consecutive failures per object, for exponential backoff.
    pub failures: Mutex<HashMap<String, u32>>,
    /// Engine steps taken by this process.
    pub steps: AtomicU64,
}

/// Errors that make kube-runtime retry the object with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The API server failed.
    #[error("Kubernetes API: {0}")]
    Kube(#[from] kube::Error),
}

impl Error {
    fn reason(&self) -> &'static str {
        match self {
            Error::Kube(kube::Error::Api(s)) if s.code == 409 => "Conflict",
            Error::Kube(kube::Error::Api(s)) if s.code == 403 => "Forbidden",
            Error::Kube(kube::Error::Api(s)) if s.code == 404 => "NotFound",
            Error::Kube(_) => "KubernetesApiError",
        }
    }
}

fn key(obj: &DeserializeGuard<Promotion>) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

/// Reconciles one Promotion.
#[tracing::instrument(name = "reconcile", skip_all, fields(promotion = %key(&obj)))]
pub async fn reconcile(
    obj: Arc<DeserializeGuard<Promotion>>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let action = reconcile_once(&obj, &ctx).await?;
    succeeded(&ctx, &obj);
    Ok(action)
}

async fn reconcile_once(
    obj: &Arc<DeserializeGuard<Promotion>>,
    ctx: &Arc<Context>,
) -> Result<Action, Error> {
    let ctx = ctx.clone();
    let ns = obj.namespace().unwrap_or_default();
    let name = obj.name_any();
    let api: Api<Promotion> = Api::namespaced(ctx.client.clone(), &ns);
    let reference = object_ref(obj);
    if let Err(invalid) = &obj.0 {
        // A malformed object must not stop the controller: say what is wrong, wait for a fix.
        tracing::warn!(promotion = %key(obj), error = %invalid.error, "malformed Promotion");
        publish(
            &ctx,
            &reference,
            EventType::Warning,
            reasons::INVALID_SPEC,
            &format!("cannot read this Promotion: {}", invalid.error),
            Repeats::Yes,
        )
        .await;
        return Ok(Action::await_change());
    }
    // Read fresh: the watch cache may lag behind the status this controller wrote a moment ago,
    // and acting on an older status would repeat a step.
    let Some(p) = api.get_opt(&name).await? else {
        return Ok(Action::await_change());
    };
    let generation = p.metadata.generation.unwrap_or(1);
    let promotion = PromotionRef {
        namespace: ns.clone(),
        name: name.clone(),
        generation,
        spec: p.spec.clone(),
    };
    let mut recorder = StatusWriter {
        ctx: &ctx,
        api: &api,
        name: &name,
        reference: &reference,
        promotion: &p,
    };
    let (_, next) =
        driver::run_until_wait(&ctx.engine, &promotion, p.status.clone(), &mut recorder).await?;
    Ok(next_action(next))
}

/// Records each step: fault injection (tests only), the status by server-side apply, the step
/// metric, and an Event for what changed.
struct StatusWriter<'a> {
    ctx: &'a Context,
    api: &'a Api<Promotion>,
    name: &'a str,
    reference: &'a ObjectReference,
    promotion: &'a Promotion,
}

#[async_trait::async_trait]
impl driver::Record for StatusWriter<'_> {
    type Error = Error;

    async fn record(
        &mut self,
        before: Phase,
        status: &PromotionStatus,
        took: Duration,
    ) -> Result<(), Error> {
        let n = self.ctx.steps.fetch_add(1, Ordering::SeqCst) + 1;
        crate::fault::before_persist(n, before);
        apply_status(self.api, self.name, status).await?;
        self.ctx.metrics.step(phase_name(before), took);
        announce(self.ctx, self.reference, self.promotion, before, status).await;
        Ok(())
    }
}

fn next_action(next: Next) -> Action {
    match next {
        Next::Now => Action::requeue(Duration::from_millis(1)),
        Next::After(d) => Action::requeue(d),
        Next::Done => Action::await_change(),
    }
}

/// Requeue with exponential backoff per object (1 s doubling to 5 min) after an API failure.
pub fn error_policy(
    obj: Arc<DeserializeGuard<Promotion>>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    ctx.metrics.reconcile_error(error.reason());
    let mut failures = ctx.failures.lock().unwrap_or_else(|e| e.into_inner());
    let n = failures.entry(key(&obj)).or_insert(0);
    *n = n.saturating_add(1);
    let delay = backoff(Duration::from_secs(1), *n, Duration::from_secs(300));
    tracing::warn!(promotion = %key(&obj), error = %error, retry_in = ?delay, "reconcile failed");
    Action::requeue(delay)
}

/// Forgets an object's failures after a successful reconciliation.
fn succeeded(ctx: &Context, obj: &DeserializeGuard<Promotion>) {
    let mut failures = ctx.failures.lock().unwrap_or_else(|e| e.into_inner());
    failures.remove(&key(obj));
}

async fn apply_status(
    api: &Api<Promotion>,
    name: &str,
    status: &PromotionStatus,
) -> Result<(), Error> {
    let patch = serde_json::json!({
        "apiVersion": "sealift.dev/v1alpha1",
        "kind": "Promotion",
        "status": status,
    });
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(())
}

/// Events on transitions (phase changes and retries), the lead-time metric on merge.
async fn announce(
    ctx: &Context,
    reference: &ObjectReference,
    p: &Promotion,
    before: Phase,
    after: &PromotionStatus,
) {
    let Some(t) = Transition::of(before, after) else {
        return;
    };
    let type_ = if t.warning {
        EventType::Warning
    } else {
        EventType::Normal
    };
    if t.retry.is_some() {
        publish(ctx, reference, type_, &t.reason, &t.message, Repeats::Yes).await;
        return;
    }
    tracing::info!(promotion = %format!("{}/{}", p.namespace().unwrap_or_default(), p.name_any()), from = phase_name(t.from), to = phase_name(t.to), "phase changed");
    if t.to == Phase::Merged
        && let (Some(created), Some(done)) = (
            p.metadata.creation_timestamp.as_ref(),
            after.finished_at.as_ref(),
        )
    {
        let secs = done.0.as_second() - created.0.as_second();
        ctx.metrics
            .lead_time(Duration::from_secs(u64::try_from(secs).unwrap_or(0)));
    }
    publish(ctx, reference, type_, &t.reason, &t.message, Repeats::No).await;
}

/// Whether an Event may be published again for the same object and reason.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Repeats {
    /// Yes: fold repeats into one Event's series (kube's Recorder, with its 6-minute memory).
    Yes,
    /// No (a phase transition happens once): publish without remembering it.
    No,
}

async fn publish(
    ctx: &Context,
    reference: &ObjectReference,
    type_: EventType,
    reason: &str,
    note: &str,
    repeats: Repeats,
) {
    let event = Event {
        type_,
        reason: if reason.is_empty() {
            "Unknown".into()
        } else {
            reason.to_owned()
        },
        note: (!note.is_empty()).then(|| truncate(note, 1000)),
        action: "Promote".into(),
        secondary: None,
    };
    tracing::debug!(reason = %event.reason, "publishing an Event");
    let published = match repeats {
        Repeats::Yes => ctx.recorder.publish(&event, reference).await,
        // A Recorder of its own, dropped with its one-entry memory.
        Repeats::No => {
            Recorder::new(ctx.client.clone(), ctx.reporter.clone())
                .publish(&event, reference)
                .await
        }
    };
    if let Err(e) = published {
        tracing::warn!(error = %e, "could not publish an Event");
    }
}

fn object_ref(obj: &DeserializeGuard<Promotion>) -> ObjectReference {
    let meta = obj.meta();
    ObjectReference {
        api_version: Some(Promotion::api_version(&()).into_owned()),
        kind: Some(Promotion::kind(&()).into_owned()),
        name: meta.name.clone(),
        namespace: meta.namespace.clone(),
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
        ..Default::default()
    }
}
