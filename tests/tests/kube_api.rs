//! Sealift's CRDs against a real kube-apiserver v1.20.2 + etcd: accepted, Established, objects
//! round-trip, status is written with server-side apply, and invalid objects are refused by the
//! schema itself (v1.20 ignores CEL, so everything here is OpenAPI validation).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::{Api, Patch, PatchParams, PostParams};
use sealift_api::conditions::{reasons, types};
use sealift_api::{Phase, PromotedImage, Promotion, PromotionStatus, TrustPolicy};
use sealift_testrig::kube::{KubeCluster, apply_crds_from_dir, shared_cluster, test_namespace};
use serde_json::{Value, json};
use std::path::Path;

async fn cluster_with_crds() -> (&'static KubeCluster, kube::Client) {
    let cluster = shared_cluster()
        .await
        .expect("the real kube-apiserver must start");
    let client = cluster.client().await.unwrap();
    let crds = Path::new(env!("CARGO_MANIFEST_DIR")).join("../crds");
    apply_crds_from_dir(&client, &crds).await.unwrap();
    (cluster, client)
}

fn promotion_json(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "sealift.dev/v1alpha1", "kind": "Promotion",
           "metadata": {"name": name}, "spec": spec})
}

fn valid_spec() -> Value {
    json!({
        "repository": {"url": "https://git.example.com/acme/gitops.git", "secretRef": {"name": "git-creds"}},
        "from": "overlays/staging",
        "to": "overlays/prod",
        "images": ["bookstore/catalog"],
        "policyRef": {"name": "bookstore"},
        "pullRequest": {"provider": "github", "secretRef": {"name": "forge-token"},
                        "labels": ["promotion"], "reviewers": ["platform-team"]}
    })
}

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

#[tokio::test]
async fn committed_crds_are_accepted_and_become_established() {
    let (_, client) = cluster_with_crds().await;
    let api = Api::<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition>::all(client);
    for name in [
        "promotions.sealift.dev",
        "trustpolicies.sealift.dev",
        "clustertrustpolicies.sealift.dev",
    ] {
        let crd = api.get(name).await.unwrap();
        let status = crd.status.unwrap();
        let established = status
            .conditions
            .unwrap()
            .into_iter()
            .find(|c| c.type_ == "Established")
            .unwrap();
        assert_eq!(established.status, "True", "{name}");
        // A non-structural schema would be reported here and pruning/defaulting disabled.
        let names_accepted = status.accepted_names.unwrap();
        assert!(!names_accepted.kind.is_empty(), "{name}");
    }
}

#[tokio::test]
async fn a_promotion_round_trips_with_defaults_applied_by_the_api_server() {
    let (_, client) = cluster_with_crds().await;
    let ns = test_namespace(&client, "roundtrip").await.unwrap();
    let api = Api::<Promotion>::namespaced(client.clone(), &ns);
    let sent: Promotion =
        serde_json::from_value(promotion_json("promote-catalog", valid_spec())).unwrap();
    api.create(&PostParams::default(), &sent).await.unwrap();

    let got = api.get("promote-catalog").await.unwrap();
    assert_eq!(got.spec.from, "overlays/staging");
    assert_eq!(got.spec.images, sent.spec.images);
    // Schema defaults, applied by the API server, not by our code.
    assert_eq!(got.spec.repository.branch, "main");
    assert_eq!(
        got.spec.policy_ref.kind,
        sealift_api::PolicyKind::TrustPolicy
    );
    assert!(!got.spec.pull_request.as_ref().unwrap().draft);
    assert_eq!(got.status, None);
}

