//! A whole promotion world on loopback, shared by the end-to-end tests, `make demo` and the
//! benchmarks: the real kube-apiserver (CRDs installed, a namespace of its own), registry, git
//! smart-HTTP server with a GitOps repository (`base/` + `overlays/{staging,prod}`), the GitHub
//! stand-in backed by that repository (its merges are real), a cosign publisher, the Secrets and a
//! TrustPolicy. [`World::controller`] starts the real `sealift controller` process against it.

use crate::cosign::{
    NO_CRITICAL_VULNERABILITIES, Published, Publisher, SLSA_V1, VULN, slsa_provenance,
    slsa_repository_policy, vuln_scan,
};
use crate::forge::{GithubOptions, GithubStandin};
use crate::git::commit_files;
use crate::git_server::{GitServer, ServedRepo};
use crate::process::{Server, free_port, http_status};
use crate::registry::{Credentials, Registry};
use anyhow::{Context, Result, bail};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, PostParams};
use sealift_api::{
    ForgeProvider, PolicyKind, PolicyRef, Promotion, PromotionSpec, PullRequestSpec, PushMode,
    Repository, SecretReference, TrustPolicy,
};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The source repository the provenance of trusted images names.
pub const SOURCE_REPO: &str = "https://github.com/acme/bookstore";
/// The TrustPolicy every promotion of the world refers to.
pub const POLICY: &str = "bookstore";
/// The kustomize image name the base Deployment uses.
pub const IMAGE: &str = "bookstore/catalog";

const BASE_DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: catalog
  labels: {app: catalog}
spec:
  replicas: 1
  selector:
    matchLabels: {app: catalog}
  template:
    metadata:
      labels: {app: catalog}
    spec:
      containers:
      - name: catalog
        image: bookstore/catalog
";

/// Everything a promotion touches, started and ready.
pub struct World {
    /// Admin client of the shared API server.
    pub client: kube::Client,
    /// Its kubeconfig (what the controller process uses).
    pub kubeconfig: PathBuf,
    /// This world's namespace.
    pub namespace: String,
    /// The registry (anonymous, plain HTTP).
    pub registry: Registry,
    /// The git server (basic auth).
    pub git: GitServer,
    /// The GitOps repository.
    pub repo: ServedRepo,
    /// The GitHub stand-in, backed by [`World::repo`].
    pub forge: GithubStandin,
    /// Signs and attests images the policy trusts.
    pub publisher: Publisher,
    /// Scratch space (controller caches, logs, renders).
    pub dir: tempfile::TempDir,
}

impl std::fmt::Debug for World {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("World")
            .field("namespace", &self.namespace)
            .field("repo", &self.repo.url)
            .finish_non_exhaustive()
    }
}

fn crds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crds")
}

fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..Default::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..Default::default()
    }
}

/// A kustomization for an overlay of `base/`, pinning `images` (kustomize name, published image).
pub fn overlay(images: &[(&str, &Published)]) -> String {
    let mut text = String::from(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n# The environment's overlay.\nresources:\n- ../../base\n",
    );
    if !images.is_empty() {
        text.push_str("images:\n");
        for (name, p) in images {
            text.push_str(&format!(
                "- name: {name}\n  newName: {}\n  digest: {}\n",
                p.repository, p.digest
            ));
        }
    }
    text
}

impl World {
    /// Starts every component and prepares namespace `<prefix>-…`.
    pub async fn start(prefix: &str) -> Result<World> {
        crate::install_crypto_provider();
        let cluster = crate::kube::shared_cluster().await?;
        let client = cluster.client().await?;
        crate::kube::apply_crds_from_dir(&client, &crds_dir()).await?;
        let namespace = crate::kube::test_namespace(&client, prefix).await?;
        let registry = Registry::start()?;
        let git = GitServer::start(Credentials::random("sealift"))?;
        let repo = git.create_repo("acme/gitops")?;
        commit_files(
            &repo.path,
            "main",
            &[
                ("README.md", b"# acme/gitops\n".as_slice()),
                ("base/deployment.yaml", BASE_DEPLOYMENT.as_bytes()),
                (
                    "base/kustomization.yaml",
                    b"resources:\n- deployment.yaml\n".as_slice(),
                ),
                (
                    "overlays/staging/kustomization.yaml",
                    overlay(&[]).as_bytes(),
                ),
                ("overlays/prod/kustomization.yaml", overlay(&[]).as_bytes()),
            ],
            "Initial layout",
        )?;
        let forge = GithubStandin::start(
            GithubOptions::new()
                .repository("acme", "gitops")
                .backed_by(repo.path.clone()),
        )
        .await?;
        let publisher = Publisher::new()?;
        let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
        let creds = git.credentials();
        secrets
            .create(
                &PostParams::default(),
                &secret(
                    "git-creds",
                    &[("username", &creds.username), ("password", &creds.password)],
                ),
            )
            .await?;
        secrets
            .create(
                &PostParams::default(),
                &secret("forge-token", &[("token", forge.token())]),
            )
            .await?;
        let policies: Api<TrustPolicy> = Api::namespaced(client.clone(), &namespace);
        let glob = format!("{}/**", registry.host());
        let slsa = slsa_repository_policy(SOURCE_REPO);
        let spec = publisher.policy_spec(
            &[&glob],
            &[
                (SLSA_V1, Some(&slsa)),
                (VULN, Some(NO_CRITICAL_VULNERABILITIES)),
            ],
        );
        policies
            .create(&PostParams::default(), &TrustPolicy::new(POLICY, spec))
            .await?;
        Ok(World {
            client,
            kubeconfig: cluster.kubeconfig().to_path_buf(),
            namespace,
            registry,
            git,
            repo,
            forge,
            publisher,
            dir: tempfile::tempdir()?,
        })
    }

