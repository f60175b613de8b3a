//! The install (`kubectl apply -k manifests/`) against a real kube-apiserver v1.20.2 + etcd:
//! every object is accepted, the examples pass the CRD schemas and Sealift's own policy compiler,
//! the controller's RBAC grants what it needs and nothing more (SubjectAccessReview, then the real
//! calls made as the controller's ServiceAccount), an overlay can pin the image by digest, and the
//! Argo CD health check (manifests/argocd/health.lua) behaves as docs/argocd.md says when run by a
//! real Lua 5.1 (Argo CD's gopher-lua implements Lua 5.1).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use anyhow::Context;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, ObjectReference, Secret, Service};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{
    Api, DeleteParams, DynamicObject, GroupVersionKind, ListParams, ObjectMeta, Patch, PatchParams,
    PostParams, WatchParams,
};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::Scope;
use sealift_api::{ForgeProvider, Promotion, PushMode, TrustPolicy};
use sealift_testrig::kube::{KubeCluster, apply_crds_from_dir, shared_cluster, test_namespace};
use sealift_testrig::tools;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The identity the controller's Pods authenticate as, with the groups its token carries.
const SA_USER: &str = "system:serviceaccount:sealift-system:sealift-controller";
const SA_GROUPS: [&str; 3] = [
    "system:serviceaccounts",
    "system:serviceaccounts:sealift-system",
    "system:authenticated",
];
const IMAGE: &str = "ghcr.io/sealift-dev/sealift";
const HEALTH_KEY: &str = "resource.customizations.health.sealift.dev_Promotion";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .canonicalize()
        .unwrap()
}

