//! `sealift-image`: assembles Sealift's container image as an OCI image layout, without a Docker
//! daemon. `scripts/build-image.sh` (`make image`) downloads and extracts the Debian packages and
//! runs this with the release binary; the image test runs the same script with the debug binary.
//!
//! The image holds the `sealift` binary (`/usr/bin/sealift`, root-owned 0755), the dynamic loader
//! and the shared libraries it links (read from its ELF headers, taken from the extracted
//! packages), Debian's ld.so configuration, a CA bundle built from ca-certificates' Mozilla
//! certificates, `/etc/passwd` and `/etc/group` with `nonroot` (65532), `/tmp` and
//! `/home/nonroot`. It runs as `65532:65532` with entrypoint `/usr/bin/sealift`.
//!
//! Reproducible: the same binary, packages, revision and `SOURCE_DATE_EPOCH` give the same bytes
//! (sorted tar entries, one mtime, fixed modes and owners, gzip without timestamp or name, JSON
//! written from structs in a fixed field order). Prints the manifest digest on stdout.

mod elf;
mod layout;
mod rootfs;
mod sbom;

use anyhow::{Context, Result, bail};
use clap::Parser;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where the source lives (`org.opencontainers.image.source`).
const SOURCE: &str = "https://github.com/sealift-dev/sealift";

/// Assembles the Sealift image as an OCI image layout (see scripts/build-image.sh).
#[derive(Debug, Parser)]
#[command(name = "sealift-image", version)]
struct Args {
    /// The `sealift` binary to put in the image (`/usr/bin/sealift`).
    #[arg(long, value_name = "FILE")]
    binary: PathBuf,
    /// The Debian packages, extracted (`dpkg -x`) into this one directory.
    #[arg(long, value_name = "DIR")]
    root: PathBuf,
    /// The packages extracted under --root: `name<TAB>version<TAB>arch<TAB>source<TAB>sha256`.
    #[arg(long, value_name = "FILE")]
    packages: PathBuf,
    /// The git commit the binary was built from (`org.opencontainers.image.revision`).
    #[arg(long)]
    revision: String,
    /// Every timestamp in the image (tar mtimes, `created`): the commit time, for reproducibility.
    #[arg(long, env = "SOURCE_DATE_EPOCH", value_name = "SECONDS")]
    source_date_epoch: i64,
    /// The Debian release the packages come from (`debian-12`).
    #[arg(long, default_value = "debian-12")]
    distro: String,
    /// The image name (the tag is --version).
    #[arg(long, default_value = "ghcr.io/sealift-dev/sealift")]
    name: String,
    /// The image version and tag (`org.opencontainers.image.version`).
    #[arg(long = "image-version", default_value = env!("CARGO_PKG_VERSION"))]
    image_version: String,
    /// The OCI image layout directory to write (replaced if it already holds a layout).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Also write the SPDX 2.3 JSON SBOM of the image here.
    #[arg(long, value_name = "FILE")]
    sbom: Option<PathBuf>,
}

fn main() -> std::process::ExitCode {
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sealift-image: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> Result<()> {
    if args.source_date_epoch < 0 {
        bail!("--source-date-epoch must not be negative");
    }
    let text = std::fs::read_to_string(&args.packages)
        .with_context(|| format!("reading {}", args.packages.display()))?;
    let mut packages = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        packages.push(sbom::Package::parse_line(line).with_context(|| {
            format!(
                "{}:{}: expected name, version, arch, source, sha256 separated by tabs",
                args.packages.display(),
                i + 1
            )
        })?);
    }
    packages.sort_by(|a, b| a.name.cmp(&b.name));

    let binary = std::fs::read(&args.binary)
        .with_context(|| format!("reading {}", args.binary.display()))?;
    let architecture = elf::oci_architecture(elf::parse(&binary)?.machine)?;
    for p in &packages {
        if p.architecture != "all" && p.architecture != architecture {
            bail!(
                "package {} is for {}, the binary for {architecture}",
                p.name,
                p.architecture
            );
        }
    }
    let (tree, contents) = rootfs::assemble(&binary, &args.root)?;

    let created = layout::rfc3339(args.source_date_epoch);
    let debs = packages
        .iter()
        .map(|p| format!("{}={}", p.name, p.version))
        .collect::<Vec<_>>()
        .join(",");
    let labels: BTreeMap<String, String> = [
        ("org.opencontainers.image.created", created.clone()),
        (
            "org.opencontainers.image.description",
            "Sealift: verified image promotion between GitOps environments".to_owned(),
        ),
        ("org.opencontainers.image.licenses", "Apache-2.0".to_owned()),
        ("org.opencontainers.image.revision", args.revision.clone()),
        ("org.opencontainers.image.source", SOURCE.to_owned()),
        ("org.opencontainers.image.title", "sealift".to_owned()),
        ("org.opencontainers.image.url", SOURCE.to_owned()),
        (
            "org.opencontainers.image.version",
            args.image_version.clone(),
        ),
        ("dev.sealift.image.debian", args.distro.clone()),
        ("dev.sealift.image.debian-packages", debs),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    let env = [
        "PATH=/usr/bin".to_owned(),
        format!("SSL_CERT_FILE=/{}", rootfs::CA_BUNDLE),
    ];
    let ref_name = format!("{}:{}", args.name, args.image_version);
    let image = layout::Image {
        ref_name: &ref_name,
        architecture,
        created: &created,
        user: format!("{0}:{0}", rootfs::NONROOT),
        entrypoint: vec![format!("/{}", rootfs::BINARY)],
        env: &env,
        labels: &labels,
    };
    let mtime = u64::try_from(args.source_date_epoch)?;
    let layer = layout::layer(&tree, mtime)?;
    let written = layout::write(&args.out, &image, &layer)?;

    if let Some(path) = &args.sbom {
        let subject = sbom::Subject {
            image: &args.name,
            version: &args.image_version,
            digest: &written.manifest_digest,
            revision: &args.revision,
            source: SOURCE,
            created: &created,
            distro: &args.distro,
        };
        std::fs::write(path, sbom::spdx(&subject, &packages)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }

    eprintln!(
        "sealift-image: {ref_name} ({architecture}) in {}: {} entries, loader /{}, {} libraries ({}), \
         {} CA certificates; {:.1} MiB of files, {:.1} MiB compressed",
        args.out.display(),
        tree.entries().len(),
        contents.interpreter,
        contents.libraries.len(),
        contents
            .libraries
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(" "),
        contents.certificates,
        tree.file_bytes() as f64 / 1048576.0,
        written.layer_size as f64 / 1048576.0,
    );
    eprintln!(
        "sealift-image: config {}, layer diff_id {} ({} bytes uncompressed), manifest {} bytes",
        written.config_digest, layer.diff_id, layer.tar_size, written.manifest_size
    );
    println!("{}", written.manifest_digest);
    Ok(())
}