#[tokio::test]
async fn status_is_written_through_the_status_subresource_with_server_side_apply() {
    let (_, client) = cluster_with_crds().await;
    let ns = test_namespace(&client, "status").await.unwrap();
    let api = Api::<Promotion>::namespaced(client.clone(), &ns);
    let p: Promotion = serde_json::from_value(promotion_json("p1", valid_spec())).unwrap();
    let created = api.create(&PostParams::default(), &p).await.unwrap();

    let status = PromotionStatus {
        phase: Some(Phase::Verifying),
        observed_generation: created.metadata.generation,
        conditions: vec![Condition {
            type_: types::RESOLVED.into(),
            status: "True".into(),
            reason: reasons::SUCCEEDED.into(),
            message: "bookstore/catalog pins sha256:aaaa… in overlays/staging".into(),
            observed_generation: created.metadata.generation,
            last_transition_time: Time(k8s_openapi::jiff::Timestamp::now()),
        }],
        images: vec![PromotedImage {
            name: "bookstore/catalog".into(),
            reference: Some("registry.example.com/bookstore/catalog".into()),
            digest: digest('a'),
            evidence: None,
        }],
        ..Default::default()
    };
    let patch =
        json!({"apiVersion": "sealift.dev/v1alpha1", "kind": "Promotion", "status": status});
    let pp = PatchParams::apply(sealift_api::FIELD_MANAGER).force();
    api.patch_status("p1", &pp, &Patch::Apply(&patch))
        .await
        .unwrap();

    let got = api.get("p1").await.unwrap();
    let st = got.status.unwrap();
    assert_eq!(st.phase, Some(Phase::Verifying));
    assert_eq!(st.images[0].digest, digest('a'));
    assert_eq!(st.conditions[0].type_, "Resolved");
    // The status subresource never changes the spec, and does not bump the generation.
    assert_eq!(got.spec, created.spec);
    assert_eq!(got.metadata.generation, created.metadata.generation);
    let managers: Vec<_> = got
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(managers.contains(&"sealift".to_owned()), "{managers:?}");

    // A second apply from the same manager replaces its fields: phase moves on, nothing duplicates.
    let next = json!({"apiVersion": "sealift.dev/v1alpha1", "kind": "Promotion",
                      "status": {"phase": "Committing", "images": st.images, "conditions": st.conditions}});
    api.patch_status("p1", &pp, &Patch::Apply(&next))
        .await
        .unwrap();
    let st = api.get("p1").await.unwrap().status.unwrap();
    assert_eq!(st.phase, Some(Phase::Committing));
    assert_eq!(st.conditions.len(), 1);
}

#[tokio::test]
async fn a_malformed_digest_in_status_is_refused() {
    let (_, client) = cluster_with_crds().await;
    let ns = test_namespace(&client, "baddigest").await.unwrap();
    let api = Api::<Promotion>::namespaced(client.clone(), &ns);
    let p: Promotion = serde_json::from_value(promotion_json("p1", valid_spec())).unwrap();
    api.create(&PostParams::default(), &p).await.unwrap();
    let patch = json!({"apiVersion": "sealift.dev/v1alpha1", "kind": "Promotion",
                       "status": {"images": [{"name": "bookstore/catalog", "digest": "sha256:1234"}]}});
    let err = api
        .patch_status(
            "p1",
            &PatchParams::apply("sealift").force(),
            &Patch::Apply(&patch),
        )
        .await
        .unwrap_err();
    let msg = err.to_string();
    // v1.20 names the field without the list index.
    assert!(
        msg.contains("status.images") && msg.contains("digest") && msg.contains("should match"),
        "{msg}"
    );
    assert!(api.get("p1").await.unwrap().status.is_none());
}

