//! `sealift promote -f promotion.yaml`: the controller's engine without a cluster. The state lives
//! in the file's `status`, written back after every step, so a CI job that is killed and re-run
//! resumes exactly where it stopped: no second commit, no second pull request.

use crate::common::{EngineArgs, read_trusted_root};
use anyhow::{Context, Result, bail};
use sealift_api::{Phase, Promotion};
use sealift_engine::adapters::verify::StaticPolicies;
use sealift_engine::adapters::{DirSecrets, wire};
use sealift_engine::{Next, PromotionRef, Timing};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// Exit code: the promotion is rejected (an artifact or the request failed policy).
pub const EXIT_REJECTED: u8 = 1;
/// Exit code: the promotion failed (technical, after retries), or the input is unusable.
pub const EXIT_FAILED: u8 = 2;
/// Exit code: with `--wait`, the pull request was closed without merging.
pub const EXIT_CLOSED: u8 = 3;

#[derive(Debug, clap::Args)]
pub struct PromoteArgs {
    /// The Promotion (YAML or JSON). Its `status` is the saved state: written back after every
    /// step unless `--output` says otherwise.
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    file: PathBuf,
    /// TrustPolicy / ClusterTrustPolicy documents; `spec.policyRef` picks one by kind and name.
    #[arg(long, value_name = "FILE", required = true)]
    policy: Vec<PathBuf>,
    /// Where the final Promotion goes: `file` (back into FILE, after every step) or `-` (stdout,
    /// FILE untouched; a re-run starts over but stays idempotent).
    #[arg(short, long, default_value = "file", value_name = "file|-")]
    output: String,
    /// Keep going until the pull request is merged or closed (polls the forge). Without it,
    /// `promote` stops once the pull request is open.
    #[arg(long)]
    wait: bool,
    /// How often `--wait` polls the pull request.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    poll_interval: u64,
    /// Attempts of a failing step (unreachable registry, git or forge) before giving up.
    #[arg(long, default_value_t = 5)]
    max_attempts: i32,
    #[command(flatten)]
    engine: EngineArgs,
}

pub fn promote(args: PromoteArgs) -> Result<ExitCode> {
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let mut promotion = parse_promotion(&text)
        .with_context(|| format!("{} is not a Promotion", args.file.display()))?;
    let mut policies = Vec::new();
    for path in &args.policy {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        policies.extend(
            sealift_verify::PolicyDocument::parse_all(&text)
                .with_context(|| format!("policy file {}", path.display()))?,
        );
    }
    let to_file = match args.output.as_str() {
        "file" => true,
        "-" => false,
        other => bail!("--output must be `file` or `-`, not `{other}`"),
    };
    let wiring = args.engine.wiring(
        read_trusted_root(args.engine.trusted_root.as_deref())?,
        Timing {
            max_attempts: args.max_attempts.max(1),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
            poll_interval: Duration::from_secs(args.poll_interval.max(1)),
        },
    )?;
    let secrets =
        Arc::new(DirSecrets(args.engine.secrets_dir.clone().unwrap_or_else(
            || PathBuf::from("/nonexistent-sealift-secrets"),
        )));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let wired = wire(
            wiring,
            secrets,
            Arc::new(StaticPolicies(policies)),
            None,
            None,
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
        let p = PromotionRef {
            namespace: promotion
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            name: promotion
                .metadata
                .name
                .clone()
                .context("metadata.name is required")?,
            generation: promotion.metadata.generation.unwrap_or(1),
            spec: promotion.spec.clone(),
        };
        loop {
            let before = promotion
                .status
                .as_ref()
                .and_then(|s| s.phase)
                .unwrap_or_default();
            let stepped = wired.engine.step(&p, promotion.status.as_ref()).await;
            let changed = promotion.status.as_ref() != Some(&stepped.status);
            promotion.status = Some(stepped.status);
            let phase = promotion
                .status
                .as_ref()
                .and_then(|s| s.phase)
                .unwrap_or_default();
            if changed {
                report(&promotion, before, phase);
                if to_file {
                    save(&args.file, &promotion)?;
                }
            }
            match stepped.next {
                Next::Now => {}
                Next::Done => break,
                Next::After(_) if phase == Phase::PullRequestOpen && !args.wait => break,
                Next::After(d) => tokio::time::sleep(d).await,
            }
        }
        anyhow::Ok(())
    })?;
    if !to_file {
        print!("{}", serde_saphyr::to_string(&promotion)?);
    }
    let phase = promotion
        .status
        .as_ref()
        .and_then(|s| s.phase)
        .unwrap_or_default();
    Ok(ExitCode::from(match phase {
        Phase::Rejected => EXIT_REJECTED,
        Phase::Failed => EXIT_FAILED,
        Phase::Closed => EXIT_CLOSED,
        _ => 0,
    }))
}

/// A Promotion from YAML or JSON; the spec is checked strictly (unknown fields are errors).
pub fn parse_promotion(text: &str) -> Result<Promotion> {
    let value: serde_json::Value = serde_saphyr::from_str(text).context("not YAML")?;
    let promotion: Promotion = serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        anyhow::anyhow!(
            "{}: {}",
            if path.is_empty() { "." } else { &path },
            e.into_inner()
        )
    })?;
    if promotion.metadata.name.as_deref().is_none_or(str::is_empty) {
        bail!("metadata.name is required");
    }
    Ok(promotion)
}

fn report(p: &Promotion, before: Phase, phase: Phase) {
    let Some(s) = &p.status else { return };
    let ready = s
        .conditions
        .iter()
        .find(|c| c.type_ == sealift_api::conditions::types::READY);
    if phase != before {
        eprintln!("sealift: {before:?} → {phase:?}");
    }
    if let Some(c) = ready.filter(|c| c.status == "False" && phase.is_final()) {
        eprintln!("sealift: {phase:?} ({}): {}", c.reason, c.message);
    } else if let Some(attempts) = s.attempts {
        let last = s
            .conditions
            .iter()
            .filter(|c| c.status == "False")
            .max_by_key(|c| c.last_transition_time.0);
        if let Some(c) = last {
            eprintln!(
                "sealift: attempt {attempts} failed ({}): {}",
                c.reason, c.message
            );
        }
    }
    if phase == Phase::PullRequestOpen
        && before != phase
        && let Some(pr) = &s.pull_request
    {
        eprintln!("sealift: pull request #{} {}", pr.number, pr.url);
    }
}

/// Writes atomically: a kill mid-write never leaves a half-written state file.
fn save(path: &Path, p: &Promotion) -> Result<()> {
    let text = serde_saphyr::to_string(p)?;
    let tmp = path.with_extension("sealift-tmp");
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}