    /// Publishes an image the policy accepts: signed by the world's publisher, with SLSA
    /// provenance from [`SOURCE_REPO`] and a vulnerability scan without critical findings.
    pub async fn publish_trusted(&self, repository: &str, content: &str) -> Result<Published> {
        self.publisher
            .publish(
                &self.registry,
                repository,
                content,
                &[
                    (SLSA_V1, slsa_provenance(SOURCE_REPO, &"c0ffee".repeat(6))),
                    (VULN, vuln_scan(0)),
                ],
            )
            .await
    }

    /// Commits `overlays/<env>/kustomization.yaml` pinning `images` on `main`.
    pub fn pin(&self, env: &str, images: &[(&str, &Published)]) -> Result<()> {
        let path = format!("overlays/{env}/kustomization.yaml");
        commit_files(
            &self.repo.path,
            "main",
            &[(&path, overlay(images).as_bytes())],
            &format!("{env}: pin images"),
        )?;
        Ok(())
    }

    /// A staging → prod Promotion of `images` (kustomize names; empty: every pinned image),
    /// through a pull request on the stand-in, or pushed directly.
    pub fn promotion(&self, name: &str, images: &[&str], direct: bool) -> Promotion {
        let mut p = Promotion::new(
            name,
            PromotionSpec {
                repository: Repository {
                    url: self.repo.url.clone(),
                    branch: "main".into(),
                    secret_ref: Some(SecretReference {
                        name: "git-creds".into(),
                    }),
                },
                from: "overlays/staging".into(),
                to: "overlays/prod".into(),
                images: images
                    .iter()
                    .map(|i| sealift_api::ImageSelector((*i).to_owned()))
                    .collect(),
                policy_ref: PolicyRef {
                    kind: PolicyKind::TrustPolicy,
                    name: POLICY.into(),
                },
                pull_request: (!direct).then(|| PullRequestSpec {
                    provider: ForgeProvider::Github,
                    api_url: Some(self.forge.api_url().to_owned()),
                    secret_ref: SecretReference {
                        name: "forge-token".into(),
                    },
                    labels: vec!["promotion".into()],
                    reviewers: vec![],
                    team_reviewers: vec![],
                    draft: false,
                }),
                push: direct.then_some(PushMode::Direct),
            },
        );
        p.metadata.namespace = Some(self.namespace.clone());
        p
    }

    /// Creates a Promotion in the world's namespace.
    pub async fn create(&self, p: &Promotion) -> Result<Promotion> {
        Ok(self.promotions().create(&PostParams::default(), p).await?)
    }

