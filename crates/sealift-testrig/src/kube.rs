//! etcd and a real kube-apiserver v1.20.2 on loopback, with a kubeconfig kube-rs can use.
//!
//! One etcd serves any number of API servers through `--etcd-prefix`. A test binary normally shares
//! one cluster ([`shared_cluster`]) and gives every test its own namespace ([`test_namespace`]).

use crate::process::{Server, free_port, http_status, with_port_retries};
use crate::tools::{kube_apiserver, run, system_binary};
use anyhow::{Context, Result, anyhow, bail};
use base64::Engine;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ObjectMeta, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// A running etcd.
#[derive(Debug)]
pub struct Etcd {
    server: Server,
    client_port: u16,
    _dir: TempDir,
}

impl Etcd {
    /// Starts etcd with client, peer and metrics URLs all on loopback ports (etcd binds its
    /// defaults for any URL left unset).
    pub fn start() -> Result<Etcd> {
        let bin = system_binary("etcd")?;
        with_port_retries(|| {
            let dir = scratch_dir("sealift-etcd-")?;
            let (client, peer, metrics) = (free_port()?, free_port()?, free_port()?);
            let args: Vec<String> = [
                "--name=sealift-test".to_owned(),
                format!("--data-dir={}", dir.path().join("data").display()),
                format!("--listen-client-urls=http://127.0.0.1:{client}"),
                format!("--advertise-client-urls=http://127.0.0.1:{client}"),
                format!("--listen-peer-urls=http://127.0.0.1:{peer}"),
                format!("--initial-advertise-peer-urls=http://127.0.0.1:{peer}"),
                format!("--initial-cluster=sealift-test=http://127.0.0.1:{peer}"),
                format!("--listen-metrics-urls=http://127.0.0.1:{metrics}"),
                "--logger=zap".to_owned(),
                "--log-level=warn".to_owned(),
            ]
            .into();
            let server = Server::spawn_owning(
                "etcd",
                &bin,
                &args,
                &dir.path().join("etcd.log"),
                dir.path(),
            )?;
            server.wait_until("healthy", Duration::from_secs(20), || {
                http_status(client, "/health") == Some(200)
            })?;
            Ok(Etcd {
                server,
                client_port: client,
                _dir: dir,
            })
        })
        .context("starting etcd")
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// The etcd process's PID.
    pub fn pid(&self) -> u32 {
        self.server.pid()
    }
}

/// etcd + kube-apiserver, reachable with [`KubeCluster::client`] or the kubeconfig file.
#[derive(Debug)]
pub struct KubeCluster {
    apiserver: Server,
    etcd: Etcd,
    port: u16,
    kubeconfig: PathBuf,
    dir: TempDir,
}

impl KubeCluster {
    /// Starts etcd and kube-apiserver (TLS on a loopback port, token auth, RBAC) and waits until
    /// `/readyz` answers `ok`.
    pub async fn start() -> Result<KubeCluster> {
        crate::install_crypto_provider();
        let bin = kube_apiserver()?;
        let openssl = system_binary("openssl")?;
        let etcd = Etcd::start()?;
        let dir = scratch_dir("sealift-kube-")?;
        let pki = dir.path().join("pki");
        fs::create_dir_all(&pki)?;
        make_pki(&openssl, &pki)?;
        let token = crate::registry::Credentials::random("token").password;
        fs::write(
            pki.join("tokens.csv"),
            format!("{token},sealift-admin,sealift-admin,\"system:masters\"\n"),
        )?;
        let mut last_err = None;
        for _ in 0..3 {
            let port = free_port()?;
            let prefix = format!(
                "/sealift-{}",
                crate::registry::Credentials::random("x").password
            );
            let p = |f: &str| pki.join(f).display().to_string();
            let args: Vec<String> = vec![
                format!("--etcd-servers={}", etcd.url()),
                format!("--etcd-prefix={prefix}"),
                "--bind-address=127.0.0.1".into(),
                "--advertise-address=127.0.0.1".into(),
                format!("--secure-port={port}"),
                // v1.20 also serves plain HTTP on 127.0.0.1:8080 unless told not to.
                "--insecure-port=0".into(),
                format!("--cert-dir={}", dir.path().join("certs").display()),
                format!("--tls-cert-file={}", p("server.crt")),
                format!("--tls-private-key-file={}", p("server.key")),
                format!("--token-auth-file={}", p("tokens.csv")),
                "--authorization-mode=RBAC".into(),
                "--service-account-issuer=https://sealift.test".into(),
                format!("--service-account-key-file={}", p("sa.key")),
                format!("--service-account-signing-key-file={}", p("sa.key")),
                // A virtual range for Service IPs: nothing is ever contacted.
                "--service-cluster-ip-range=10.96.0.0/24".into(),
                "--endpoint-reconciler-type=none".into(),
                "--enable-priority-and-fairness=false".into(),
                "--profiling=false".into(),
                "--logtostderr=true".into(),
                "--v=1".into(),
            ];
            let log = dir.path().join("kube-apiserver.log");
            let apiserver = Server::spawn_owning("kube-apiserver", &bin, &args, &log, dir.path())?;
            let kubeconfig = dir.path().join("kubeconfig");
            write_kubeconfig(&kubeconfig, port, &fs::read(pki.join("ca.crt"))?, &token)?;
            match wait_ready(&apiserver, &kubeconfig, Duration::from_secs(60)).await {
                Ok(()) => {
                    return Ok(KubeCluster {
                        apiserver,
                        etcd,
                        port,
                        kubeconfig,
                        dir,
                    });
                }
                Err(e) => {
                    let log = apiserver.log_tail(40);
                    // Retry only when the port was taken between probing and binding.
                    let port_clash = log.contains("address already in use");
                    last_err = Some(e.context(log));
                    if !port_clash {
                        break;
                    }
                }
            }
        }
        Err(last_err.unwrap_or_else(|| anyhow!("kube-apiserver did not start")))
    }

