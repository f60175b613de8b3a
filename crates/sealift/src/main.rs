//! `sealift`: the command-line front end. Thin by design: every subcommand parses its arguments
//! and calls a library crate.

mod common;
mod controller;
mod logging;
mod promote;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// Sealift promotes container images between GitOps environments only after proving they are
/// trustworthy: it verifies the digest's cosign signature and attestations against a trust policy,
/// commits the digest to the next kustomize overlay and opens a pull request with the evidence.
#[derive(Debug, Parser)]
#[command(name = "sealift", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print Sealift's CustomResourceDefinitions (Promotion, TrustPolicy, ClusterTrustPolicy).
    ///
    /// With no options, prints one multi-document YAML stream for `kubectl apply -f -`.
    /// With `--out-dir`, writes one file per CRD (what `make crds` commits under crds/).
    /// With `--check DIR`, exits 1 if the files in DIR differ from the types in this binary.
    Crds {
        /// Write `<plural>.sealift.dev.yaml` files into this directory instead of printing.
        #[arg(long, value_name = "DIR", conflicts_with = "check")]
        out_dir: Option<PathBuf>,
        /// Compare the files in this directory with the generated CRDs; exit 1 on any drift.
        #[arg(long, value_name = "DIR")]
        check: Option<PathBuf>,
    },
    /// Verify an image digest's cosign signatures and attestations against trust policies.
    ///
    /// Prints the evidence (YAML, or JSON with `-o json`). Exit code: 0 verified, 1 rejected
    /// (the artifact failed the policy, or no policy matches it), 2 error.
    Verify(VerifyArgs),
    /// Promote without a cluster: the controller's engine on a Promotion file, for a CI step.
    ///
    /// Resolves the digests pinned in `spec.from`, verifies them against the TrustPolicy that
    /// `spec.policyRef` names (from `--policy` files), commits them into `spec.to`, pushes and
    /// opens the pull request with the evidence (or pushes to the base with `push: direct`).
    /// The state is the file's `status`, written back after every step: a killed run resumes
    /// where it stopped, without a second commit or pull request.
    ///
    /// Exit code: 0 promoted (pull request open, merged, or nothing to do), 1 rejected (an
    /// artifact or the request failed policy: fix the artifact, not the pipeline), 2 failed
    /// (registry, git or forge unreachable after retries, or unusable input), 3 the pull
    /// request was closed without merging (with `--wait`).
    ///
    /// Example:
    ///   sealift promote -f promotion.yaml --policy trust.yaml --secrets-dir ./secrets
    Promote(promote::PromoteArgs),
    /// Run the Kubernetes controller (what the Deployment in manifests/ runs).
    ///
    /// Watches Promotions in every namespace; with leader election (a Lease in --namespace) only
    /// one replica acts. Serves /metrics, /livez and /readyz on --listen. Credentials come from
    /// the in-cluster ServiceAccount or KUBECONFIG. SIGTERM stops it gracefully.
    Controller(controller::ControllerArgs),
}

#[derive(Debug, clap::Args)]
struct VerifyArgs {
    /// `registry/repository@sha256:<hex>` (a tag alone is refused: only digests are verified).
    image: String,
    /// A file of TrustPolicy / ClusterTrustPolicy documents; every one whose globs match applies.
    #[arg(long, value_name = "FILE")]
    policy: PathBuf,
    /// Secrets for `secretRef`s, one folder per Secret: `DIR/<name>/<key>`.
    #[arg(long, value_name = "DIR")]
    secrets_dir: Option<PathBuf>,
    /// Default Sigstore `trusted_root.json` (keyless without `trustRoot`, Rekor keys for keys).
    #[arg(long, value_name = "FILE")]
    trusted_root: Option<PathBuf>,
    /// Talk plain HTTP to these registries (`host:port`, repeatable), e.g. a local test registry.
    #[arg(long = "plain-http", value_name = "HOST")]
    plain_http: Vec<String>,
    /// Registry user; the password is read from `SEALIFT_REGISTRY_PASSWORD`.
    #[arg(long, requires = "registry")]
    username: Option<String>,
    /// The registry `host[:port]` the credentials are for.
    #[arg(long)]
    registry: Option<String>,
    /// Also look for Sigstore bundles through the OCI referrers API.
    #[arg(long)]
    referrers: bool,
    /// Output format of the evidence.
    #[arg(short, long, value_enum, default_value = "yaml")]
    output: OutputFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum OutputFormat {
    Yaml,
    Json,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sealift: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Crds {
            out_dir: None,
            check: None,
        } => {
            print!("{}", sealift_api::crd::crds_yaml()?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Crds {
            out_dir: Some(dir), ..
        } => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for file in sealift_api::crd::crd_files()? {
                let path = dir.join(&file.file_name);
                std::fs::write(&path, &file.yaml)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!("wrote {}", path.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Crds {
            check: Some(dir), ..
        } => {
            let mut drift = Vec::new();
            for file in sealift_api::crd::crd_files()? {
                let path = dir.join(&file.file_name);
                match std::fs::read_to_string(&path) {
                    Ok(text) if text == file.yaml => {}
                    Ok(_) => drift.push(format!("{} differs", path.display())),
                    Err(_) => drift.push(format!("{} is missing", path.display())),
                }
            }
            if drift.is_empty() {
                return Ok(ExitCode::SUCCESS);
            }
            for d in &drift {
                eprintln!("sealift: {d}");
            }
            bail!("CRDs in {} are stale: run `make crds`", dir.display())
        }
        Command::Verify(args) => verify(args),
        Command::Promote(args) => {
            logging::init(false);
            promote::promote(args)
        }
        Command::Controller(args) => controller::controller(args),
    }
}

fn verify(args: VerifyArgs) -> Result<ExitCode> {
    use sealift_verify::{OneShot, PlainHttp, RegistryCredentials};
    let mut options = OneShot {
        policy_text: std::fs::read_to_string(&args.policy)
            .with_context(|| format!("reading {}", args.policy.display()))?,
        secrets_dir: args.secrets_dir,
        trusted_root: match &args.trusted_root {
            Some(p) => Some(std::fs::read(p).with_context(|| format!("reading {}", p.display()))?),
            None => None,
        },
        ..OneShot::default()
    };
    options.config.referrers = args.referrers;
    if !args.plain_http.is_empty() {
        options.config.registry.plain_http = PlainHttp::Hosts(args.plain_http);
    }
    if let (Some(username), Some(registry)) = (args.username, args.registry) {
        let password = std::env::var("SEALIFT_REGISTRY_PASSWORD")
            .context("--username needs the password in SEALIFT_REGISTRY_PASSWORD")?;
        let credentials = RegistryCredentials { username, password };
        options
            .config
            .registry
            .credentials
            .insert(registry, credentials);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match runtime.block_on(sealift_verify::verify_once(&args.image, options)) {
        Ok(evidence) => {
            match args.output {
                OutputFormat::Yaml => print!("{}", serde_saphyr::to_string(&evidence)?),
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&evidence)?),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.is_rejection() => {
            eprintln!("sealift: rejected ({}): {e}", e.category());
            Ok(ExitCode::from(1))
        }
        Err(e) => bail!("{} ({})", e, e.category()),
    }
}
