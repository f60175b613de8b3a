//! The container image `make image` builds, end to end: assembled by the same script and tool
//! (`scripts/build-image.sh` → `sealift-image`) from the debug binary, twice, to the same digest;
//! pushed to the rig's registry with skopeo, pulled back and unpacked with umoci; run from its
//! root filesystem mounted read-only, as 65532:65532 (`sealift --version`, then `sealift
//! controller` against the rig's API server until `/readyz`); then signed and attested with the
//! rig's cosign publisher (SLSA provenance + the SPDX SBOM the tool writes) and verified by the
//! image's own `sealift verify`, which refuses an unsigned copy of the same digest.
//!
//! Needs root (unshare, mount, chroot), the rig (`make rig`: skopeo, umoci, the registry, the
//! API server) and Debian's package mirror or the cached .debs. The debug `sealift` binary is
//! the one beside this test binary (`cargo test --workspace` builds it; `SEALIFT_BIN` overrides).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sealift_api::TrustPolicy;
use sealift_testrig::cosign::{Publisher, SLSA_V1, SPDX, slsa_provenance, slsa_repository_policy};
use sealift_testrig::kube::{apply_crds_from_dir, shared_cluster, test_namespace};
use sealift_testrig::process::{Server, free_port, http_status};
use sealift_testrig::registry::Registry;
use sealift_testrig::tools::system_binary;
use serde_json::Value;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const REPO_ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
const TOOL: &str = env!("CARGO_BIN_EXE_sealift-image");
const VERSION: &str = env!("CARGO_PKG_VERSION");
const SOURCE: &str = "https://github.com/sealift-dev/sealift";
const NAME: &str = "ghcr.io/sealift-dev/sealift";

/// Mounts the root filesystem read-only over itself and a writable scratch directory on its
/// `/tmp` (as the Deployment's emptyDir), in a mount namespace of its own, then runs the rest.
const MOUNT_AND_RUN: &str = r#"set -e
root=$1; scratch=$2; shift 2
mount --bind "$root" "$root"
mount -o remount,bind,ro "$root"
mount --bind "$scratch" "$root/tmp"
exec "$@"
"#;

/// The debug `sealift` beside this test binary (`target/debug/deps/image-…` → `target/debug`).
fn sealift_debug_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("SEALIFT_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("sealift");
    assert!(
        bin.is_file(),
        "{} is missing: build it first (`cargo build -p sealift --bin sealift`; \
         `cargo test --workspace` does) or point SEALIFT_BIN at a sealift binary",
        bin.display()
    );
    bin
}

fn ok(what: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn run(program: &Path, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", program.display()))
}

/// `make image`'s code path with the debug binary: returns the manifest digest it prints.
fn build_image(binary: &Path, dir: &Path) -> String {
    let out = Command::new("bash")
        .arg(Path::new(REPO_ROOT).join("scripts/build-image.sh"))
        .arg("--binary")
        .arg(binary)
        .arg("--tool")
        .arg(TOOL)
        .arg("--out")
        .arg(dir.join("sealift-oci"))
        .arg("--sbom")
        .arg(dir.join("sealift.spdx.json"))
        .output()
        .unwrap();
    let stdout = ok("scripts/build-image.sh", &out);
    let digest = stdout.lines().last().unwrap_or_default().to_owned();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{stdout}"
    );
    digest
}

fn json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn blob(layout: &Path, digest: &str) -> Value {
    json(&layout.join("blobs/sha256").join(&digest["sha256:".len()..]))
}

/// Every path under `root` (relative), with its metadata.
fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, std::fs::Metadata)>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let is_dir = meta.is_dir();
        out.push((rel, meta));
        if is_dir {
            walk(root, &path, out);
        }
    }
}

/// The image's process, from the runtime config umoci derives from the image config: its user,
/// entrypoint and environment.
struct Process {
    user: String,
    args: Vec<String>,
    env: Vec<String>,
}