    /// A kube-rs client built from the kubeconfig file (a fresh client per call, bound to the
    /// caller's runtime).
    pub async fn client(&self) -> Result<kube::Client> {
        client_from(&self.kubeconfig).await
    }

    /// Path of a kubeconfig for this cluster (works with kubectl too).
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// `https://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// PIDs of kube-apiserver and etcd.
    pub fn pids(&self) -> [u32; 2] {
        [self.apiserver.pid(), self.etcd.pid()]
    }

    /// The scratch directory holding the cluster's PKI, logs and kubeconfig.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

async fn client_from(kubeconfig: &Path) -> Result<kube::Client> {
    let kc = Kubeconfig::read_from(kubeconfig)?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

async fn wait_ready(apiserver: &Server, kubeconfig: &Path, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    loop {
        if !apiserver.is_running() {
            bail!("kube-apiserver exited");
        }
        if let Ok(client) = client_from(kubeconfig).await {
            let req = http::Request::get("/readyz").body(Vec::new())?;
            match client.request_text(req).await {
                Ok(body) if body.trim() == "ok" => return Ok(()),
                Ok(body) => last = body,
                Err(e) => last = e.to_string(),
            }
        }
        if Instant::now() > deadline {
            bail!("kube-apiserver not ready after {timeout:?}: {last}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The cluster shared by every test of this test binary, started on first use.
pub async fn shared_cluster() -> Result<&'static KubeCluster> {
    static CLUSTER: tokio::sync::OnceCell<std::result::Result<KubeCluster, String>> =
        tokio::sync::OnceCell::const_new();
    CLUSTER
        .get_or_init(|| async { KubeCluster::start().await.map_err(|e| format!("{e:#}")) })
        .await
        .as_ref()
        .map_err(|e| anyhow!("{e}"))
}

/// Creates a namespace `<prefix>-<random>` so tests sharing a cluster never share state.
pub async fn test_namespace(client: &kube::Client, prefix: &str) -> Result<String> {
    let suffix = crate::registry::Credentials::random("ns")
        .password
        .to_lowercase();
    let name = format!("{prefix}-{}", &suffix[..8]);
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            ..Default::default()
        },
        ..Default::default()
    };
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await?;
    Ok(name)
}

/// Installs every CRD in the YAML files of `dir` and waits until each is Established. Returns the
/// CRD names.
///
/// Not server-side apply: a v1.20 API server refuses to server-side apply a CRD that carries
/// `x-kubernetes-validations` ("field not declared in schema"), because its typed CRD schema
/// predates CEL, while create and update simply drop the field. Users of old clusters hit the
/// same thing with `kubectl apply --server-side` (see docs/install.md).
pub async fn apply_crds_from_dir(client: &kube::Client, dir: &Path) -> Result<Vec<String>> {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    let mut names = Vec::new();
    let mut files: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .filter(|p| !p.ends_with("kustomization.yaml"))
        .collect();
    files.sort();
    if files.is_empty() {
        bail!("no CRD YAML in {}", dir.display());
    }
    for file in files {
        let text = fs::read_to_string(&file)?;
        let crd: CustomResourceDefinition =
            serde_saphyr::from_str(&text).with_context(|| format!("parsing {}", file.display()))?;
        let name = crd.metadata.name.clone().context("CRD without a name")?;
        create_or_replace(&api, &name, crd)
            .await
            .with_context(|| format!("installing {}", file.display()))?;
        names.push(name);
    }
    for name in &names {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let crd = api.get(name).await?;
            let established = crd
                .status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            if established {
                break;
            }
            if Instant::now() > deadline {
                bail!("CRD {name} not Established after 30 s");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(names)
}

/// Creates the CRD, or replaces it when it exists (tests sharing a cluster race to install it).
async fn create_or_replace(
    api: &Api<CustomResourceDefinition>,
    name: &str,
    crd: CustomResourceDefinition,
) -> Result<()> {
    for _ in 0..10 {
        match api.create(&PostParams::default(), &crd).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
        let current = match api.get(name).await {
            Ok(c) => c,
            Err(kube::Error::Api(s)) if s.code == 404 => continue,
            Err(e) => return Err(e.into()),
        };
        let mut next = crd.clone();
        next.metadata.resource_version = current.metadata.resource_version;
        match api.replace(name, &PostParams::default(), &next).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
    }
    bail!("CRD {name}: gave up after 10 conflicting writes")
}

fn scratch_dir(prefix: &str) -> Result<TempDir> {
    // etcd fsyncs on every write: keep its data (and the rest) on tmpfs when there is one.
    let shm = Path::new("/dev/shm");
    let builder = &mut tempfile::Builder::new();
    builder.prefix(prefix);
    Ok(if shm.is_dir() {
        builder.tempdir_in(shm)?
    } else {
        builder.tempdir()?
    })
}

fn make_pki(openssl: &Path, dir: &Path) -> Result<()> {
    let d = |f: &str| dir.join(f).display().to_string();
    let o = |args: &[&str]| run(openssl, args).map(|_| ());
    for key in ["ca.key", "server.key", "sa.key"] {
        o(&[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            &d(key),
        ])?;
    }
    o(&[
        "req",
        "-x509",
        "-new",
        "-key",
        &d("ca.key"),
        "-subj",
        "/CN=sealift-test-ca",
        "-days",
        "7",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
        "-out",
        &d("ca.crt"),
    ])?;
    o(&[
        "req",
        "-new",
        "-key",
        &d("server.key"),
        "-subj",
        "/CN=kube-apiserver",
        "-out",
        &d("server.csr"),
    ])?;
    fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )?;
    o(&[
        "x509",
        "-req",
        "-in",
        &d("server.csr"),
        "-CA",
        &d("ca.crt"),
        "-CAkey",
        &d("ca.key"),
        "-CAcreateserial",
        "-days",
        "7",
        "-extfile",
        &d("server.ext"),
        "-out",
        &d("server.crt"),
    ])
}

fn write_kubeconfig(path: &Path, port: u16, ca_pem: &[u8], token: &str) -> Result<()> {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: sealift-test\n  cluster:\n    \
         server: https://127.0.0.1:{port}\n    certificate-authority-data: {ca}\nusers:\n\
         - name: sealift-admin\n  user:\n    token: {token}\ncontexts:\n- name: sealift-test\n  \
         context:\n    cluster: sealift-test\n    user: sealift-admin\n\
         current-context: sealift-test\n"
    );
    fs::write(path, text)?;
    Ok(())
}
