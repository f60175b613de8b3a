//! `sealift promote -f promotion.yaml`: the controller's engine without a cluster. The state lives
//! in the file's `status`, written back after every step, so a CI job that is killed and re-run
//! resumes exactly where it stopped: no second commit, no second pull request.

use crate::common::{EngineArgs, read_trusted_root};
use anyhow::{Context, Result, bail};
use sealift_adapters::verify::StaticPolicies;
use sealift_adapters::{DirSecrets, wire};
use sealift_api::{Phase, Promotion, PromotionStatus};
use sealift_core::driver::{self, Transition, phase_name};
use sealift_core::{Next, PromotionRef, Timing};
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
        let mut writer = FileWriter {
            file: to_file.then_some(args.file.as_path()),
            promotion: &mut promotion,
        };
        loop {
            let status = writer.promotion.status.clone();
            let (status, next) =
                driver::run_until_wait(&wired.engine, &p, status, &mut writer).await?;
            let phase = driver::phase_of(status.as_ref());
            match next {
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

/// Records each step: back into the file (when writing to it), and a line on stderr for what
/// changed (the same [`Transition`] the controller turns into an Event).
struct FileWriter<'a> {
    file: Option<&'a Path>,
    promotion: &'a mut Promotion,
}

#[async_trait::async_trait]
impl driver::Record for FileWriter<'_> {
    type Error = anyhow::Error;

    async fn record(
        &mut self,
        before: Phase,
        status: &PromotionStatus,
        _took: Duration,
    ) -> Result<()> {
        self.promotion.status = Some(status.clone());
        if let Some(t) = Transition::of(before, status) {
            if t.from != t.to {
                eprintln!("sealift: {:?} → {:?}", t.from, t.to);
            }
            if !t.message.is_empty() && (t.warning || t.to == Phase::PullRequestOpen) {
                eprintln!(
                    "sealift: {} ({}): {}",
                    phase_name(t.to),
                    t.reason,
                    t.message
                );
            }
        }
        if let Some(file) = self.file {
            save(file, self.promotion)?;
        }
        Ok(())
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