/// `kustomize build DIR` with the reference kustomize, as parsed YAML documents.
fn kustomize_build(dir: &Path) -> Vec<Value> {
    let kustomize = tools::kustomize().expect("kustomize 4.5.4 must be installed");
    let out = Command::new(&kustomize)
        .arg("build")
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kustomize build {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    docs.into_iter().filter(|d| !d.is_null()).collect()
}

fn kind(v: &Value) -> &str {
    v["kind"].as_str().unwrap()
}

fn name(v: &Value) -> &str {
    v["metadata"]["name"].as_str().unwrap()
}

/// An API for whatever kind `obj` is, found by discovery on the real server.
async fn dynamic_api(
    client: &kube::Client,
    obj: &DynamicObject,
    namespace: Option<&str>,
) -> anyhow::Result<Api<DynamicObject>> {
    let types = obj
        .types
        .as_ref()
        .context("object without apiVersion/kind")?;
    let gvk = GroupVersionKind::try_from(types)?;
    let (resource, caps) = kube::discovery::pinned_kind(client, &gvk)
        .await
        .with_context(|| format!("discovering {gvk:?}"))?;
    Ok(match caps.scope {
        Scope::Namespaced => {
            let ns = namespace
                .or(obj.metadata.namespace.as_deref())
                .with_context(|| format!("{} without a namespace", types.kind))?;
            Api::namespaced_with(client.clone(), ns, &resource)
        }
        Scope::Cluster => Api::all_with(client.clone(), &resource),
    })
}

/// Installs `manifests/` the way `kubectl apply -k manifests/` does on a fresh cluster: the CRDs
/// with create-or-replace (v1.20 cannot server-side apply CRDs carrying CEL rules), every other
/// object created as rendered. Returns `Kind/name` of the objects created.
async fn install(client: &kube::Client) -> anyhow::Result<Vec<String>> {
    let rendered = kustomize_build(&repo().join("manifests"));
    let (crds, rest): (Vec<Value>, Vec<Value>) = rendered
        .into_iter()
        .partition(|o| kind(o) == "CustomResourceDefinition");
    let installed: BTreeSet<String> = apply_crds_from_dir(client, &repo().join("crds"))
        .await?
        .into_iter()
        .collect();
    let rendered_crds: BTreeSet<String> = crds.iter().map(|c| name(c).to_owned()).collect();
    anyhow::ensure!(
        installed == rendered_crds,
        "manifests/ renders CRDs {rendered_crds:?}, crds/ holds {installed:?}"
    );
    let mut created = Vec::new();
    for value in rest {
        let id = format!("{}/{}", kind(&value), name(&value));
        let obj: DynamicObject = serde_json::from_value(value.clone())?;
        let api = dynamic_api(client, &obj, None).await?;
        let stored = api
            .create(&PostParams::default(), &obj)
            .await
            .with_context(|| format!("creating {id}"))?;
        // The API server drops fields it does not know without a word (no strict field validation
        // before 1.25): a misspelt securityContext field would otherwise go unnoticed.
        if let Some(path) = missing_in(&value, &serde_json::to_value(stored)?, String::new()) {
            anyhow::bail!("{id}: the API server dropped {path}: a misspelt or unknown field");
        }
        created.push(id);
    }
    Ok(created)
}

/// The shared cluster with `manifests/` installed (once per test binary).
async fn installed() -> (&'static KubeCluster, kube::Client, &'static [String]) {
    static INSTALL: tokio::sync::OnceCell<Result<Vec<String>, String>> =
        tokio::sync::OnceCell::const_new();
    let cluster = shared_cluster()
        .await
        .expect("the real kube-apiserver must start");
    let client = cluster.client().await.unwrap();
    let created = INSTALL
        .get_or_init(|| async { install(&client).await.map_err(|e| format!("{e:#}")) })
        .await
        .as_ref()
        .expect("kubectl apply -k manifests/ must succeed");
    (cluster, client, created)
}

/// A client that authenticates as the admin but acts as the controller's ServiceAccount
/// (impersonation), so every request goes through RBAC exactly as the controller's would.
async fn client_as_controller(cluster: &KubeCluster) -> kube::Client {
    let kc = Kubeconfig::read_from(cluster.kubeconfig()).unwrap();
    let mut config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    config.auth_info.impersonate = Some(SA_USER.to_owned());
    config.auth_info.impersonate_groups = Some(SA_GROUPS.map(str::to_owned).to_vec());
    kube::Client::try_from(config).unwrap()
}

fn forbidden<T: std::fmt::Debug>(what: &str, r: Result<T, kube::Error>) {
    match r {
        Err(kube::Error::Api(s)) if s.code == 403 => {}
        other => panic!("{what}: expected 403 Forbidden, got {other:?}"),
    }
}

#[tokio::test]
async fn every_object_of_the_install_is_accepted_by_the_api_server() {
    let (_, client, created) = installed().await;
    let created: BTreeSet<&str> = created.iter().map(String::as_str).collect();
    let expected: BTreeSet<&str> = [
        "Namespace/sealift-system",
        "ServiceAccount/sealift-controller",
        "ClusterRole/sealift-controller",
        "ClusterRole/sealift-controller-secrets",
        "ClusterRoleBinding/sealift-controller",
        "ClusterRoleBinding/sealift-controller-secrets",
        "Role/sealift-leader-election",
        "RoleBinding/sealift-leader-election",
        "Service/sealift-controller-metrics",
        "Deployment/sealift-controller",
    ]
    .into();
    assert_eq!(created, expected);

    // What the API server stored: the contract the controller binary must meet.
    let deploy = Api::<Deployment>::namespaced(client.clone(), "sealift-system")
        .get("sealift-controller")
        .await
        .unwrap();
    let spec = deploy.spec.unwrap();
    assert_eq!(spec.replicas, Some(2));
    let pod = spec.template.spec.unwrap();
    assert_eq!(
        pod.service_account_name.as_deref(),
        Some("sealift-controller")
    );
    assert_eq!(pod.automount_service_account_token, Some(true));
    assert_eq!(pod.termination_grace_period_seconds, Some(30));
    let psc = pod.security_context.unwrap();
    assert_eq!(psc.run_as_non_root, Some(true));
    assert_eq!(psc.run_as_user, Some(65532));
    assert_eq!(psc.fs_group, Some(65532));
    assert_eq!(psc.seccomp_profile.unwrap().type_, "RuntimeDefault");
    let c = &pod.containers[0];
    assert_eq!(c.image.as_deref(), Some(&*format!("{IMAGE}:0.1.0")));
    assert_eq!(c.args.as_deref(), Some(&["controller".to_owned()][..]));
    let env: BTreeMap<&str, &k8s_openapi::api::core::v1::EnvVar> = c
        .env
        .iter()
        .flatten()
        .map(|e| (e.name.as_str(), e))
        .collect();
    assert_eq!(env["RUST_LOG"].value.as_deref(), Some("info"));
    assert_eq!(
        env["SEALIFT_CACHE_DIR"].value.as_deref(),
        Some("/var/cache/sealift")
    );
    for (var, field) in [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
    ] {
        let field_ref = env[var]
            .value_from
            .as_ref()
            .and_then(|v| v.field_ref.as_ref())
            .unwrap();
        assert_eq!(field_ref.field_path, field, "{var}");
    }
    let port = &c.ports.as_ref().unwrap()[0];
    assert_eq!(
        (port.name.as_deref(), port.container_port),
        (Some("http"), 8080)
    );
    for (probe, path) in [
        (c.liveness_probe.as_ref(), "/livez"),
        (c.readiness_probe.as_ref(), "/readyz"),
    ] {
        let get = probe.unwrap().http_get.as_ref().unwrap();
        assert_eq!(get.path.as_deref(), Some(path));
        assert_eq!(
            get.port,
            k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("http".into())
        );
    }
    let sc = c.security_context.as_ref().unwrap();
    assert_eq!(sc.read_only_root_filesystem, Some(true));
    assert_eq!(sc.allow_privilege_escalation, Some(false));
    assert_eq!(
        sc.capabilities.as_ref().unwrap().drop.as_deref(),
        Some(&["ALL".to_owned()][..])
    );
    let res = c.resources.as_ref().unwrap();
    assert_eq!(res.requests.as_ref().unwrap()["cpu"].0, "50m");
    assert_eq!(res.requests.as_ref().unwrap()["memory"].0, "64Mi");
    assert_eq!(res.limits.as_ref().unwrap()["memory"].0, "256Mi");
    // With a read-only root filesystem, the cache and /tmp must be emptyDir mounts.
    let mounts: BTreeMap<&str, &str> = c
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| (m.mount_path.as_str(), m.name.as_str()))
        .collect();
    for path in ["/var/cache/sealift", "/tmp"] {
        let volume = pod
            .volumes
            .iter()
            .flatten()
            .find(|v| v.name == mounts[path])
            .unwrap();
        assert!(volume.empty_dir.is_some(), "{path} is not an emptyDir");
    }

    // The metrics Service selects the controller's Pods and targets the named port.
    let svc = Api::<Service>::namespaced(client.clone(), "sealift-system")
        .get("sealift-controller-metrics")
        .await
        .unwrap()
        .spec
        .unwrap();
    let pod_labels = spec.template.metadata.unwrap().labels.unwrap();
    for (k, v) in svc.selector.unwrap() {
        assert_eq!(pod_labels.get(&k), Some(&v), "selector {k}");
    }
    let sport = &svc.ports.unwrap()[0];
    assert_eq!(
        sport.target_port,
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String("http".into()))
    );
}