/// The command that runs `args` after the entrypoint in the unpacked image as a container would:
/// own mount namespace, read-only root, `scratch` on /tmp, the image's user and environment
/// (plus `extra_env`) and nothing of the host's but the rig's owner marker.
fn in_image(
    rootfs: &Path,
    scratch: &Path,
    process: &Process,
    extra_env: &[String],
    args: &[String],
) -> (PathBuf, Vec<String>) {
    let mut argv: Vec<String> = vec![
        "-m".into(),
        "sh".into(),
        "-c".into(),
        MOUNT_AND_RUN.into(),
        "sealift-image-test".into(),
        rootfs.display().to_string(),
        scratch.display().to_string(),
        system_binary("env").unwrap().display().to_string(),
        "-i".into(),
        format!(
            "{}={}",
            sealift_testrig::process::OWNER_ENV,
            std::process::id()
        ),
    ];
    argv.extend(process.env.iter().cloned());
    argv.extend(extra_env.iter().cloned());
    argv.push(system_binary("chroot").unwrap().display().to_string());
    argv.push(format!("--userspec={}", process.user));
    argv.push(rootfs.display().to_string());
    argv.extend(process.args.iter().cloned());
    argv.extend(args.iter().cloned());
    (system_binary("unshare").unwrap(), argv)
}

