//! Static contract checks: every field Sealift reads from a forge's response and every field it
//! sends is declared by the forge's own published description (for Gitea and Forgejo: Sealift's
//! contract derived from it), with a compatible type; fields Sealift cannot do without must be
//! required and non-null where the description says so. Plus self-tests showing the checks do
//! fail.

use super::schema::{self, Dialect};
use super::spec::{self, OCTOKIT_OPENAPI_VERSION, Spec};
use sealift_forge::ForgeKind;
use sealift_forge::contract::{Direction, wire_contracts};
use serde_json::{Value, json};

/// Sealift's (schemars) schema without `$ref` and null: (schema, nullable).
fn ours(schema: &Value, defs: &Value) -> (Value, bool) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/$defs/");
        return ours(&defs[name], defs);
    }
    if let Some(branches) = schema.get("anyOf").and_then(Value::as_array) {
        let nullable = branches.iter().any(|b| b["type"] == "null");
        let rest: Vec<&Value> = branches.iter().filter(|b| b["type"] != "null").collect();
        if rest.len() == 1 {
            let (s, n) = ours(rest[0], defs);
            return (s, n || nullable);
        }
    }
    let mut s = schema.clone();
    let mut nullable = false;
    if let Some(types) = schema["type"].as_array() {
        nullable = types.iter().any(|t| t == "null");
        let rest: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        s["type"] = if rest.len() == 1 {
            rest[0].clone()
        } else {
            Value::Array(rest)
        };
    }
    (s, nullable)
}

/// Everything Sealift's schema `mine` needs that the description's schema `theirs` does not give.
pub fn relied(
    spec: &Spec,
    theirs: &Value,
    mine: &Value,
    defs: &Value,
    request: bool,
    path: &str,
    out: &mut Vec<String>,
) {
    let resolve = |v: &Value| spec.resolve(v);
    let (mine, nullable) = ours(mine, defs);
    let their_types = schema::types(theirs, &resolve);
    if let Some(t) = mine["type"].as_str() {
        let compatible = their_types.is_empty()
            || their_types
                .iter()
                .any(|x| x == t || (t == "integer" && x == "number"));
        if !compatible {
            out.push(format!(
                "{}: {path}: Sealift uses {t}, the description says {their_types:?}",
                spec.label
            ));
        }
    }
    if !request && !nullable && their_types.iter().any(|t| t == "null") {
        out.push(format!(
            "{}: {path}: may be null per the description, Sealift cannot read null",
            spec.label
        ));
    }
    if let Some(props) = mine["properties"].as_object() {
        let declared = schema::properties(theirs, &resolve);
        let required: Vec<&str> = mine["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for (name, prop) in props {
            let at = format!("{path}.{name}");
            match declared.iter().find(|(n, _, _)| n == name) {
                None => out.push(format!(
                    "{}: {at}: not declared by the description",
                    spec.label
                )),
                Some((_, their_prop, their_required)) => {
                    if !request
                        && spec.dialect == Dialect::OpenApi3
                        && required.contains(&name.as_str())
                        && !their_required
                        && has_required_lists(spec, theirs)
                    {
                        out.push(format!(
                            "{}: {at}: Sealift requires it, the description does not",
                            spec.label
                        ));
                    }
                    relied(spec, their_prop, prop, defs, request, &at, out);
                }
            }
        }
    }
    if let Some(items) = mine.get("items") {
        match schema::items(theirs, &resolve) {
            Some(their_items) => relied(
                spec,
                &their_items,
                items,
                defs,
                request,
                &format!("{path}[]"),
                out,
            ),
            None => out.push(format!(
                "{}: {path}: Sealift reads an array, the description has none",
                spec.label
            )),
        }
    }
}

/// GitHub marks required fields; a description that states none (GitLab's documentation) cannot
/// be held to requiredness.
fn has_required_lists(spec: &Spec, theirs: &Value) -> bool {
    let resolved = spec.resolve(theirs);
    resolved.get("required").is_some()
        || ["allOf", "anyOf", "oneOf"].iter().any(|k| {
            resolved
                .get(*k)
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|p| spec.resolve(p).get("required").is_some()))
        })
}