#[test]
fn every_rbac_rule_says_why_it_exists() {
    let text = std::fs::read_to_string(repo().join("manifests/rbac.yaml")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut rules = 0;
    for (i, line) in lines.iter().enumerate() {
        if line.starts_with("- apiGroups:") {
            rules += 1;
            assert!(
                i > 0 && lines[i - 1].starts_with('#'),
                "rbac.yaml line {}: rule without a comment above it",
                i + 1
            );
        }
    }
    assert!(rules >= 5, "only {rules} rules found");
}

/// Whether the controller's ServiceAccount may do `check`, asked with a SubjectAccessReview.
/// `check` reads like `kubectl auth can-i`: `VERB RESOURCE[.GROUP][/SUBRESOURCE] NAMESPACE NAME`,
/// `-` for "cluster-wide" or "any name".
async fn allowed(client: &kube::Client, check: &str) -> bool {
    let parts: Vec<&str> = check.split_whitespace().collect();
    let [verb, resource, ns, name] = parts[..] else {
        panic!("malformed check {check:?}")
    };
    let (resource, subresource) = match resource.split_once('/') {
        Some((r, s)) => (r, Some(s.to_owned())),
        None => (resource, None),
    };
    let (resource, group) = resource.split_once('.').unwrap_or((resource, ""));
    let given = |s: &str| (s != "-").then(|| s.to_owned());
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(SA_USER.to_owned()),
            groups: Some(SA_GROUPS.map(str::to_owned).to_vec()),
            resource_attributes: Some(ResourceAttributes {
                verb: Some(verb.to_owned()),
                group: Some(group.to_owned()),
                resource: Some(resource.to_owned()),
                subresource,
                namespace: given(ns),
                name: given(name),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let done = Api::<SubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await
        .unwrap();
    done.status.unwrap().allowed
}

#[tokio::test]
async fn rbac_grants_the_controller_what_it_needs_and_nothing_more() {
    let (_, client, _) = installed().await;
    let must_allow = [
        // The reconcile loop over every namespace (and the wait for the CRDs).
        "list promotions.sealift.dev - -",
        "watch promotions.sealift.dev - -",
        "get promotions.sealift.dev team-a p1",
        // Status by server-side apply.
        "patch promotions.sealift.dev/status team-a p1",
        // The policy a Promotion names.
        "get trustpolicies.sealift.dev team-a bookstore",
        "get clustertrustpolicies.sealift.dev - org",
        // Named Secrets in the Promotion's namespace, and ClusterTrustPolicy keys in its own.
        "get secrets team-a git-creds",
        "get secrets sealift-system cosign-pub",
        // Events (kube-runtime's Recorder).
        "create events.events.k8s.io team-a -",
        "patch events.events.k8s.io team-a p1.17a",
        // Leader election (kube-lease-manager).
        "create leases.coordination.k8s.io sealift-system -",
        "get leases.coordination.k8s.io sealift-system sealift-controller",
        "patch leases.coordination.k8s.io sealift-system sealift-controller",
    ];
    let must_deny = [
        // Secrets cannot be enumerated, written or deleted.
        "list secrets - -",
        "list secrets team-a -",
        "watch secrets - -",
        "watch secrets team-a -",
        "create secrets team-a -",
        "update secrets team-a git-creds",
        "patch secrets team-a git-creds",
        "delete secrets team-a git-creds",
        // A Promotion's spec and metadata are not Sealift's to change (no finalizer either).
        "create promotions.sealift.dev team-a -",
        "update promotions.sealift.dev team-a p1",
        "patch promotions.sealift.dev team-a p1",
        "delete promotions.sealift.dev team-a p1",
        "deletecollection promotions.sealift.dev team-a -",
        "update promotions.sealift.dev/status team-a p1",
        // Policies are read by name: never listed, watched or written (status included).
        "list trustpolicies.sealift.dev - -",
        "watch trustpolicies.sealift.dev team-a -",
        "list clustertrustpolicies.sealift.dev - -",
        "create trustpolicies.sealift.dev team-a -",
        "update trustpolicies.sealift.dev team-a bookstore",
        "patch trustpolicies.sealift.dev team-a bookstore",
        "delete trustpolicies.sealift.dev team-a bookstore",
        "patch trustpolicies.sealift.dev/status team-a bookstore",
        "create clustertrustpolicies.sealift.dev - -",
        "patch clustertrustpolicies.sealift.dev - org",
        "delete clustertrustpolicies.sealift.dev - org",
        // Events: written, never deleted; core/v1 Events are not used.
        "delete events.events.k8s.io team-a p1.17a",
        "create events team-a -",
        // Leases: its own, in sealift-system, by get and patch only.
        "get leases.coordination.k8s.io sealift-system other-lease",
        "patch leases.coordination.k8s.io sealift-system other-lease",
        "update leases.coordination.k8s.io sealift-system sealift-controller",
        "watch leases.coordination.k8s.io sealift-system sealift-controller",
        "delete leases.coordination.k8s.io sealift-system sealift-controller",
        "list leases.coordination.k8s.io sealift-system -",
        "get leases.coordination.k8s.io kube-system sealift-controller",
        "patch leases.coordination.k8s.io kube-system sealift-controller",
        "create leases.coordination.k8s.io team-a -",
        "create leases.coordination.k8s.io kube-system -",
        // Nothing else.
        "get customresourcedefinitions.apiextensions.k8s.io - promotions.sealift.dev",
        "get configmaps team-a x",
        "list pods team-a -",
        "create pods team-a -",
        "create serviceaccounts/token sealift-system sealift-controller",
        "impersonate users - -",
        "bind clusterroles.rbac.authorization.k8s.io - -",
        "escalate clusterroles.rbac.authorization.k8s.io - -",
        "patch deployments.apps sealift-system sealift-controller",
        "delete namespaces - team-a",
        "delete *.* - -",
        "* *.* - -",
    ];
    let mut wrong = Vec::new();
    for check in must_allow {
        if !allowed(&client, check).await {
            wrong.push(format!("denied but needed: {check}"));
        }
    }
    for check in must_deny {
        if allowed(&client, check).await {
            wrong.push(format!("allowed but not needed: {check}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

fn example(file: &str) -> Value {
    let text = std::fs::read_to_string(repo().join("manifests/examples").join(file)).unwrap();
    serde_saphyr::from_str(&text).unwrap()
}

#[tokio::test]
async fn the_controller_identity_does_its_job_for_real_and_nothing_more() {
    let (cluster, admin, _) = installed().await;
    let ns = test_namespace(&admin, "as-controller").await.unwrap();
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some("git-creds".into()),
            ..Default::default()
        },
        string_data: Some([("token".to_owned(), "not-a-real-token".to_owned())].into()),
        ..Default::default()
    };
    Api::<Secret>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let promo: Promotion =
        serde_json::from_value(example("promotion-staging-to-prod.yaml")).unwrap();
    let promo_name = promo.metadata.name.clone().unwrap();
    let created = Api::<Promotion>::namespaced(admin.clone(), &ns)
        .create(&PostParams::default(), &promo)
        .await
        .unwrap();

    let me = client_as_controller(cluster).await;
    // Reconcile: list and watch Promotions in every namespace, read policies.
    let all = Api::<Promotion>::all(me.clone());
    let listed = all.list(&ListParams::default()).await.unwrap();
    assert!(
        listed
            .items
            .iter()
            .any(|p| p.metadata.name == promo.metadata.name)
    );
    let _watch = all
        .watch(&WatchParams::default().timeout(1), "0")
        .await
        .unwrap();
    // A policy is read by name (404 here, not 403: authorization passed).
    assert!(
        Api::<TrustPolicy>::namespaced(me.clone(), &ns)
            .get_opt("bookstore")
            .await
            .unwrap()
            .is_none()
    );
    forbidden(
        "list TrustPolicies",
        Api::<TrustPolicy>::all(me.clone())
            .list(&ListParams::default())
            .await,
    );
    // Status by server-side apply with Sealift's field manager.
    let promos = Api::<Promotion>::namespaced(me.clone(), &ns);
    let status = json!({"apiVersion": "sealift.dev/v1alpha1", "kind": "Promotion",
                        "status": {"phase": "Resolving", "observedGeneration": created.metadata.generation}});
    promos
        .patch_status(
            &promo_name,
            &PatchParams::apply(sealift_api::FIELD_MANAGER).force(),
            &Patch::Apply(&status),
        )
        .await
        .unwrap();
    // ... but never the Promotion itself.
    forbidden(
        "label a Promotion",
        promos
            .patch(
                &promo_name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
            )
            .await,
    );
    forbidden(
        "add a finalizer",
        promos
            .patch(
                &promo_name,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"finalizers": ["sealift.dev/cleanup"]}})),
            )
            .await,
    );
    forbidden(
        "delete a Promotion",
        promos.delete(&promo_name, &DeleteParams::default()).await,
    );

    // The named Secret, and nothing else about Secrets.
    let secrets = Api::<Secret>::namespaced(me.clone(), &ns);
    secrets.get("git-creds").await.unwrap();
    forbidden("list Secrets", secrets.list(&ListParams::default()).await);
    forbidden(
        "list Secrets everywhere",
        Api::<Secret>::all(me.clone())
            .list(&ListParams::default())
            .await,
    );
    forbidden(
        "watch Secrets",
        secrets
            .watch(&WatchParams::default().timeout(1), "0")
            .await
            .map(|_| "a watch stream"),
    );
    forbidden(
        "overwrite a Secret",
        secrets
            .patch(
                "git-creds",
                &PatchParams::default(),
                &Patch::Merge(json!({"stringData": {"token": "x"}})),
            )
            .await,
    );

    // An Event on the Promotion, as kube-runtime's Recorder writes it: create, then patch the series.
    let events = Api::<Event>::namespaced(me.clone(), &ns);
    let event = Event {
        metadata: ObjectMeta {
            name: Some(format!("{promo_name}.sealift-test")),
            ..Default::default()
        },
        event_time: Some(MicroTime(k8s_openapi::jiff::Timestamp::now())),
        action: Some("Verify".into()),
        reason: Some(sealift_api::conditions::reasons::IN_PROGRESS.into()),
        note: Some("verifying 1 image".into()),
        type_: Some("Normal".into()),
        reporting_controller: Some("sealift.dev/controller".into()),
        reporting_instance: Some("sealift-controller-0".into()),
        regarding: Some(ObjectReference {
            api_version: Some(sealift_api::API_VERSION.into()),
            kind: Some("Promotion".into()),
            name: Some(promo_name.clone()),
            namespace: Some(ns.clone()),
            uid: created.metadata.uid.clone(),
            ..Default::default()
        }),
        ..Default::default()
    };
    events.create(&PostParams::default(), &event).await.unwrap();
    events
        .patch(
            &format!("{promo_name}.sealift-test"),
            &PatchParams::default(),
            &Patch::Merge(json!({"series": {"count": 2,
                "lastObservedTime": MicroTime(k8s_openapi::jiff::Timestamp::now())}})),
        )
        .await
        .unwrap();

    // Leader election with the library and settings the controller uses: acquire the Lease
    // (get, create, server-side apply patch), then release it (patch).
    let manager = kube_lease_manager::LeaseManagerBuilder::new(me.clone(), "sealift-controller")
        .with_namespace("sealift-system")
        .with_identity("sealift-controller-0")
        .with_field_manager("sealift-lease")
        .with_duration(15)
        .with_grace(5)
        .build()
        .await
        .unwrap();
    let leading = tokio::time::timeout(std::time::Duration::from_secs(20), manager.changed())
        .await
        .expect("the Lease is acquired within 20 s")
        .unwrap();
    assert!(leading);
    manager.release().await.unwrap();
    let leases = Api::<Lease>::namespaced(me.clone(), "sealift-system");
    let lease = leases.get("sealift-controller").await.unwrap();
    assert_eq!(lease.spec.as_ref().unwrap().holder_identity, None);
    forbidden(
        "update its Lease (patch is what it uses)",
        leases
            .replace("sealift-controller", &PostParams::default(), &lease)
            .await,
    );
    forbidden("read another Lease", leases.get("kube-scheduler").await);
    forbidden(
        "delete its Lease",
        leases
            .delete("sealift-controller", &DeleteParams::default())
            .await,
    );
    forbidden(
        "create a Lease elsewhere",
        Api::<Lease>::namespaced(me.clone(), &ns)
            .create(
                &PostParams::default(),
                &Lease {
                    metadata: ObjectMeta {
                        name: Some("sealift-controller".into()),
                        ..Default::default()
                    },
                    spec: None,
                },
            )
            .await,
    );
}

#[tokio::test]
async fn the_examples_pass_the_crd_schemas() {
    let (_, admin, _) = installed().await;
    let dir = repo().join("manifests/examples");
    // Every example file is in the kustomization, so `kubectl apply -k` installs all of them.
    let kustomization: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(dir.join("kustomization.yaml")).unwrap())
            .unwrap();
    let listed: BTreeSet<String> = kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap().to_owned())
        .collect();
    let files: BTreeSet<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f.ends_with(".yaml") && f != "kustomization.yaml")
        .collect();
    assert_eq!(listed, files);

    let ns = test_namespace(&admin, "examples").await.unwrap();
    let objects = kustomize_build(&dir);
    assert_eq!(objects.len(), files.len());
    for value in objects {
        let id = format!("{}/{}", kind(&value), name(&value));
        assert!(
            value["metadata"].get("namespace").is_none(),
            "{id}: examples take the namespace given at apply time"
        );
        // Sealift's own types refuse unknown fields at every level.
        match kind(&value) {
            "Promotion" => drop(serde_json::from_value::<Promotion>(value.clone()).unwrap()),
            "TrustPolicy" => drop(serde_json::from_value::<TrustPolicy>(value.clone()).unwrap()),
            other => panic!("{id}: unexpected kind {other}"),
        }
        let obj: DynamicObject = serde_json::from_value(value.clone()).unwrap();
        let api = dynamic_api(&admin, &obj, Some(&ns)).await.unwrap();
        let stored = match api.create(&PostParams::default(), &obj).await {
            Ok(stored) => serde_json::to_value(stored).unwrap(),
            Err(e) => panic!("{id} refused by the API server: {e}"),
        };
        // A structural schema silently prunes fields it does not know (v1.20 has no strict field
        // validation): everything the example says must still be there.
        if let Some(path) = missing_in(&value, &stored, String::new()) {
            panic!("{id}: the API server pruned {path}: a misspelt or unknown field");
        }
    }

    // What the API server stored reads back into Sealift's strict types, and passes the rules the
    // controller enforces in code (v1.20 ignores CEL).
    let promotions = Api::<Promotion>::namespaced(admin.clone(), &ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(promotions.len(), 2);
    for p in &promotions {
        p.spec
            .validate()
            .unwrap_or_else(|e| panic!("{:?}: {e:?}", p.metadata.name));
    }
    assert!(promotions.iter().any(|p| {
        p.spec.push.is_none()
            && p.spec.pull_request.as_ref().map(|pr| pr.provider) == Some(ForgeProvider::Github)
    }));
    assert!(
        promotions
            .iter()
            .any(|p| { p.spec.push == Some(PushMode::Direct) && p.spec.pull_request.is_none() })
    );
    let policies = Api::<TrustPolicy>::namespaced(admin.clone(), &ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let names: BTreeSet<&str> = policies
        .iter()
        .map(|p| p.metadata.name.as_deref().unwrap())
        .collect();
    // Both Promotions reference a policy that the examples define.
    for p in &promotions {
        assert!(names.contains(p.spec.policy_ref.name.as_str()));
    }
    assert!(
        policies
            .iter()
            .any(|p| p.spec.authorities[0].keyless.is_some())
    );
    assert!(policies.iter().any(|p| p.spec.authorities[0].key.is_some()));
}

/// The first path of `sent` that `stored` lacks or holds a different scalar at.
fn missing_in(sent: &Value, stored: &Value, path: String) -> Option<String> {
    match (sent, stored) {
        (Value::Object(a), Value::Object(b)) => a.iter().find_map(|(k, v)| {
            let p = format!("{path}.{k}");
            b.get(k).map_or(Some(p.clone()), |w| missing_in(v, w, p))
        }),
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => a
            .iter()
            .zip(b)
            .enumerate()
            .find_map(|(i, (v, w))| missing_in(v, w, format!("{path}[{i}]"))),
        (a, b) if a == b => None,
        _ => Some(path),
    }
}

#[test]
fn the_example_trust_policies_compile_with_sealifts_verifier() {
    use sealift_verify::{CompiledPolicy, ImageRef, PolicyDocument, TrustedRoot};
    // The public-good Sigstore trust root stands in for the controller's default root.
    let root = std::fs::read(
        repo().join("crates/sealift-verify/tests/fixtures/sigstore-rs/sigstore_trusted_root.json"),
    )
    .unwrap();
    let root = std::sync::Arc::new(TrustedRoot::from_json(&root).unwrap());
    // The key the key-based example's Secret would hold.
    let openssl = tools::system_binary("openssl").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("cosign.key");
    let key = key.to_str().unwrap();
    tools::run(
        &openssl,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            key,
        ],
    )
    .unwrap();
    let public = tools::run(&openssl, &["ec", "-in", key, "-pubout"]).unwrap();
    let secrets: BTreeMap<(String, String), Vec<u8>> = [(
        ("cosign-pub".to_owned(), "cosign.pub".to_owned()),
        public.into_bytes(),
    )]
    .into();
    let digest = format!("sha256:{}", "a".repeat(64));
    for (file, matches, does_not_match) in [
        (
            "trustpolicy-keyless.yaml",
            "registry.example.com/acme/bookstore/catalog",
            "registry.example.com/acme-evil/catalog",
        ),
        (
            "trustpolicy-key.yaml",
            "registry.internal.example.com/platform/gateway",
            "registry.internal.example.com/platform/team/gateway",
        ),
    ] {
        let text = std::fs::read_to_string(repo().join("manifests/examples").join(file)).unwrap();
        let docs = PolicyDocument::parse_all(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(docs.len(), 1);
        let policy = CompiledPolicy::from_document(&docs[0], &secrets, Some(root.clone()))
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(policy.requires_attestations(), "{file}");
        let image = |name: &str| ImageRef::parse(&format!("{name}@{digest}")).unwrap();
        assert!(policy.applies_to(&image(matches)), "{file}: {matches}");
        assert!(
            !policy.applies_to(&image(does_not_match)),
            "{file}: {does_not_match}"
        );
    }
}

/// `../` steps from `from` to the filesystem root, then `to`: kustomize refuses absolute paths.
fn relative_path(from: &Path, to: &Path) -> String {
    let up = from.canonicalize().unwrap().components().count() - 1;
    let to = to.canonicalize().unwrap();
    format!(
        "{}{}",
        "../".repeat(up),
        to.strip_prefix("/").unwrap().display()
    )
}

/// The YAML block that follows `<!-- tested: WHAT` in docs/install.md.
fn doc_snippet(what: &str) -> Value {
    let doc = std::fs::read_to_string(repo().join("docs/install.md")).unwrap();
    let at = doc
        .find(&format!("<!-- tested: {what} "))
        .unwrap_or_else(|| panic!("docs/install.md has no snippet {what:?}"));
    let rest = &doc[at..];
    let start = rest.find("```yaml\n").unwrap() + "```yaml\n".len();
    let end = start + rest[start..].find("```").unwrap();
    serde_saphyr::from_str(&rest[start..end]).unwrap()
}

/// Builds an overlay from docs/install.md, with its remote base replaced by this checkout's
/// `manifests/` (`edit` fills in placeholders, `files` are written next to it).
fn build_docs_overlay(
    what: &str,
    edit: impl FnOnce(&mut Value),
    files: &[(&str, &[u8])],
) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let mut kustomization = doc_snippet(what);
    let base = &mut kustomization["resources"][0];
    assert_eq!(base, "github.com/sealift-dev/sealift//manifests?ref=v0.1.0");
    *base = json!(relative_path(dir.path(), &repo().join("manifests")));
    edit(&mut kustomization);
    // JSON is YAML: kustomize reads it as is.
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        serde_json::to_string_pretty(&kustomization).unwrap(),
    )
    .unwrap();
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).unwrap();
    }
    kustomize_build(dir.path())
}

