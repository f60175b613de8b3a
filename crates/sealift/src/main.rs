//! `sealift`: the command-line front end. Thin by design: every subcommand parses its arguments
//! and calls a library crate.

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
    }
}
