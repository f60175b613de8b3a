//! Sealift's own Gitea 1.27 / Forgejo 16 contracts (`sealift-testrig/specs/*.contract.json`):
//! they parse, name the upstream document they were derived from, cover every operation the
//! provider calls, and the oracle built from them reports wrong requests and responses.

use super::spec::{self, CONTRACT_FORMAT, FORGEJO_CONTRACT, GITEA_CONTRACT, Spec};
use sealift_forge::ForgeKind;
use sealift_forge::contract::wire_contracts;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

/// (contract file, product, version, description) for both flavours.
fn contracts() -> [(&'static str, &'static str, &'static str, Arc<Spec>); 2] {
    [
        (GITEA_CONTRACT, "Gitea", "1.27", spec::gitea().unwrap()),
        (FORGEJO_CONTRACT, "Forgejo", "16", spec::forgejo().unwrap()),
    ]
}

/// The operation ids the Gitea provider sends: the first string literal of every
/// `ApiRequest::get(…)` / `ApiRequest::new(…)` in its source.
fn operations_in_provider_source() -> BTreeSet<String> {
    let source = include_str!("../../src/gitea.rs");
    let mut out = BTreeSet::new();
    for (at, _) in source.match_indices("ApiRequest::") {
        let rest = &source[at..];
        if !(rest.starts_with("ApiRequest::get(") || rest.starts_with("ApiRequest::new(")) {
            continue;
        }
        let literal = rest.split('"').nth(1).unwrap();
        out.insert(literal.to_owned());
    }
    out
}

/// Keys that carry prose or examples in a Swagger document, wherever they occur except as the
/// name of a field (`fields` maps names to types: Gitea's `Label` has a `description`).
fn prose_keys(value: &Value, at: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                let is_prose = matches!(
                    key.as_str(),
                    "description" | "summary" | "example" | "examples" | "title" | "default"
                ) || key.starts_with("x-");
                if is_prose && !at.ends_with("/fields") && !at.ends_with("/upstream") {
                    out.push(format!("{at}/{key}"));
                }
                prose_keys(v, &format!("{at}/{key}"), out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| prose_keys(v, at, out)),
        _ => {}
    }
}

fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn the_contract_files_parse_and_name_the_upstream_document_they_were_derived_from() {
    for (file, product, version, spec) in contracts() {
        let contract = spec::contract(file).unwrap();
        let header = &contract["contract"];
        assert_eq!(header["format"], CONTRACT_FORMAT, "{file}");
        assert_eq!(header["product"], product, "{file}");
        assert_eq!(header["version"], version, "{file}");
        assert_eq!(header["base_path"], "/api/v1", "{file}");
        let upstream = &header["upstream"];
        assert_eq!(upstream["title"], format!("{product} API"), "{file}");
        assert!(
            upstream["version"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{version}.")),
            "{file}: {upstream}"
        );
        let sha = upstream["sha256"].as_str().unwrap();
        assert!(
            sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit()),
            "{file}: {sha}"
        );
        // The document the checks read is exactly the one built from the file.
        assert_eq!(spec.doc, spec::swagger_from_contract(&contract).unwrap());
        // Facts only: no prose copied from the upstream.
        let mut prose = Vec::new();
        prose_keys(&contract, "", &mut prose);
        assert!(prose.is_empty(), "{file}: {prose:?}");
        // Stable and readable: pretty-printed with sorted keys, as `serde_json` writes it.
        let raw = std::fs::read_to_string(spec::specs_dir().join(file)).unwrap();
        assert_eq!(
            raw,
            format!("{}\n", serde_json::to_string_pretty(&contract).unwrap()),
            "{file} is not in its canonical form"
        );
    }
}