/// Each case: what is wrong, the spec, and a fragment the API server's message must contain.
fn invalid_specs() -> Vec<(&'static str, Value, &'static str)> {
    let with = |path: &[&str], v: Value| {
        let mut s = valid_spec();
        let mut cur = &mut s;
        for p in &path[..path.len() - 1] {
            cur = &mut cur[*p];
        }
        cur[path[path.len() - 1]] = v;
        s
    };
    let mut no_policy = valid_spec();
    no_policy.as_object_mut().unwrap().remove("policyRef");
    let mut neither = valid_spec();
    neither.as_object_mut().unwrap().remove("pullRequest");
    vec![
        (
            "digest too short",
            with(&["images"], json!(["bookstore/catalog@sha256:abc"])),
            "spec.images",
        ),
        (
            "digest upper-case",
            with(
                &["images"],
                json!([format!("app@sha256:{}", "A".repeat(64))]),
            ),
            "spec.images",
        ),
        (
            "parent-directory path",
            with(&["from"], json!("../staging")),
            "spec.from",
        ),
        (
            "escaping path",
            with(&["to"], json!("overlays/../../etc")),
            "spec.to",
        ),
        (
            "absolute path",
            with(&["to"], json!("/etc/passwd")),
            "spec.to",
        ),
        (
            "credentials in the URL",
            with(
                &["repository", "url"],
                json!("https://x:tok@git.example.com/a.git"),
            ),
            "spec.repository.url",
        ),
        (
            "unknown forge",
            with(&["pullRequest", "provider"], json!("sourcehut")),
            "spec.pullRequest.provider",
        ),
        (
            "bad policy kind",
            with(&["policyRef", "kind"], json!("Policy")),
            "spec.policyRef.kind",
        ),
        (
            "duplicate images",
            with(&["images"], json!(["a", "a"])),
            "spec.images",
        ),
        ("missing policyRef", no_policy, "spec.policyRef"),
        (
            "both pullRequest and push",
            with(&["push"], json!("direct")),
            "spec",
        ),
        ("neither pullRequest nor push", neither, "spec"),
    ]
}