fn controller_deployment(objects: &[Value]) -> &Value {
    objects.iter().find(|o| kind(o) == "Deployment").unwrap()
}

#[test]
fn the_documented_overlay_pins_the_controller_image_by_digest() {
    let base = kustomize_build(&repo().join("manifests"));
    let image_of = |objects: &[Value]| {
        controller_deployment(objects)["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(image_of(&base), format!("{IMAGE}:0.1.0"));

    let digest = format!("sha256:{}", "b".repeat(64));
    let pinned = build_docs_overlay(
        "digest overlay",
        |k| {
            assert_eq!(k["images"][0]["name"], IMAGE);
            k["images"][0]["digest"] = json!(digest);
        },
        &[],
    );
    assert_eq!(image_of(&pinned), format!("{IMAGE}@{digest}"));
    assert_eq!(pinned.len(), base.len());
}

#[tokio::test]
async fn the_documented_trusted_root_overlay_mounts_a_default_trust_root() {
    let root = std::fs::read(
        repo().join("crates/sealift-verify/tests/fixtures/sigstore-rs/sigstore_trusted_root.json"),
    )
    .unwrap();
    let objects = build_docs_overlay(
        "trusted-root overlay",
        |_| {},
        &[("trusted_root.json", &root)],
    );
    let cm = objects.iter().find(|o| kind(o) == "ConfigMap").unwrap();
    assert_eq!(cm["metadata"]["namespace"], "sealift-system");
    assert_eq!(
        cm["data"]["trusted_root.json"].as_str().unwrap().as_bytes(),
        &root[..]
    );
    let deploy = controller_deployment(&objects);
    let pod = &deploy["spec"]["template"]["spec"];
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "trusted-root")
        .unwrap();
    // kustomize rewrote the reference to the generated (hash-suffixed) ConfigMap name.
    assert_eq!(volume["configMap"]["name"], cm["metadata"]["name"]);
    let container = &pod["containers"][0];
    let mount = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == "trusted-root")
        .unwrap();
    let env = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "SEALIFT_TRUSTED_ROOT")
        .unwrap();
    assert_eq!(
        env["value"].as_str().unwrap(),
        format!("{}/trusted_root.json", mount["mountPath"].as_str().unwrap())
    );
    // The trust root the controller would read is one it can parse.
    sealift_verify::TrustedRoot::from_json(
        cm["data"]["trusted_root.json"].as_str().unwrap().as_bytes(),
    )
    .unwrap();

    // The patched Deployment and the ConfigMap are valid for the API server (dry run, in a
    // namespace of their own: the installed base already owns the names).
    let (_, admin, _) = installed().await;
    let ns = test_namespace(&admin, "trusted-root").await.unwrap();
    for value in [cm, deploy] {
        let mut value = value.clone();
        value["metadata"]["namespace"] = json!(ns);
        let obj: DynamicObject = serde_json::from_value(value.clone()).unwrap();
        let api = dynamic_api(&admin, &obj, None).await.unwrap();
        let dry_run = PostParams {
            dry_run: true,
            ..Default::default()
        };
        let stored = api.create(&dry_run, &obj).await.unwrap();
        let stored = serde_json::to_value(stored).unwrap();
        assert_eq!(missing_in(&value, &stored, String::new()), None);
    }
}

