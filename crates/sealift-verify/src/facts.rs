//! Facts read from well-known predicates for the evidence: provenance source repository, commit
//! and builder id; SBOM format and package count; vulnerability counts by severity. Reading is
//! best effort: a missing field yields no fact, never an error (the CEL policy is what decides).

use serde_json::Value;
use std::collections::BTreeMap;

/// SLSA provenance v0.2.
pub const SLSA_PROVENANCE_V02: &str = "https://slsa.dev/provenance/v0.2";
/// SLSA provenance v1.
pub const SLSA_PROVENANCE_V1: &str = "https://slsa.dev/provenance/v1";
/// SPDX documents (cosign's `spdx` / `spdxjson` types).
pub const SPDX: &str = "https://spdx.dev/Document";
/// CycloneDX BOMs.
pub const CYCLONEDX: &str = "https://cyclonedx.org/bom";
/// cosign's vulnerability scan predicate.
pub const COSIGN_VULN: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";

fn s(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
}

/// `git+https://github.com/acme/app@refs/heads/main` → `https://github.com/acme/app`.
fn source_repository(uri: &str) -> String {
    let uri = uri.strip_prefix("git+").unwrap_or(uri);
    match uri.rsplit_once('@') {
        Some((repo, _)) if repo.contains("://") => repo.to_owned(),
        _ => uri.to_owned(),
    }
}

fn commit_of(digest: &Value) -> Option<String> {
    ["gitCommit", "sha1", "sha256"]
        .iter()
        .find_map(|k| digest.get(*k).and_then(Value::as_str).map(str::to_owned))
}

/// Extracts the facts of a predicate, by predicate type.
pub fn extract(predicate_type: &str, predicate: &Value) -> BTreeMap<String, String> {
    let mut facts = BTreeMap::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            facts.insert(k.to_owned(), v);
        }
    };
    match predicate_type {
        SLSA_PROVENANCE_V02 => {
            put("builderId", s(predicate, "/builder/id"));
            put("buildType", s(predicate, "/buildType"));
            let source = predicate.pointer("/invocation/configSource");
            put(
                "sourceRepository",
                source
                    .and_then(|c| s(c, "/uri"))
                    .map(|u| source_repository(&u)),
            );
            put(
                "sourceCommit",
                source.and_then(|c| c.get("digest")).and_then(commit_of),
            );
        }
        SLSA_PROVENANCE_V1 => {
            put("builderId", s(predicate, "/runDetails/builder/id"));
            put("buildType", s(predicate, "/buildDefinition/buildType"));
            let first_dep = predicate.pointer("/buildDefinition/resolvedDependencies/0");
            let repo = s(
                predicate,
                "/buildDefinition/externalParameters/workflow/repository",
            )
            .or_else(|| {
                first_dep
                    .and_then(|d| s(d, "/uri"))
                    .map(|u| source_repository(&u))
            });
            put("sourceRepository", repo);
            put(
                "sourceCommit",
                first_dep.and_then(|d| d.get("digest")).and_then(commit_of),
            );
        }
        t if t == SPDX || t.starts_with("https://spdx.dev/Document/") => {
            put(
                "sbomFormat",
                Some(s(predicate, "/spdxVersion").unwrap_or_else(|| "SPDX".into())),
            );
            put(
                "packageCount",
                predicate
                    .get("packages")
                    .and_then(Value::as_array)
                    .map(|p| p.len().to_string()),
            );
        }
        t if t == CYCLONEDX || t.starts_with("https://cyclonedx.org/bom/") => {
            let version = s(predicate, "/specVersion");
            put(
                "sbomFormat",
                Some(version.map_or_else(|| "CycloneDX".into(), |v| format!("CycloneDX-{v}"))),
            );
            put(
                "packageCount",
                predicate
                    .get("components")
                    .and_then(Value::as_array)
                    .map(|p| p.len().to_string()),
            );
        }
        COSIGN_VULN => {
            put("scanner", s(predicate, "/scanner/uri"));
            put("scannerVersion", s(predicate, "/scanner/version"));
            for (k, v) in vulnerability_counts(predicate) {
                put(k, Some(v.to_string()));
            }
        }
        _ => {}
    }
    facts
}