#[tokio::test]
async fn invalid_promotions_are_refused_by_the_api_server_and_nothing_is_created() {
    let (_, client) = cluster_with_crds().await;
    let ns = test_namespace(&client, "invalid").await.unwrap();
    // Untyped on purpose: the typed API would refuse to build most of these objects.
    let raw = Api::<kube::api::DynamicObject>::namespaced_with(
        client.clone(),
        &ns,
        &kube::discovery::ApiResource::erase::<Promotion>(&()),
    );
    for (i, (what, spec, field)) in invalid_specs().into_iter().enumerate() {
        let obj: kube::api::DynamicObject =
            serde_json::from_value(promotion_json(&format!("bad-{i}"), spec)).unwrap();
        match raw.create(&PostParams::default(), &obj).await {
            Ok(_) => panic!("{what}: the API server accepted it"),
            Err(kube::Error::Api(status)) => {
                assert_eq!(status.code, 422, "{what}: {status:?}");
                assert!(status.message.contains(field), "{what}: {}", status.message);
            }
            Err(e) => panic!("{what}: unexpected error {e}"),
        }
    }
    assert!(
        raw.list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
}

#[tokio::test]
async fn trust_policies_are_validated_by_the_schema() {
    let (_, client) = cluster_with_crds().await;
    let ns = test_namespace(&client, "policy").await.unwrap();
    let api = Api::<TrustPolicy>::namespaced(client.clone(), &ns);
    let good: TrustPolicy = serde_json::from_value(json!({
        "apiVersion": "sealift.dev/v1alpha1", "kind": "TrustPolicy", "metadata": {"name": "bookstore"},
        "spec": {"images": ["registry.example.com/acme/**"],
                 "authorities": [{"keyless": {"identities": [{"issuer": "https://token.actions.githubusercontent.com",
                                                              "subjectRegExp": "^https://github.com/acme/.+$"}]}}],
                 "attestations": [{"predicateType": "https://slsa.dev/provenance/v1",
                                   "policy": "predicate.buildDefinition.buildType != ''"}]}
    }))
    .unwrap();
    api.create(&PostParams::default(), &good).await.unwrap();
    let got = api.get("bookstore").await.unwrap();
    assert!(
        got.spec.transparency_log.required,
        "transparencyLog.required defaults to true"
    );

    let raw = Api::<kube::api::DynamicObject>::namespaced_with(
        client.clone(),
        &ns,
        &kube::discovery::ApiResource::erase::<TrustPolicy>(&()),
    );
    let bad_cases = [
        (
            "key and keyless in one authority",
            json!([{"key": {"data": "PEM"}, "keyless": {"identities": [{"issuer": "i", "subject": "s"}]}}]),
        ),
        (
            "authority with neither key nor keyless",
            json!([{"name": "nobody"}]),
        ),
        (
            "identity with issuer and issuerRegExp",
            json!([{"keyless": {"identities": [{"issuer": "i", "issuerRegExp": "^i$", "subject": "s"}]}}]),
        ),
        (
            "identity without a subject",
            json!([{"keyless": {"identities": [{"issuer": "i"}]}}]),
        ),
        ("no authorities", json!([])),
    ];
    for (i, (what, authorities)) in bad_cases.into_iter().enumerate() {
        let obj: kube::api::DynamicObject = serde_json::from_value(json!({
            "apiVersion": "sealift.dev/v1alpha1", "kind": "TrustPolicy", "metadata": {"name": format!("bad-{i}")},
            "spec": {"images": ["registry.example.com/acme/**"], "authorities": authorities}
        }))
        .unwrap();
        match raw.create(&PostParams::default(), &obj).await {
            Ok(_) => panic!("{what}: accepted"),
            Err(kube::Error::Api(status)) => assert_eq!(status.code, 422, "{what}: {status:?}"),
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

#[tokio::test]
async fn kubectl_get_promo_columns_show_phase_overlays_and_pull_request() {
    let (_, client) = cluster_with_crds().await;
    let ns = test_namespace(&client, "columns").await.unwrap();
    let api = Api::<Promotion>::namespaced(client.clone(), &ns);
    let p: Promotion = serde_json::from_value(promotion_json("p1", valid_spec())).unwrap();
    api.create(&PostParams::default(), &p).await.unwrap();
    let patch = json!({"apiVersion": "sealift.dev/v1alpha1", "kind": "Promotion",
        "status": {"phase": "PullRequestOpen",
                   "pullRequest": {"number": 42, "url": "https://github.com/acme/gitops/pull/42", "state": "open"}}});
    api.patch_status(
        "p1",
        &PatchParams::apply("sealift").force(),
        &Patch::Apply(&patch),
    )
    .await
    .unwrap();

    // What `kubectl get promo` asks for: the server-side Table rendering of the printer columns.
    let req = http::Request::get(format!(
        "/apis/sealift.dev/v1alpha1/namespaces/{ns}/promotions"
    ))
    .header("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io")
    .body(Vec::new())
    .unwrap();
    let table: Value = serde_json::from_str(&client.request_text(req).await.unwrap()).unwrap();
    let columns: Vec<&str> = table["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        columns,
        ["Name", "Phase", "From", "To", "Pull Request", "Age"]
    );
    let cells = &table["rows"][0]["cells"];
    assert_eq!(cells[1], "PullRequestOpen");
    assert_eq!(cells[2], "overlays/staging");
    assert_eq!(cells[3], "overlays/prod");
    assert_eq!(cells[4], "https://github.com/acme/gitops/pull/42");
}

#[tokio::test]
async fn the_short_name_promo_is_served() {
    let (_, client) = cluster_with_crds().await;
    let req = http::Request::get("/apis/sealift.dev/v1alpha1")
        .body(Vec::new())
        .unwrap();
    let list: Value = serde_json::from_str(&client.request_text(req).await.unwrap()).unwrap();
    let promo = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "promotions")
        .unwrap();
    assert_eq!(promo["shortNames"], json!(["promo"]));
    assert_eq!(promo["namespaced"], true);
    let ctp = list["resources"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "clustertrustpolicies")
        .unwrap();
    assert_eq!(ctp["namespaced"], false);
}
