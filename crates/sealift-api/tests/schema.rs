//! The CRD schema says what the API server enforces; these tests pin what it says.
//!
//! CEL rules are evaluated with kube-cel (v1.20 API servers ignore CEL, so the real API server in
//! the integration tests cannot check them). Schema patterns are exercised against the real API
//! server in `tests/tests/kube_api.rs`; here they are checked through the same constants in Rust.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use kube::CustomResourceExt;
use sealift_api::conditions::reasons;
use sealift_api::validation::{CONDITION_REASON_PATTERN, is_digest, is_repo_path};
use sealift_api::{ClusterTrustPolicy, Promotion, PromotionSpec, TrustPolicy};
use serde_json::{Value, json};

fn schema_of(
    crd: k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
) -> Value {
    let schema = crd.spec.versions[0]
        .schema
        .clone()
        .unwrap()
        .open_api_v3_schema
        .unwrap();
    serde_json::to_value(schema).unwrap()
}

fn promotion(spec: Value) -> Value {
    json!({"apiVersion": "sealift.dev/v1alpha1", "kind": "Promotion",
           "metadata": {"name": "p", "namespace": "ns"}, "spec": spec})
}

fn valid_spec() -> Value {
    json!({
        "repository": {"url": "https://git.example.com/acme/gitops.git", "branch": "main",
                       "secretRef": {"name": "git-creds"}},
        "from": "overlays/staging",
        "to": "overlays/prod",
        "images": ["bookstore/catalog"],
        "policyRef": {"kind": "TrustPolicy", "name": "bookstore"},
        "pullRequest": {"provider": "github", "secretRef": {"name": "forge-token"}}
    })
}

fn cel_errors(schema: &Value, obj: &Value, old: Option<&Value>) -> Vec<String> {
    match kube_cel::validate(schema, obj, old) {
        Ok(()) => vec![],
        Err(errs) => errs.into_vec().into_iter().map(|e| e.message).collect(),
    }
}

#[test]
fn cel_accepts_a_valid_promotion_and_an_unchanged_update() {
    let schema = schema_of(Promotion::crd());
    let obj = promotion(valid_spec());
    assert_eq!(cel_errors(&schema, &obj, None), Vec::<String>::new());
    assert_eq!(cel_errors(&schema, &obj, Some(&obj)), Vec::<String>::new());
}

#[test]
fn cel_refuses_a_promotion_from_an_overlay_to_itself() {
    let schema = schema_of(Promotion::crd());
    let mut spec = valid_spec();
    spec["to"] = json!("overlays/staging");
    let errs = cel_errors(&schema, &promotion(spec), None);
    assert_eq!(
        errs,
        vec!["from and to must be different overlays".to_owned()]
    );
}

#[test]
fn cel_refuses_any_change_to_the_spec_after_creation() {
    let schema = schema_of(Promotion::crd());
    let old = promotion(valid_spec());
    let mut spec = valid_spec();
    spec["images"] = json!(["bookstore/catalog", "bookstore/orders"]);
    let errs = cel_errors(&schema, &promotion(spec), Some(&old));
    assert_eq!(
        errs,
        vec!["spec is immutable: create a new Promotion instead".to_owned()]
    );
}

#[test]
fn cel_refuses_a_threshold_above_the_number_of_authorities() {
    for crd in [TrustPolicy::crd(), ClusterTrustPolicy::crd()] {
        let schema = schema_of(crd);
        let policy = |threshold: u32| {
            json!({"apiVersion": "sealift.dev/v1alpha1", "kind": "TrustPolicy",
                   "metadata": {"name": "p"},
                   "spec": {"images": ["registry.example.com/acme/**"], "threshold": threshold,
                            "authorities": [{"key": {"data": "PEM"}}, {"key": {"data": "PEM2"}}]}})
        };
        assert_eq!(cel_errors(&schema, &policy(2), None), Vec::<String>::new());
        assert_eq!(
            cel_errors(&schema, &policy(3), None),
            vec!["threshold cannot exceed the number of authorities".to_owned()]
        );
    }
}

#[test]
fn schema_requires_exactly_one_of_pull_request_and_push() {
    let schema = schema_of(Promotion::crd());
    let one_of = &schema["properties"]["spec"]["oneOf"];
    assert_eq!(
        one_of,
        &json!([{"required": ["pullRequest"]}, {"required": ["push"]}])
    );
}

#[test]
fn schema_marks_conditions_as_a_list_map_keyed_by_type() {
    let schema = schema_of(Promotion::crd());
    let conditions = &schema["properties"]["status"]["properties"]["conditions"];
    assert_eq!(conditions["x-kubernetes-list-type"], "map");
    assert_eq!(conditions["x-kubernetes-list-map-keys"], json!(["type"]));
}