#[tokio::test]
async fn the_documented_secret_narrowing_replaces_the_cluster_wide_binding() {
    let base = kustomize_build(&repo().join("manifests"));
    let narrowed = build_docs_overlay("narrow-secrets overlay", |_| {}, &[]);
    let ids = |objects: &[Value]| -> BTreeSet<String> {
        objects
            .iter()
            .map(|o| format!("{}/{}", kind(o), name(o)))
            .collect()
    };
    let removed: Vec<String> = ids(&base).difference(&ids(&narrowed)).cloned().collect();
    assert_eq!(removed, ["ClusterRoleBinding/sealift-controller-secrets"]);
    assert!(ids(&narrowed).is_subset(&ids(&base)));

    // The documented RoleBinding grants exactly the ClusterRole's `get` in its namespace.
    let (_, admin, _) = installed().await;
    let ns = test_namespace(&admin, "narrowed").await.unwrap();
    let mut binding = doc_snippet("secrets RoleBinding");
    binding["metadata"]["namespace"] = json!(ns);
    let obj: DynamicObject = serde_json::from_value(binding.clone()).unwrap();
    let stored = dynamic_api(&admin, &obj, None)
        .await
        .unwrap()
        .create(&PostParams::default(), &obj)
        .await
        .unwrap();
    assert_eq!(
        missing_in(
            &binding,
            &serde_json::to_value(stored).unwrap(),
            String::new()
        ),
        None
    );
    let role = base
        .iter()
        .find(|o| kind(o) == "ClusterRole" && name(o) == binding["roleRef"]["name"])
        .unwrap();
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}])
    );
    let sa = base.iter().find(|o| kind(o) == "ServiceAccount").unwrap();
    assert_eq!(binding["subjects"][0]["name"], sa["metadata"]["name"]);
    assert_eq!(
        binding["subjects"][0]["namespace"],
        sa["metadata"]["namespace"]
    );
}