fn check(forge: ForgeKind, specs: &[std::sync::Arc<Spec>]) -> Vec<String> {
    let mut out = Vec::new();
    let contracts = wire_contracts(forge);
    assert!(!contracts.is_empty());
    for spec in specs {
        for c in &contracts {
            let Some(op) = spec.op_by_id(c.operation) else {
                if !spec.partial {
                    out.push(format!("{}: no operation {}", spec.label, c.operation));
                }
                continue;
            };
            let theirs = match c.direction {
                Direction::Request => spec.request_schema(&op),
                Direction::Response(status) => spec.response_schema(&op, status),
            };
            let Some(theirs) = theirs else {
                out.push(format!(
                    "{}: {} {:?}: no schema to check against",
                    spec.label, c.operation, c.direction
                ));
                continue;
            };
            let request = c.direction == Direction::Request;
            // The body as a whole: a request schema that is a oneOf (GitHub's add-labels) must
            // accept Sealift's shape in one branch.
            let branches: Vec<Value> =
                match spec.resolve(&theirs).get("oneOf").and_then(Value::as_array) {
                    Some(branches) if request => branches.clone(),
                    _ => vec![theirs.clone()],
                };
            let failures: Vec<Vec<String>> = branches
                .iter()
                .map(|branch| {
                    let mut v = Vec::new();
                    relied(
                        spec,
                        branch,
                        &c.schema,
                        &c.schema["$defs"],
                        request,
                        &format!("{} {:?}", c.operation, c.direction),
                        &mut v,
                    );
                    v
                })
                .collect();
            if failures.iter().all(|f| !f.is_empty()) {
                out.extend(failures.into_iter().next().unwrap_or_default());
            }
        }
    }
    out
}

#[test]
fn every_field_sealift_reads_or_sends_on_github_is_in_githubs_published_description() {
    let v = check(
        ForgeKind::GitHub,
        &[
            spec::github_octokit().unwrap(),
            spec::github_enterprise().unwrap(),
        ],
    );
    assert!(v.is_empty(), "{}", v.join("\n"));
}

#[test]
fn every_field_sealift_reads_or_sends_on_gitea_is_in_giteas_contract() {
    let v = check(ForgeKind::Gitea, &[spec::gitea().unwrap()]);
    assert!(v.is_empty(), "{}", v.join("\n"));
}

#[test]
fn every_field_sealift_reads_or_sends_on_forgejo_is_in_forgejos_contract() {
    let v = check(ForgeKind::Forgejo, &[spec::forgejo().unwrap()]);
    assert!(v.is_empty(), "{}", v.join("\n"));
}

#[test]
fn every_field_sealift_reads_or_sends_on_gitlab_is_among_gitlabs_documented_fields() {
    let v = check(ForgeKind::GitLab, &[spec::gitlab_documented().unwrap()]);
    assert!(v.is_empty(), "{}", v.join("\n"));
}

#[test]
fn the_field_check_catches_an_undeclared_field_a_wrong_type_and_an_unsafe_non_null() {
    let spec = spec::github_octokit().unwrap();
    let pull = json!({"$ref": "#/components/schemas/pull-request"});
    let mine = json!({
        "type": "object",
        "properties": {
            "number": {"type": "string"},
            "merged_by_bot": {"type": "boolean"},
            "merge_commit_sha": {"type": "string"},
            "title": {"type": "string"}
        },
        "required": ["number", "merge_commit_sha", "title"]
    });
    let mut v = Vec::new();
    relied(&spec, &pull, &mine, &json!({}), false, "pull", &mut v);
    let joined = v.join("\n");
    assert!(
        joined.contains("pull.number: Sealift uses string"),
        "{joined}"
    );
    assert!(
        joined.contains("pull.merged_by_bot: not declared"),
        "{joined}"
    );
    assert!(
        joined.contains("pull.merge_commit_sha: may be null"),
        "{joined}"
    );
    assert_eq!(v.len(), 3, "{joined}");
    let mut ok = Vec::new();
    let optional = json!({"type": "object", "properties": {"draft": {"type": ["boolean", "null"]}}, "required": ["draft"]});
    relied(&spec, &pull, &optional, &json!({}), false, "pull", &mut ok);
    assert_eq!(
        ok,
        [format!(
            "{}: pull.draft: Sealift requires it, the description does not",
            spec.label
        )]
    );
}