#[test]
fn every_spec_field_carries_a_description_for_kubectl_explain() {
    fn walk(path: &str, schema: &Value, missing: &mut Vec<String>) {
        if let Some(props) = schema.get("properties").and_then(Value::as_object) {
            for (name, sub) in props {
                let p = format!("{path}.{name}");
                if sub.get("description").is_none()
                    && !p.starts_with(".metadata")
                    && !p.contains("conditions.")
                {
                    missing.push(p.clone());
                }
                walk(&p, sub, missing);
                if let Some(items) = sub.get("items") {
                    walk(&format!("{p}[]"), items, missing);
                }
            }
        }
    }
    for crd in [
        Promotion::crd(),
        TrustPolicy::crd(),
        ClusterTrustPolicy::crd(),
    ] {
        let mut missing = vec![];
        let name = crd.metadata.name.clone().unwrap();
        walk("", &schema_of(crd), &mut missing);
        missing.retain(|p| p != ".apiVersion" && p != ".kind");
        assert!(
            missing.is_empty(),
            "{name}: fields without a description: {missing:?}"
        );
    }
}

#[test]
fn digests_must_be_sha256_with_64_lowercase_hex_digits() {
    assert!(is_digest(&format!("sha256:{}", "a".repeat(64))));
    for bad in [
        "sha256:abc".to_owned(),
        format!("sha256:{}", "A".repeat(64)),
        format!("sha512:{}", "a".repeat(64)),
        format!("sha256:{}", "a".repeat(65)),
        format!(" sha256:{}", "a".repeat(64)),
        format!("sha256:{}\n", "a".repeat(64)),
    ] {
        assert!(!is_digest(&bad), "{bad:?} accepted");
    }
}

#[test]
fn overlay_paths_must_stay_inside_the_repository() {
    for good in [
        "overlays/prod",
        "a",
        ".config/x",
        "..hidden/x",
        "envs/eu-west-1/prod",
        "a/.../b",
    ] {
        assert!(is_repo_path(good), "{good:?} refused");
    }
    for bad in [
        "",
        "/etc",
        "overlays/../../etc",
        "..",
        "../prod",
        "overlays/..",
        ".",
        "./prod",
        "overlays//prod",
        "overlays/prod/",
        "overlays\\prod",
        "overlays/pr od",
        "a/./b",
    ] {
        assert!(!is_repo_path(bad), "{bad:?} accepted");
    }
}

fn spec(v: Value) -> PromotionSpec {
    serde_json::from_value(v).unwrap()
}

#[test]
fn validate_accepts_the_design_example() {
    assert_eq!(spec(valid_spec()).validate(), Ok(()));
}

#[test]
fn validate_reports_every_broken_rule_with_its_field() {
    let mut v = valid_spec();
    v["repository"]["url"] = json!("https://user:token@git.example.com/acme/gitops.git");
    v["from"] = json!("../staging");
    v["to"] = json!("../staging");
    v["images"] = json!(["bookstore/catalog@sha256:xyz", "ok/image", "ok/image"]);
    v["push"] = json!("direct");
    let errs = spec(v).validate().unwrap_err();
    let fields: Vec<&str> = errs.0.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "spec.repository.url",
            "spec.from",
            "spec.to",
            "spec",
            "spec.images[0]",
            "spec.images[2]",
            "spec"
        ]
    );
    assert!(
        errs.to_string()
            .contains("exactly one of pullRequest and push"),
        "{errs}"
    );
}

#[test]
fn unknown_spec_fields_are_an_error_not_ignored() {
    let mut v = valid_spec();
    v["form"] = json!("overlays/dev");
    let err = serde_json::from_value::<PromotionSpec>(v)
        .unwrap_err()
        .to_string();
    assert!(err.contains("unknown field `form`"), "{err}");
}

#[test]
fn image_selectors_split_name_and_expected_digest() {
    let d = format!("sha256:{}", "b".repeat(64));
    let s = sealift_api::ImageSelector(format!("registry.example.com:5000/acme/app@{d}"));
    assert_eq!(s.name(), "registry.example.com:5000/acme/app");
    assert_eq!(s.expected_digest(), Some(d.as_str()));
    assert_eq!(
        sealift_api::ImageSelector::from("app").expected_digest(),
        None
    );
}

#[test]
fn every_condition_reason_matches_the_metav1_condition_pattern() {
    let re = regex::Regex::new(CONDITION_REASON_PATTERN).unwrap();
    for r in reasons::ALL {
        assert!(re.is_match(r), "{r}");
    }
    let mut sorted = reasons::ALL.to_vec();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), reasons::ALL.len(), "duplicate reason");
}

#[test]
fn committed_crds_match_the_types() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../crds");
    for file in sealift_api::crd::crd_files().unwrap() {
        let path = dir.join(&file.file_name);
        let committed = std::fs::read_to_string(&path)
            .unwrap_or_else(|_| panic!("{} is missing: run `make crds`", path.display()));
        assert!(
            committed == file.yaml,
            "{} is stale: the API types changed; run `make crds` and commit crds/",
            path.display()
        );
    }
    let committed: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        committed.len(),
        4,
        "crds/ holds files that no type generates: {committed:?}"
    );
}
