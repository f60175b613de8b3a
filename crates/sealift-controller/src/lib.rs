//! The Kubernetes front end of Sealift: a kube-runtime controller over `Promotion` resources that
//! drives [`sealift_core`] and records its results in status (server-side apply), Events and
//! Prometheus metrics. Thin by design: every promotion decision is the engine's.
//!
//! ```text
//! wait for the CRDs ─► /readyz ok ─► Lease (one replica acts) ─► Controller<Promotion>
//!                                                                 └─ reconcile: fresh GET,
//!                                                                    refuse spec changes,
//!                                                                    engine.step ─► SSA status ─► Event
//! ```

pub mod fault;
pub mod http;
pub mod metrics;
pub mod reconcile;
pub mod sources;

use anyhow::Context as _;
use futures::{FutureExt, StreamExt};
use kube::core::DeserializeGuard;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client};
use sealift_adapters::{Wiring, wire};
use sealift_api::Promotion;
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How the controller runs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where `/metrics`, `/livez` and `/readyz` listen.
    pub listen: SocketAddr,
    /// Sealift's own namespace: the Lease, and the Secrets of ClusterTrustPolicies.
    pub namespace: String,
    /// This replica's name (the Lease holder identity, Event reporter instance).
    pub identity: String,
    /// Elect a leader with a Lease (off only for a single replica or a test).
    pub leader_election: bool,
    /// The Lease's name.
    pub lease_name: String,
    /// How long a Lease is held without renewal, in seconds.
    pub lease_duration_secs: u64,
    /// Promotions reconciled at once.
    pub concurrency: u16,
    /// Watch only this namespace (a namespaced install); `None`: every namespace.
    pub watch_namespace: Option<String>,
    /// Engine wiring: repository cache, commit identity, registries, trust root, timing.
    pub wiring: Wiring,
}

/// Why [`run`] returned.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped {
    /// The shutdown signal arrived.
    Shutdown,
}