#[test]
fn githubs_create_operation_rejects_labels_it_would_silently_ignore() {
    let spec = spec::github_octokit().unwrap();
    let op = spec.op_by_id("pulls/create").unwrap();
    let body =
        json!({"title": "t", "head": "h", "base": "main", "body": "b", "labels": ["promotion"]});
    let v = spec.check_request(&op, "/repos/acme/gitops/pulls", &[], Some(&body));
    assert_eq!(v.len(), 1, "{v:?}");
    assert!(v[0].contains("labels"), "{v:?}");
    let missing_head = json!({"title": "t", "base": "main"});
    assert!(
        !spec
            .check_request(&op, "/repos/acme/gitops/pulls", &[], Some(&missing_head))
            .is_empty()
    );
}

#[test]
fn the_request_check_catches_undeclared_and_mistyped_parameters_and_wrong_paths() {
    let gitea = spec::gitea().unwrap();
    let op = gitea.op_by_id("repoListPullRequests").unwrap();
    let q = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    assert!(
        gitea
            .check_request(
                &op,
                "/repos/a/b/pulls",
                &q(&[("state", "open"), ("base_branch", "main")]),
                None
            )
            .is_empty()
    );
    let v = gitea.check_request(
        &op,
        "/repos/a/b/pulls",
        &q(&[("base", "main"), ("state", "merged"), ("page", "two")]),
        None,
    );
    assert_eq!(
        v.len(),
        3,
        "Forgejo's `base` is not Gitea's; `merged` is no state; page is an integer: {v:?}"
    );
    let v = gitea.check_request(&op, "/repos/a/b/pull", &[], None);
    assert_eq!(v.len(), 1, "{v:?}");
}

#[test]
fn the_response_check_catches_a_missing_required_field_and_a_wrong_type() {
    let spec = spec::github_octokit().unwrap();
    let op = spec.op_by_id("pulls/get").unwrap();
    let mut pull = spec.filler(&op.id, 200).unwrap();
    assert!(
        spec.check_response(&op, 200, Some(&pull)).is_empty(),
        "the filler itself is valid"
    );
    pull.as_object_mut().unwrap().remove("number");
    pull["state"] = json!(7);
    let v = spec.check_response(&op, 200, Some(&pull));
    assert!(
        v.iter()
            .any(|e| e.contains("\"number\" is a required property")),
        "{v:?}"
    );
    assert!(
        v.iter()
            .any(|e| e.contains("7 is not of type \"string\" at /state")),
        "{v:?}"
    );
    assert!(
        v.iter()
            .all(|e| e.contains("/state") || e.contains("number")),
        "{v:?}"
    );
    assert!(
        spec.check_response(&op, 201, Some(&pull))
            .iter()
            .any(|e| e.contains("does not declare status 201"))
    );
}

#[test]
fn swagger_responses_may_carry_null_where_go_pointers_are_nil_but_nothing_else_is_relaxed() {
    let forgejo = spec::forgejo().unwrap();
    let op = forgejo.op_by_id("repoGetPullRequest").unwrap();
    let mut pull = forgejo.filler(&op.id, 200).unwrap();
    pull["merged_at"] = Value::Null;
    pull["merge_commit_sha"] = Value::Null;
    assert!(forgejo.check_response(&op, 200, Some(&pull)).is_empty());
    pull["number"] = json!("seven");
    assert_eq!(forgejo.check_response(&op, 200, Some(&pull)).len(), 1);
}

#[test]
fn the_github_description_is_the_pinned_octokit_release() {
    let dir = spec::octokit_dir();
    let package: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("package.json")).unwrap()).unwrap();
    assert_eq!(package["name"], "@octokit/openapi");
    assert_eq!(package["version"], OCTOKIT_OPENAPI_VERSION);
    assert_eq!(
        spec::github_octokit().unwrap().doc["info"]["version"]
            .as_str()
            .map(|v| !v.is_empty()),
        Some(true)
    );
}

/// The published description itself states the `owner:branch` format the quirk test pins.
#[test]
fn githubs_description_documents_the_owner_branch_head_filter() {
    let spec = spec::github_octokit().unwrap();
    let list = &spec.doc["paths"]["/repos/{owner}/{repo}/pulls"]["get"]["parameters"];
    let head = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "head")
        .unwrap();
    assert!(
        head["description"]
            .as_str()
            .unwrap()
            .contains("user:ref-name"),
        "{head}"
    );
}