#[test]
fn the_optional_service_monitor_scrapes_the_metrics_service() {
    let base = kustomize_build(&repo().join("manifests"));
    assert!(
        !base.iter().any(|o| kind(o) == "ServiceMonitor"),
        "the ServiceMonitor needs the Prometheus Operator CRDs: it must stay optional"
    );
    let service = base.iter().find(|o| kind(o) == "Service").unwrap();
    let monitoring = kustomize_build(&repo().join("manifests/monitoring"));
    assert_eq!(monitoring.len(), 1);
    let sm = &monitoring[0];
    assert_eq!(kind(sm), "ServiceMonitor");
    assert_eq!(sm["metadata"]["namespace"], "sealift-system");
    for (k, v) in sm["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&service["metadata"]["labels"][k], v, "label {k}");
    }
    let endpoint = &sm["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], service["spec"]["ports"][0]["name"]);
    assert_eq!(endpoint["path"], "/metrics");
}

// --- Argo CD health check ----------------------------------------------------------------------

fn lua_string(s: &str) -> String {
    let mut out = String::from("\"");
    for b in s.bytes() {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03}")),
        }
    }
    out.push('"');
    out
}

/// A JSON value as a Lua table constructor, the shape Argo CD hands a health script as `obj`.
fn lua_value(v: &Value) -> String {
    match v {
        Value::Null => "nil".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => lua_string(s),
        Value::Array(items) => format!(
            "{{{}}}",
            items.iter().map(lua_value).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(map) => format!(
            "{{{}}}",
            map.iter()
                .map(|(k, v)| format!("[{}] = {}", lua_string(k), lua_value(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// Runs manifests/argocd/health.lua with `obj` set, in a real Lua 5.1; returns (status, message).
fn argocd_health(obj: &Value) -> (String, String) {
    let lua = tools::system_binary("lua5.1").expect(
        "lua5.1 must be installed to test the Argo CD health check (Debian package lua5.1; \
         scripts/install-rig.sh installs it)",
    );
    let script = repo().join("manifests/argocd/health.lua");
    let dir = tempfile::tempdir().unwrap();
    let harness = dir.path().join("harness.lua");
    std::fs::write(
        &harness,
        format!(
            "obj = {}\nlocal hs = dofile({})\n\
             assert(type(hs) == \"table\", \"health.lua must return a table\")\n\
             io.write(tostring(hs.status), \"\\n\", tostring(hs.message))\n",
            lua_value(obj),
            lua_string(script.to_str().unwrap())
        ),
    )
    .unwrap();
    let out = Command::new(&lua).arg(&harness).output().unwrap();
    assert!(
        out.status.success(),
        "lua5.1 failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = String::from_utf8(out.stdout).unwrap();
    let (status, message) = out.split_once('\n').unwrap();
    (status.to_owned(), message.to_owned())
}

fn condition(type_: &str, status: &str, reason: &str, message: &str) -> Value {
    json!({"type": type_, "status": status, "reason": reason, "message": message,
           "lastTransitionTime": "2025-01-01T00:00:00Z"})
}

#[tokio::test]
async fn the_argocd_health_check_follows_the_promotion_phase() {
    use sealift_api::conditions::{reasons, types};
    let (_, admin, _) = installed().await;
    let ns = test_namespace(&admin, "argocd-health").await.unwrap();
    let pr_url = "https://github.com/acme/gitops/pull/42";
    let pr = |state: &str| json!({"number": 42, "url": pr_url, "state": state});
    let ready_false = |reason: &str, message: &str| {
        vec![
            condition(types::RESOLVED, "True", reasons::SUCCEEDED, "resolved"),
            condition(types::READY, "False", reason, message),
        ]
    };
    let rejected_msg = "registry.example.com/acme/bookstore/catalog@sha256:aaaa…: no signature";
    let failed_msg = "push to https://github.com/acme/gitops.git failed after 5 attempts";
    let closed_msg = "pull request #42 was closed without merging";
    let merged_msg = "pull request #42 merged as 0123abc";
    // (object name, status the controller writes or None, Argo CD status, Argo CD message)
    let cases: Vec<(&str, Option<Value>, &str, String)> = vec![
        (
            "fresh",
            None,
            "Progressing",
            "Waiting for controller".into(),
        ),
        (
            "observed-only",
            Some(json!({"observedGeneration": 1})),
            "Progressing",
            "Waiting for controller".into(),
        ),
        (
            "pending",
            Some(json!({"phase": "Pending"})),
            "Progressing",
            "Pending".into(),
        ),
        (
            "verifying",
            Some(json!({"phase": "Verifying", "conditions":
                [condition(types::RESOLVED, "True", reasons::SUCCEEDED, "resolved")]})),
            "Progressing",
            "Verifying".into(),
        ),
        (
            "pr-open",
            Some(
                json!({"phase": "PullRequestOpen", "pullRequest": pr("open"), "conditions":
                [condition(types::READY, "Unknown", reasons::IN_PROGRESS, "waiting for review")]}),
            ),
            "Progressing",
            format!("PullRequestOpen: {pr_url}"),
        ),
        (
            "merged",
            Some(
                json!({"phase": "Merged", "pullRequest": pr("merged"), "conditions":
                [condition(types::READY, "True", reasons::PULL_REQUEST_MERGED, merged_msg)]}),
            ),
            "Healthy",
            merged_msg.into(),
        ),
        (
            "merged-bare",
            Some(json!({"phase": "Merged"})),
            "Healthy",
            "Merged".into(),
        ),
        (
            "rejected",
            Some(json!({"phase": "Rejected",
                        "conditions": ready_false(reasons::SIGNATURE_MISSING, rejected_msg)})),
            "Degraded",
            rejected_msg.into(),
        ),
        (
            "failed",
            Some(json!({"phase": "Failed",
                        "conditions": ready_false(reasons::RETRIES_EXHAUSTED, failed_msg)})),
            "Degraded",
            failed_msg.into(),
        ),
        (
            "closed",
            Some(json!({"phase": "Closed", "pullRequest": pr("closed"),
                        "conditions": ready_false(reasons::PULL_REQUEST_CLOSED, closed_msg)})),
            "Degraded",
            closed_msg.into(),
        ),
        (
            "rejected-bare",
            Some(json!({"phase": "Rejected"})),
            "Degraded",
            "Rejected".into(),
        ),
    ];
    // Each object goes through the real API server (schema, status subresource, server-side
    // apply), so the script sees exactly the JSON Argo CD would.
    let api = Api::<Promotion>::namespaced(admin.clone(), &ns);
    let raw = Api::<DynamicObject>::namespaced_with(
        admin.clone(),
        &ns,
        &kube::discovery::ApiResource::erase::<Promotion>(&()),
    );
    let mut promo: Promotion =
        serde_json::from_value(example("promotion-staging-to-prod.yaml")).unwrap();
    let mut wrong = Vec::new();
    for (name, status, want_status, want_message) in cases {
        promo.metadata.name = Some(name.to_owned());
        api.create(&PostParams::default(), &promo).await.unwrap();
        if let Some(status) = status {
            let patch = json!({"apiVersion": "sealift.dev/v1alpha1", "kind": "Promotion",
                               "status": status});
            api.patch_status(
                name,
                &PatchParams::apply(sealift_api::FIELD_MANAGER).force(),
                &Patch::Apply(&patch),
            )
            .await
            .unwrap_or_else(|e| panic!("{name}: status refused: {e}"));
        }
        let obj = serde_json::to_value(raw.get(name).await.unwrap()).unwrap();
        let got = argocd_health(&obj);
        if got != (want_status.to_owned(), want_message.clone()) {
            wrong.push(format!(
                "{name}: got {got:?}, want ({want_status:?}, {want_message:?})"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn the_argocd_cm_patch_carries_health_lua_verbatim_and_keeps_other_settings() {
    let lua = std::fs::read_to_string(repo().join("manifests/argocd/health.lua")).unwrap();
    let text =
        std::fs::read_to_string(repo().join("manifests/argocd/argocd-cm-patch.yaml")).unwrap();
    let mut patch: Value = serde_saphyr::from_str(&text).unwrap();
    assert_eq!(patch["metadata"]["name"], "argocd-cm");
    assert_eq!(patch["data"][HEALTH_KEY].as_str(), Some(lua.as_str()));

    // `kubectl patch configmap argocd-cm --type merge` against a real argocd-cm.
    let (_, admin, _) = installed().await;
    let ns = test_namespace(&admin, "argocd").await.unwrap();
    let cms = Api::<ConfigMap>::namespaced(admin.clone(), &ns);
    let existing = ConfigMap {
        metadata: ObjectMeta {
            name: Some("argocd-cm".into()),
            ..Default::default()
        },
        data: Some([("url".to_owned(), "https://argocd.example.com".to_owned())].into()),
        ..Default::default()
    };
    cms.create(&PostParams::default(), &existing).await.unwrap();
    patch["metadata"]["namespace"] = json!(ns);
    cms.patch("argocd-cm", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let data = cms.get("argocd-cm").await.unwrap().data.unwrap();
    assert_eq!(data["url"], "https://argocd.example.com");
    assert_eq!(data[HEALTH_KEY], lua);
}