    /// The Promotions API of the world's namespace.
    pub fn promotions(&self) -> Api<Promotion> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Polls Promotion `name` until `done` holds (every 50 ms), or fails after `timeout` with the
    /// last status seen.
    pub async fn wait_for(
        &self,
        name: &str,
        timeout: Duration,
        done: impl Fn(&Promotion) -> bool,
    ) -> Result<Promotion> {
        let deadline = Instant::now() + timeout;
        loop {
            let p = self.promotions().get(name).await?;
            if done(&p) {
                return Ok(p);
            }
            if Instant::now() > deadline {
                bail!(
                    "timed out after {timeout:?} waiting for Promotion {name}; status: {}",
                    serde_json::to_string(&p.status).unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Starts `sealift controller` (the binary at `bin`) for this world's namespace.
    pub fn controller(&self, bin: &Path, options: &ControllerOptions) -> Result<Controller> {
        let port = free_port()?;
        let cache = self.dir.path().join(format!("cache-{}", options.identity));
        let log = self
            .dir
            .path()
            .join(format!("controller-{}.log", options.identity));
        let mut args: Vec<String> = vec![
            "controller".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--namespace".into(),
            self.namespace.clone(),
            "--watch-namespace".into(),
            self.namespace.clone(),
            "--identity".into(),
            options.identity.clone(),
            "--plain-http".into(),
            self.registry.host(),
            "--cache-dir".into(),
            cache.display().to_string(),
            "--poll-interval".into(),
            options.poll_interval_secs.to_string(),
            "--lease-duration".into(),
            options.lease_duration_secs.to_string(),
        ];
        if !options.leader_election {
            args.push("--no-leader-election".into());
        }
        let kubeconfig = self.kubeconfig.display().to_string();
        let abort = options.abort_before_persist.to_string();
        // `SEALIFT_CONTROLLER_LOG` overrides the controller's `RUST_LOG` (debugging a test).
        let log_filter = std::env::var("SEALIFT_CONTROLLER_LOG").unwrap_or_else(|_| "info".into());
        let mut env: Vec<(&str, &str)> = vec![
            ("KUBECONFIG", kubeconfig.as_str()),
            ("RUST_LOG", log_filter.as_str()),
            // As manifests/deployment.yaml runs it.
            ("MALLOC_ARENA_MAX", "2"),
        ];
        if options.abort_before_persist > 0 {
            env.push(("SEALIFT_TEST_ABORT_BEFORE_PERSIST", abort.as_str()));
        }
        let server = Server::spawn_with_env("sealift controller", bin, &args, &env, &log)?;
        Ok(Controller { server, port, log })
    }
}

/// How [`World::controller`] starts the controller.
#[derive(Clone, Debug)]
pub struct ControllerOptions {
    /// Lease holder identity (also names its cache and log).
    pub identity: String,
    /// Leader election on (the default, as deployed).
    pub leader_election: bool,
    /// Lease duration in seconds.
    pub lease_duration_secs: u64,
    /// Pull-request polling interval in seconds.
    pub poll_interval_secs: u64,
    /// Test-only fault injection: abort before persisting the Nth step (0: off).
    pub abort_before_persist: u64,
}

impl Default for ControllerOptions {
    fn default() -> Self {
        ControllerOptions {
            identity: "sealift-0".into(),
            leader_election: true,
            lease_duration_secs: 4,
            poll_interval_secs: 1,
            abort_before_persist: 0,
        }
    }
}

/// A running `sealift controller`; killed when dropped.
pub struct Controller {
    server: Server,
    port: u16,
    log: PathBuf,
}

impl std::fmt::Debug for Controller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("port", &self.port)
            .finish()
    }
}

impl Controller {
    /// The controller process id.
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }

    /// Whether it still runs.
    pub fn is_running(&self) -> bool {
        self.server.is_running()
    }

    /// The metrics/probe port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The last lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        crate::process::log_tail(&self.log, lines)
    }

    /// Waits until `/readyz` answers 200.
    pub fn wait_ready(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if http_status(self.port, "/readyz") == Some(200) {
                return Ok(());
            }
            if !self.server.is_running() {
                bail!("the controller exited:\n{}", self.log_tail(40));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        bail!(
            "the controller was not ready in {timeout:?}:\n{}",
            self.log_tail(40)
        )
    }

    /// `GET /metrics`.
    pub fn metrics(&self) -> Result<String> {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", self.port))
            .context("connecting to the controller's metrics port")?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    }

    /// SIGKILL: no shutdown, no Lease release, as a node failure would.
    pub fn kill(&mut self) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &self.server.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.server.is_running() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.server.stop();
    }

    /// SIGTERM, then waits for a graceful exit.
    pub fn terminate(&mut self, timeout: Duration) -> Result<()> {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &self.server.pid().to_string()])
            .status();
        let deadline = Instant::now() + timeout;
        while self.server.is_running() {
            if Instant::now() > deadline {
                bail!("the controller did not stop on SIGTERM in {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Waits for the process to exit by itself (e.g. after an injected abort).
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while self.server.is_running() {
            if Instant::now() > deadline {
                bail!(
                    "the controller still runs after {timeout:?}:\n{}",
                    self.log_tail(30)
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.server.stop();
        Ok(())
    }
}

/// Clones `main` of the bare repository into `dest` and renders `overlay` with kustomize.
pub fn render(repo: &Path, overlay: &str, dest: &Path) -> Result<String> {
    let url = format!("file://{}", repo.display());
    git2::Repository::clone(&url, dest).with_context(|| format!("cloning {url}"))?;
    let kustomize = crate::tools::kustomize()?;
    let out = std::process::Command::new(kustomize)
        .arg("build")
        .arg(dest.join(overlay))
        .output()?;
    if !out.status.success() {
        bail!(
            "kustomize build {overlay}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8(out.stdout)?)
}
