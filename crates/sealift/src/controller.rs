//! `sealift controller`: the Kubernetes controller (what the Deployment in `manifests/` runs).

use crate::common::{EngineArgs, read_trusted_root};
use anyhow::{Context, Result};
use sealift_core::Timing;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct ControllerArgs {
    /// Where `/metrics`, `/livez` and `/readyz` listen.
    #[arg(long, default_value = "0.0.0.0:8080", env = "SEALIFT_LISTEN")]
    listen: SocketAddr,
    /// Sealift's own namespace: its Lease, and the Secrets ClusterTrustPolicies refer to.
    #[arg(long, default_value = "sealift-system", env = "POD_NAMESPACE")]
    namespace: String,
    /// This replica's identity in the Lease and in Events (the Pod name).
    #[arg(long, env = "POD_NAME")]
    identity: Option<String>,
    /// Run without leader election: only for a single replica.
    #[arg(long)]
    no_leader_election: bool,
    /// The Lease used for leader election.
    #[arg(long, default_value = "sealift-controller")]
    lease_name: String,
    /// Seconds a leader holds the Lease without renewing it.
    #[arg(long, default_value_t = 15)]
    lease_duration: u64,
    /// Watch Promotions in this namespace only (default: every namespace).
    #[arg(long, value_name = "NAMESPACE", env = "SEALIFT_WATCH_NAMESPACE")]
    watch_namespace: Option<String>,
    /// Promotions reconciled at once.
    #[arg(long, default_value_t = 16)]
    concurrency: u16,
    /// How often an open pull request is polled.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    poll_interval: u64,
    /// Log lines as JSON (one object per line).
    #[arg(long, env = "SEALIFT_LOG_JSON")]
    log_json: bool,
    #[command(flatten)]
    engine: EngineArgs,
}

pub fn controller(args: ControllerArgs) -> Result<ExitCode> {
    crate::logging::init(args.log_json);
    let identity = args
        .identity
        .clone()
        .unwrap_or_else(|| format!("sealift-{}", std::process::id()));
    let wiring = args.engine.wiring(
        read_trusted_root(args.engine.trusted_root.as_deref())?,
        Timing {
            poll_interval: Duration::from_secs(args.poll_interval.max(1)),
            ..Timing::default()
        },
    )?;
    let mut wiring = wiring;
    wiring.own_namespace = args.namespace.clone();
    sealift_controller::fault::configure_from_env().map_err(|e| anyhow::anyhow!(e))?;
    let config = sealift_controller::Config {
        listen: args.listen,
        namespace: args.namespace,
        identity,
        leader_election: !args.no_leader_election,
        lease_name: args.lease_name,
        lease_duration_secs: args.lease_duration.max(2),
        concurrency: args.concurrency.max(1),
        watch_namespace: args.watch_namespace,
        wiring,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let client = kube::Client::try_default()
            .await
            .context("connecting to Kubernetes (in-cluster config or KUBECONFIG)")?;
        sealift_controller::run(client, config, shutdown_signal()).await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM (Kubernetes stopping the Pod) or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down");
}