fn run_in_image(rootfs: &Path, scratch: &Path, process: &Process, args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let (program, argv) = in_image(rootfs, scratch, process, &[], &args);
    Command::new(program).args(argv).output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_is_reproducible_runs_read_only_as_nonroot_and_verifies_itself() {
    let started = Instant::now();
    assert!(
        is_root(),
        "this test needs root (unshare -m, mount --bind, chroot)"
    );
    let binary = sealift_debug_binary();
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));

    // Assemble twice, in parallel with starting the rig.
    let builds = {
        let (binary, a, b) = (binary.clone(), a.clone(), b.clone());
        let bin2 = binary.clone();
        let first = std::thread::spawn(move || build_image(&binary, &a));
        let second = std::thread::spawn(move || build_image(&bin2, &b));
        (first, second)
    };
    sealift_testrig::install_crypto_provider();
    let cluster = shared_cluster().await.unwrap();
    let client = cluster.client().await.unwrap();
    apply_crds_from_dir(&client, &Path::new(REPO_ROOT).join("crds"))
        .await
        .unwrap();
    let namespace = test_namespace(&client, "image").await.unwrap();
    let registry = Registry::start().unwrap();
    let digest = builds.0.join().unwrap();
    let again = builds.1.join().unwrap();
    assert_eq!(digest, again, "the same inputs gave two different images");
    for f in ["sealift-oci/index.json", "sealift.spdx.json"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f} differs between two builds"
        );
    }
    eprintln!("assembled twice: {digest} ({:?})", started.elapsed());

    // The layout: named as manifests/ name it, labelled with its source, revision, version and
    // the Debian packages in it.
    let layout = a.join("sealift-oci");
    let index = json(&layout.join("index.json"));
    let entry = &index["manifests"][0];
    assert_eq!(index["manifests"].as_array().unwrap().len(), 1);
    assert_eq!(entry["digest"], digest.as_str());
    assert_eq!(
        entry["annotations"]["org.opencontainers.image.ref.name"],
        format!("{NAME}:{VERSION}")
    );
    let manifest = blob(&layout, &digest);
    let config = blob(&layout, manifest["config"]["digest"].as_str().unwrap());
    let revision = ok(
        "git rev-parse HEAD",
        &run(Path::new("git"), &["-C", REPO_ROOT, "rev-parse", "HEAD"]),
    )
    .trim()
    .to_owned();
    for labels in [&manifest["annotations"], &config["config"]["Labels"]] {
        assert_eq!(labels["org.opencontainers.image.source"], SOURCE);
        assert_eq!(
            labels["org.opencontainers.image.revision"],
            revision.as_str()
        );
        assert_eq!(labels["org.opencontainers.image.version"], VERSION);
        let debs = labels["dev.sealift.image.debian-packages"]
            .as_str()
            .unwrap();
        for p in [
            "ca-certificates=",
            "libc6=",
            "libgcc-s1=",
            "libssl3=",
            "zlib1g=",
        ] {
            assert!(debs.contains(p), "{debs}");
        }
    }
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/usr/bin/sealift"])
    );
    let epoch = ok(
        "git log",
        &run(
            Path::new("git"),
            &["-C", REPO_ROOT, "log", "-1", "--format=%cI", "HEAD"],
        ),
    );
    assert_eq!(
        config["created"].as_str().unwrap()[..4],
        epoch.trim()[..4],
        "created comes from the commit time"
    );

    // Push, check the registry holds exactly these bytes, pull back by digest and unpack.
    let skopeo = system_binary("skopeo").unwrap();
    let host = registry.host();
    let pushed = format!("docker://{host}/sealift:{VERSION}");
    ok(
        "skopeo copy (push)",
        &run(
            &skopeo,
            &[
                "copy",
                "--quiet",
                "--dest-tls-verify=false",
                &format!("oci:{}", layout.display()),
                &pushed,
            ],
        ),
    );
    let raw = run(
        &skopeo,
        &["inspect", "--raw", "--tls-verify=false", &pushed],
    );
    assert!(raw.status.success(), "{raw:?}");
    assert_eq!(
        sealift_testrig::image::sha256_digest(&raw.stdout),
        digest,
        "the registry serves another manifest"
    );
    let pulled = dir.path().join("pulled");
    ok(
        "skopeo copy (pull)",
        &run(
            &skopeo,
            &[
                "copy",
                "--quiet",
                "--src-tls-verify=false",
                &format!("docker://{host}/sealift@{digest}"),
                &format!("oci:{}:pulled", pulled.display()),
            ],
        ),
    );
    let bundle = dir.path().join("bundle");
    ok(
        "umoci unpack",
        &run(
            &system_binary("umoci").unwrap(),
            &[
                "unpack",
                "--image",
                &format!("{}:pulled", pulled.display()),
                &bundle.display().to_string(),
            ],
        ),
    );
    let rootfs = bundle.join("rootfs");
    let runtime = json(&bundle.join("config.json"));
    let process = Process {
        user: format!(
            "{}:{}",
            runtime["process"]["user"]["uid"], runtime["process"]["user"]["gid"]
        ),
        args: serde_json::from_value(runtime["process"]["args"].clone()).unwrap(),
        env: serde_json::from_value(runtime["process"]["env"].clone()).unwrap(),
    };
    assert_eq!(process.user, "65532:65532");
    assert_eq!(process.args, ["/usr/bin/sealift"]);

    // Only what the binary needs: no shell, no executable but sealift and shared objects, no
    // documentation; the binary root-owned 0755; nonroot in passwd; a full CA bundle.
    let mut files = Vec::new();
    walk(&rootfs, &rootfs, &mut files);
    for (path, meta) in &files {
        assert!(
            !path.starts_with("usr/share") && !path.starts_with("bin") && !path.contains("sbin"),
            "{path} should not be in the image"
        );
        if meta.is_file() && meta.permissions().mode() & 0o111 != 0 {
            assert!(
                path == "usr/bin/sealift" || path.contains(".so"),
                "unexpected executable {path}"
            );
        }
    }
    let usr_bin: Vec<_> = files
        .iter()
        .filter(|(p, _)| p.starts_with("usr/bin/"))
        .map(|(p, _)| p.as_str())
        .collect();
    assert_eq!(usr_bin, ["usr/bin/sealift"]);
    let sealift = std::fs::metadata(rootfs.join("usr/bin/sealift")).unwrap();
    assert_eq!(
        (sealift.uid(), sealift.gid(), sealift.mode() & 0o7777),
        (0, 0, 0o755)
    );
    assert!(
        std::fs::read_to_string(rootfs.join("etc/passwd"))
            .unwrap()
            .contains("nonroot:x:65532:65532:")
    );
    let bundle_pem =
        std::fs::read_to_string(rootfs.join("etc/ssl/certs/ca-certificates.crt")).unwrap();
    assert!(bundle_pem.matches("-----BEGIN CERTIFICATE-----").count() > 100);
    assert!(!rootfs.join("bin/sh").exists() && !rootfs.join("usr/bin/sh").exists());

    // Run it as the image says: read-only root, nonroot, the image's environment only.
    let scratch = dir.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let version = run_in_image(&rootfs, &scratch, &process, &["--version"]);
    assert_eq!(
        ok("sealift --version in the image", &version).trim(),
        format!("sealift {VERSION}")
    );
    let write = run_in_image(
        &rootfs,
        &scratch,
        &process,
        &["crds", "--out-dir", "/usr/crds"],
    );
    assert!(
        !write.status.success()
            && String::from_utf8_lossy(&write.stderr).contains("Read-only file system"),
        "the root filesystem is writable: {write:?}"
    );

    // The controller, from the image, against the rig's API server, until ready.
    std::os::unix::fs::chown(&scratch, Some(65532), Some(65532)).unwrap();
    std::fs::copy(cluster.kubeconfig(), scratch.join("kubeconfig")).unwrap();
    let port = free_port().unwrap();
    let controller_args: Vec<String> = [
        "controller",
        "--listen",
        &format!("127.0.0.1:{port}"),
        "--namespace",
        &namespace,
        "--watch-namespace",
        &namespace,
        "--identity",
        "image-0",
        "--lease-duration",
        "4",
        "--plain-http",
        &host,
        "--cache-dir",
        "/tmp/cache",
    ]
    .map(str::to_owned)
    .to_vec();
    let env = [
        "KUBECONFIG=/tmp/kubeconfig".to_owned(),
        "RUST_LOG=info".to_owned(),
        "MALLOC_ARENA_MAX=2".to_owned(),
    ];
    let (program, argv) = in_image(&rootfs, &scratch, &process, &env, &controller_args);
    let mut controller = Server::spawn_with_env(
        "sealift controller (image)",
        &program,
        &argv,
        &[],
        &dir.path().join("controller.log"),
    )
    .unwrap();
    controller
        .wait_until("ready", Duration::from_secs(60), || {
            http_status(port, "/readyz") == Some(200)
        })
        .unwrap();
    let pid = controller.pid();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    assert!(
        status.contains("\nUid:\t65532\t65532\t65532\t65532\n")
            && status.contains("\nGid:\t65532\t65532\t65532\t65532\n"),
        "{status}"
    );
    assert!(status.starts_with("Name:\tsealift\n"), "{status}");
    let mountinfo = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap();
    let root_mount = mountinfo
        .lines()
        .rfind(|l| l.split(' ').nth(4) == Some("/"))
        .unwrap_or_else(|| panic!("no / in\n{mountinfo}"));
    assert!(
        root_mount.split(' ').nth(5).unwrap().starts_with("ro"),
        "{root_mount}"
    );
    controller.stop();
    assert!(!controller.is_running());

    // Dogfooding: sign and attest the pushed digest as a release would, verify it with the
    // image's own `sealift verify`; an unsigned copy of the same digest is refused.
    let publisher = Publisher::new().unwrap();
    let sbom = json(&a.join("sealift.spdx.json"));
    assert_eq!(sbom["spdxVersion"], "SPDX-2.3");
    publisher
        .sign_digest(&registry, "sealift", &digest)
        .await
        .unwrap();
    publisher
        .attest_digest(
            &registry,
            "sealift",
            &digest,
            &[(SLSA_V1, slsa_provenance(SOURCE, &revision)), (SPDX, sbom)],
        )
        .await
        .unwrap();
    let spec = publisher.policy_spec(
        &[&format!("{host}/**")],
        &[
            (SLSA_V1, Some(&slsa_repository_policy(SOURCE))),
            (
                SPDX,
                Some(r#"predicate.packages.exists(p, p.name == "libssl3")"#),
            ),
        ],
    );
    let policy = TrustPolicy::new("sealift-release", spec);
    // JSON is YAML: the policy file as `sealift verify --policy` reads it.
    std::fs::write(
        scratch.join("policy.yaml"),
        serde_json::to_vec_pretty(&policy).unwrap(),
    )
    .unwrap();
    let verify = |image: &str| {
        run_in_image(
            &rootfs,
            &scratch,
            &process,
            &[
                "verify",
                image,
                "--policy",
                "/tmp/policy.yaml",
                "--plain-http",
                &host,
            ],
        )
    };
    let verified = verify(&format!("{host}/sealift@{digest}"));
    let evidence = ok("sealift verify (signed)", &verified);
    assert!(evidence.contains(&digest), "{evidence}");
    assert!(
        evidence.contains(SPDX) && evidence.contains(SLSA_V1),
        "{evidence}"
    );

    ok(
        "skopeo copy (unsigned copy)",
        &run(
            &skopeo,
            &[
                "copy",
                "--quiet",
                "--src-tls-verify=false",
                "--dest-tls-verify=false",
                &format!("docker://{host}/sealift@{digest}"),
                &format!("docker://{host}/sealift-unsigned:{VERSION}"),
            ],
        ),
    );
    let refused = verify(&format!("{host}/sealift-unsigned@{digest}"));
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("rejected (SignatureMissing)"),
        "{refused:?}"
    );
    eprintln!(
        "unsigned copy: {}",
        String::from_utf8_lossy(&refused.stderr).trim()
    );
    eprintln!("image test done in {:?}", started.elapsed());
}