#[test]
fn every_operation_the_gitea_provider_calls_is_in_both_contracts() {
    let from_source = operations_in_provider_source();
    let from_wire: BTreeSet<String> = wire_contracts(ForgeKind::Gitea)
        .iter()
        .chain(wire_contracts(ForgeKind::Forgejo).iter())
        .map(|c| c.operation.to_owned())
        .collect();
    assert_eq!(from_source.len(), 8, "{from_source:?}");
    assert_eq!(from_source, from_wire);
    for (file, _, _, spec) in contracts() {
        let contract = spec::contract(file).unwrap();
        let described: BTreeSet<String> = contract["operations"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        // Exactly those: the contract carries only what Sealift calls.
        assert_eq!(described, from_source, "{file}");
        for id in &from_source {
            let op = spec.op_by_id(id).unwrap();
            assert!(
                (200..300).any(|s| spec.declares_status(&op, s)),
                "{file}: {id} declares no success"
            );
        }
        // The types the stand-in fills from are there.
        for component in [
            "PullRequest",
            "PRBranchInfo",
            "User",
            "Team",
            "Label",
            "PullReview",
            "CommitStatus",
        ] {
            spec.filler_of(component).unwrap();
        }
    }
}

#[test]
fn the_contract_oracle_reports_wrong_requests() {
    for (file, product, _, spec) in contracts() {
        let base_filter = if product == "Forgejo" {
            "base"
        } else {
            "base_branch"
        };
        let list = spec.op_by_id("repoListPullRequests").unwrap();
        let path = "/repos/acme/gitops/pulls";
        let good = q(&[
            ("state", "open"),
            (base_filter, "main"),
            ("limit", "50"),
            ("page", "1"),
        ]);
        assert_eq!(
            spec.check_request(&list, path, &good, None),
            Vec::<String>::new()
        );
        let v = spec.check_request(&list, path, &q(&[("draft", "true")]), None);
        assert!(
            v.len() == 1 && v[0].contains("query parameter `draft` is not declared"),
            "{file}: {v:?}"
        );
        let v = spec.check_request(&list, path, &q(&[("page", "two")]), None);
        assert!(
            v.len() == 1 && v[0].contains("not an integer"),
            "{file}: {v:?}"
        );
        let v = spec.check_request(&list, path, &q(&[("state", "merged")]), None);
        assert!(v.len() == 1 && v[0].contains("not one of"), "{file}: {v:?}");

        let get = spec.op_by_id("repoGetPullRequest").unwrap();
        let v = spec.check_request(&get, "/repos/acme/gitops/pulls/seven", &[], None);
        assert_eq!(v.len(), 1, "an index is an integer: {file}: {v:?}");

        let create = spec.op_by_id("repoCreatePullRequest").unwrap();
        let body = json!({"head": "h", "base": "main", "title": "t", "body": "b"});
        assert!(
            spec.check_request(&create, path, &[], Some(&body))
                .is_empty()
        );
        // Labels are ids at creation; a field the contract does not declare is refused.
        let v = spec.check_request(
            &create,
            path,
            &[],
            Some(&json!({"head": "h", "base": "main", "labels": ["promotion"], "draft": true})),
        );
        assert!(
            v.iter()
                .any(|e| e.contains("\"promotion\" is not of type \"integer\"")),
            "{file}: {v:?}"
        );
        assert!(v.iter().any(|e| e.contains("draft")), "{file}: {v:?}");
        assert_eq!(v.len(), 2, "{file}: {v:?}");

        let reviewers = spec.op_by_id("repoCreatePullReviewRequests").unwrap();
        let v = spec.check_request(
            &reviewers,
            "/repos/acme/gitops/pulls/1/requested_reviewers",
            &[],
            None,
        );
        assert!(
            v.len() == 1 && v[0].contains("requires a body"),
            "{file}: {v:?}"
        );

        let status = spec.op_by_id("repoCreateStatus").unwrap();
        let v = spec.check_request(
            &status,
            "/repos/acme/gitops/statuses/abc",
            &[],
            Some(&json!({"state": 1, "context": "sealift"})),
        );
        assert!(
            !v.is_empty() && v.iter().all(|e| e.ends_with("at /state")),
            "{file}: {v:?}"
        );
    }
}

#[test]
fn the_contract_oracle_reports_wrong_responses() {
    for (file, _, _, spec) in contracts() {
        let edit = spec.op_by_id("repoEditPullRequest").unwrap();
        let mut pull = spec.filler("repoEditPullRequest", 201).unwrap();
        assert!(spec.check_response(&edit, 201, Some(&pull)).is_empty());
        // Gitea and Forgejo answer an edit with 201; a 200 is not what they declare.
        let v = spec.check_response(&edit, 200, Some(&pull));
        assert!(
            v.len() == 1 && v[0].contains("does not declare status 200"),
            "{file}: {v:?}"
        );
        assert_eq!(
            spec.check_response(&edit, 201, None).len(),
            1,
            "a body is required: {file}"
        );
        pull["number"] = json!("seven");
        pull["state"] = json!(3);
        pull["head"] = json!({"sha": 7});
        let v = spec.check_response(&edit, 201, Some(&pull));
        assert_eq!(v.len(), 3, "{file}: {v:?}");
        for at in ["/number", "/state", "/head"] {
            assert!(v.iter().any(|e| e.ends_with(at)), "{file}: {at}: {v:?}");
        }
        let list = spec.op_by_id("repoListPullRequests").unwrap();
        let v = spec.check_response(&list, 200, Some(&json!({"number": 1})));
        assert_eq!(v.len(), 1, "a list is an array: {file}: {v:?}");
    }
}

#[test]
fn a_required_list_in_a_contract_is_enforced() {
    // The upstream Swagger states no `required` for these types; the contract's list is honoured
    // as soon as it has names (a request missing one, a response missing one).
    let mut contract = spec::contract(GITEA_CONTRACT).unwrap();
    contract["types"]["CreatePullRequestOption"]["required"] = json!(["base", "head"]);
    contract["types"]["PullRequest"]["required"] = json!(["number"]);
    contract["types"]["PullRequest"]["fields"]["merged_at"]["nullable"] = json!(true);
    let upstream = spec::gitea().unwrap();
    let spec = Spec::new(
        "Gitea 1.27 (amended contract)",
        spec::swagger_from_contract(&contract).unwrap(),
    );
    let create = spec.op_by_id("repoCreatePullRequest").unwrap();
    let v = spec.check_request(
        &create,
        "/repos/acme/gitops/pulls",
        &[],
        Some(&json!({"base": "main", "title": "t"})),
    );
    assert!(
        v.len() == 1 && v[0].contains("\"head\" is a required property"),
        "{v:?}"
    );
    // `nullable` is the upstream's x-nullable: the filler then sends null.
    assert!(
        upstream
            .filler_at("PullRequest", &["merged_at"])
            .unwrap()
            .is_string()
    );
    assert_eq!(
        spec.filler_at("PullRequest", &["merged_at"]).unwrap(),
        Value::Null
    );
    let get = spec.op_by_id("repoGetPullRequest").unwrap();
    let mut pull = spec.filler("repoGetPullRequest", 200).unwrap();
    assert_eq!(
        pull,
        json!({"number": 1}),
        "only required fields are filled"
    );
    assert!(spec.check_response(&get, 200, Some(&pull)).is_empty());
    pull.as_object_mut().unwrap().remove("number");
    let v = spec.check_response(&get, 200, Some(&pull));
    assert!(
        v.len() == 1 && v[0].contains("\"number\" is a required property"),
        "{v:?}"
    );
}

#[test]
fn a_malformed_contract_is_an_error_not_a_weaker_oracle() {
    let good = spec::contract(FORGEJO_CONTRACT).unwrap();
    let mut wrong_format = good.clone();
    wrong_format["contract"]["format"] = json!("swagger");
    let mut dangling = good.clone();
    dangling["types"]
        .as_object_mut()
        .unwrap()
        .remove("PRBranchInfo");
    let mut unknown_key = good.clone();
    unknown_key["types"]["Label"]["fields"]["id"]["maximum"] = json!(9);
    for (what, contract) in [
        ("format", wrong_format),
        ("PRBranchInfo", dangling),
        ("maximum", unknown_key),
    ] {
        let e = spec::swagger_from_contract(&contract).unwrap_err();
        assert!(format!("{e:#}").contains(what), "{what}: {e:#}");
    }
}