/// How long running reconciliations get to finish after SIGTERM (Kubernetes' default grace
/// period is 30 s; the Lease release comes after this).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Runs until `shutdown` resolves (then stops taking work, gives running reconciliations up to
/// 20 s to finish and releases the Lease) or leadership is lost (an error: the process should
/// exit and restart, so it never acts without the Lease).
pub async fn run(
    client: Client,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Stopped> {
    let metrics = Arc::new(metrics::Metrics::new());
    let health = Arc::new(http::Health::default());
    let store: Arc<Mutex<Option<Store<DeserializeGuard<Promotion>>>>> = Arc::default();
    let on_scrape = {
        let store = store.clone();
        let metrics = metrics.clone();
        Arc::new(move || {
            let guard = store.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(store) = guard.as_ref() {
                let mut counts: BTreeMap<&'static str, i64> = BTreeMap::new();
                for p in store.state() {
                    let phase = match &p.0 {
                        Ok(p) => reconcile::phase_name(
                            p.status.as_ref().and_then(|s| s.phase).unwrap_or_default(),
                        ),
                        Err(_) => "Invalid",
                    };
                    *counts.entry(phase).or_default() += 1;
                }
                metrics.set_phases(counts);
            }
        })
    };
    let (addr, server) = http::serve(config.listen, metrics.clone(), health.clone(), on_scrape)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    tracing::info!(%addr, "serving /metrics, /livez and /readyz");
    let _server = AbortOnDrop(server);

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    let stopped = {
        let rx = stop_rx.clone();
        move || {
            let mut rx = rx.clone();
            async move {
                let _ = rx.wait_for(|s| *s).await;
            }
        }
    };

    // Wait for the CRDs: a controller started before `kubectl apply -k` finished must not crash.
    let promotions: Api<Promotion> = match &config.watch_namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    loop {
        match promotions
            .list(&kube::api::ListParams::default().limit(1))
            .await
        {
            Ok(_) => break,
            Err(e) => tracing::info!(error = %e, "waiting for the Promotion CRD"),
        }
        tokio::select! {
            _ = stopped() => return Ok(Stopped::Shutdown),
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
    health.ready.store(true, Ordering::SeqCst);

    let lease = if config.leader_election {
        let manager =
            kube_lease_manager::LeaseManagerBuilder::new(client.clone(), &config.lease_name)
                .with_namespace(&config.namespace)
                .with_identity(&config.identity)
                .with_field_manager("sealift-lease")
                .with_duration(config.lease_duration_secs)
                .with_grace(config.lease_duration_secs.div_ceil(3).max(1))
                .build()
                .await
                .context("setting up leader election")?;
        let (mut leading, task) = manager.watch().await;
        tracing::info!(lease = %config.lease_name, identity = %config.identity, "waiting for the Lease");
        let got = tokio::select! {
            _ = stopped() => false,
            r = leading.wait_for(|l| *l) => { r.context("leader election stopped")?; true }
        };
        if !got {
            drop(leading);
            if let Ok(Ok(m)) = task.await {
                let _ = m.release().await;
            }
            return Ok(Stopped::Shutdown);
        }
        tracing::info!(identity = %config.identity, "leading");
        metrics.set_leader(true);
        Some((leading, task))
    } else {
        metrics.set_leader(true);
        None
    };

    let wired = wire(
        config.wiring.clone(),
        Arc::new(sources::KubeSecrets(client.clone())),
        Arc::new(sources::KubePolicies(client.clone())),
        Some(metrics.clone()),
        Some(metrics.clone()),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let reporter = Reporter {
        controller: "sealift".into(),
        instance: Some(config.identity.clone()),
    };
    let ctx = Arc::new(reconcile::Context {
        client: client.clone(),
        engine: wired.engine,
        recorder: Recorder::new(client.clone(), reporter.clone()),
        reporter,
        metrics: metrics.clone(),
        failures: Mutex::default(),
        steps: AtomicU64::new(0),
    });

    let api: Api<DeserializeGuard<Promotion>> = match &config.watch_namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let controller = Controller::new(api, watcher::Config::default().any_semantic())
        .with_config(kube::runtime::controller::Config::default().concurrency(config.concurrency));
    *store.lock().unwrap_or_else(|e| e.into_inner()) = Some(controller.store());

    // Stop on the shutdown signal, or at once when the Lease is lost.
    let (lost_tx, mut lost_rx) = tokio::sync::watch::channel(false);
    let mut lease = lease;
    // Holds a clone of the leadership receiver: aborted at shutdown, or the lease task (which
    // ends when every receiver is gone) would never finish and SIGTERM would hang.
    let lost_watch = lease.as_mut().map(|(leading, _)| {
        let mut leading = leading.clone();
        AbortOnDrop(tokio::spawn(async move {
            let _ = leading.wait_for(|l| !*l).await;
            let _ = lost_tx.send(true);
        }))
    });
    // The shutdown signal, or the loss of the Lease: a fresh future each time it is asked for.
    let stop_now = {
        let lost_rx = lost_rx.clone();
        move || {
            let stopped = stopped();
            let mut lost = lost_rx.clone();
            async move {
                // Without leader election nobody sends on `lost`: a closed channel is not a loss.
                let lost = async move {
                    if lost.wait_for(|l| *l).await.is_err() {
                        std::future::pending::<()>().await;
                    }
                };
                tokio::select! {
                    _ = stopped => {}
                    _ = lost => {}
                }
            }
        }
    };
    // kube-runtime's graceful shutdown lets running reconciliations finish, but one asked for
    // before the first list completed never ends (the runner waits for a store that will not
    // fill). So: before the first list, stop at once (nothing runs yet); after it, give the
    // running steps a grace period, then drop them. Dropping a step is safe: each is idempotent
    // and its record is written after its side effect, exactly as after a crash.
    let force = {
        let store = controller.store();
        let stop = stop_now();
        async move {
            stop.await;
            if store.wait_until_ready().now_or_never().is_some() {
                tokio::time::sleep(SHUTDOWN_GRACE).await;
                tracing::warn!(
                    grace_secs = SHUTDOWN_GRACE.as_secs(),
                    "running reconciliations did not finish in time; stopping them"
                );
            }
        }
    };
    let run = controller
        .graceful_shutdown_on(stop_now())
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|r| async move {
            match r {
                Ok((obj, _)) => tracing::debug!(promotion = %obj.name, "reconciled"),
                Err(e) => tracing::debug!(error = %e, "reconcile error"),
            }
        });
    tokio::select! {
        _ = run => {}
        _ = force => {}
    }
    metrics.set_leader(false);
    if *lost_rx.borrow_and_update() {
        anyhow::bail!("lost the Lease: stopping so that only the leader acts");
    }
    drop(lost_watch);
    if let Some((leading, task)) = lease {
        drop(leading);
        // Hand the Lease over at once instead of letting the standby wait for it to expire; but
        // never let a slow API server hold the exit (the Lease then simply expires).
        let release = async {
            match task.await {
                Ok(Ok(m)) => m.release().await.map_err(anyhow::Error::from),
                Ok(Err(e)) => Err(anyhow::Error::from(e)),
                Err(e) => Err(anyhow::Error::from(e)),
            }
        };
        match tokio::time::timeout(Duration::from_secs(5), release).await {
            Ok(Ok(())) => tracing::info!("released the Lease"),
            Ok(Err(e)) => tracing::warn!(error = %e, "could not release the Lease"),
            Err(_) => tracing::warn!("releasing the Lease took over 5 s; it will expire instead"),
        }
    }
    tracing::info!("stopped");
    Ok(Stopped::Shutdown)
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