/// The release policy docs/install.md shows compiles with Sealift's verifier and applies to the
/// image `make image` names, and to nothing else.
#[test]
fn the_release_policy_in_install_md_compiles_and_applies_to_the_image() {
    use sealift_verify::{CompiledPolicy, ImageRef, PolicyDocument, TrustedRoot};
    let doc = std::fs::read_to_string(Path::new(REPO_ROOT).join("docs/install.md")).unwrap();
    let at = doc
        .find("<!-- tested: release policy ")
        .expect("docs/install.md has no release policy snippet");
    let rest = &doc[at..];
    let start = rest.find("```yaml\n").unwrap() + "```yaml\n".len();
    let end = start + rest[start..].find("```").unwrap();
    let docs = PolicyDocument::parse_all(&rest[start..end]).unwrap();
    assert_eq!(docs.len(), 1);
    // The public-good Sigstore trust root stands in for `--trusted-root`.
    let root = std::fs::read(
        Path::new(REPO_ROOT)
            .join("crates/sealift-verify/tests/fixtures/sigstore-rs/sigstore_trusted_root.json"),
    )
    .unwrap();
    let root = std::sync::Arc::new(TrustedRoot::from_json(&root).unwrap());
    let policy =
        CompiledPolicy::from_document(&docs[0], &std::collections::BTreeMap::new(), Some(root))
            .unwrap();
    assert!(policy.requires_attestations());
    let digest = format!("sha256:{}", "a".repeat(64));
    let image = |name: &str| ImageRef::parse(&format!("{name}@{digest}")).unwrap();
    assert!(policy.applies_to(&image(NAME)));
    assert!(!policy.applies_to(&image("ghcr.io/sealift-dev/sealift-evil")));
    assert!(!policy.applies_to(&image("ghcr.io/sealift-dev/sealift/other")));
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
}