/// Counts by severity: a `summary` block (`criticalCount`…), else Trivy's
/// `Results[].Vulnerabilities[].Severity`, else Grype's `matches[].vulnerability.severity`.
fn vulnerability_counts(predicate: &Value) -> Vec<(&'static str, u64)> {
    const LEVELS: [(&str, &str); 5] = [
        ("critical", "criticalCount"),
        ("high", "highCount"),
        ("medium", "mediumCount"),
        ("low", "lowCount"),
        ("unknown", "unknownCount"),
    ];
    let result = predicate.pointer("/scanner/result").unwrap_or(&Value::Null);
    if let Some(summary) = result.get("summary").filter(|v| v.is_object()) {
        return LEVELS
            .iter()
            .filter_map(|(name, key)| {
                summary
                    .get(*key)
                    .and_then(Value::as_u64)
                    .map(|n| (*name, n))
            })
            .collect();
    }
    let mut severities: Vec<String> = Vec::new();
    if let Some(results) = result.get("Results").and_then(Value::as_array) {
        for r in results {
            for v in r
                .get("Vulnerabilities")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                severities.extend(v.get("Severity").and_then(Value::as_str).map(str::to_owned));
            }
        }
    } else if let Some(matches) = result.get("matches").and_then(Value::as_array) {
        for m in matches {
            severities.extend(
                m.pointer("/vulnerability/severity")
                    .and_then(Value::as_str)
                    .map(str::to_owned),
            );
        }
    } else {
        return Vec::new();
    }
    LEVELS
        .iter()
        .map(|(name, _)| {
            let n = severities
                .iter()
                .filter(|s| s.eq_ignore_ascii_case(name))
                .count() as u64;
            (*name, n)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slsa_v1_provenance_names_repository_commit_and_builder() {
        let p = json!({"buildDefinition": {"buildType": "bt",
            "externalParameters": {"workflow": {"repository": "https://github.com/acme/app"}},
            "resolvedDependencies": [{"uri": "git+https://github.com/acme/app@refs/heads/main",
                                      "digest": {"gitCommit": "abc123"}}]},
            "runDetails": {"builder": {"id": "https://github.com/actions/runner"}}});
        let f = extract(SLSA_PROVENANCE_V1, &p);
        assert_eq!(f["sourceRepository"], "https://github.com/acme/app");
        assert_eq!(f["sourceCommit"], "abc123");
        assert_eq!(f["builderId"], "https://github.com/actions/runner");
    }

    #[test]
    fn slsa_v02_provenance_reads_the_config_source() {
        let p = json!({"builder": {"id": "b"}, "invocation": {"configSource": {
            "uri": "git+https://github.com/acme/app@refs/tags/v1", "digest": {"sha1": "deadbeef"}}}});
        let f = extract(SLSA_PROVENANCE_V02, &p);
        assert_eq!(f["sourceRepository"], "https://github.com/acme/app");
        assert_eq!(f["sourceCommit"], "deadbeef");
        assert_eq!(f["builderId"], "b");
    }

    #[test]
    fn sboms_report_their_format_and_package_count() {
        let f = extract(
            SPDX,
            &json!({"spdxVersion": "SPDX-2.3", "packages": [{}, {}]}),
        );
        assert_eq!(
            (f["sbomFormat"].as_str(), f["packageCount"].as_str()),
            ("SPDX-2.3", "2")
        );
        let f = extract(
            CYCLONEDX,
            &json!({"specVersion": "1.5", "components": [{}]}),
        );
        assert_eq!(
            (f["sbomFormat"].as_str(), f["packageCount"].as_str()),
            ("CycloneDX-1.5", "1")
        );
    }

    #[test]
    fn vulnerability_counts_come_from_a_summary_or_trivy_results() {
        let f = extract(
            COSIGN_VULN,
            &json!({"scanner": {"uri": "trivy", "result": {"summary": {"criticalCount": 0, "highCount": 2}}}}),
        );
        assert_eq!((f["critical"].as_str(), f["high"].as_str()), ("0", "2"));
        let f = extract(
            COSIGN_VULN,
            &json!({"scanner": {"result": {"Results": [{"Vulnerabilities": [
                {"Severity": "HIGH"}, {"Severity": "CRITICAL"}, {"Severity": "HIGH"}]}]}}}),
        );
        assert_eq!(
            (
                f["critical"].as_str(),
                f["high"].as_str(),
                f["low"].as_str()
            ),
            ("1", "2", "0")
        );
    }

    #[test]
    fn a_custom_predicate_has_no_facts() {
        assert!(extract("https://example.com/custom", &json!({"a": 1})).is_empty());
    }
}
