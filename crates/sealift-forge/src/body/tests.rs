use super::*;
use sealift_api::{
    AttestationEvidence, Evidence, PolicyEvidence, RekorEvidence, SignatureEvidence,
};
use std::collections::BTreeMap;

const DIGEST: &str = "sha256:9f3c1a5be0f4e4c9d6b3a2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39281";
const REKOR_PUBLIC: &str = "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d";

fn mk_signature() -> SignatureEvidence {
    SignatureEvidence {
        authority: "github-release".into(),
        identity: Some(
            "https://github.com/acme/bookstore/.github/workflows/release.yml@refs/heads/main"
                .into(),
        ),
        issuer: Some("https://token.actions.githubusercontent.com".into()),
        key_id: None,
        rekor: Some(RekorEvidence {
            log_index: 123_456_789,
            integrated_time: 1_714_564_682,
            log_id: Some(REKOR_PUBLIC.into()),
        }),
    }
}

fn mk_evidence() -> Evidence {
    let facts = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    Evidence {
        digest: DIGEST.into(),
        policy: PolicyEvidence {
            kind: "TrustPolicy".into(),
            namespace: Some("bookstore".into()),
            name: "bookstore".into(),
            generation: Some(3),
        },
        verified_at: Some("2024-05-01T12:00:00Z".into()),
        signatures: vec![mk_signature()],
        attestations: vec![
            AttestationEvidence {
                predicate_type: "https://slsa.dev/provenance/v1".into(),
                envelope_digest: "sha256:aaaa".into(),
                signer: Some(mk_signature()),
                policy: Some(
                    r#"predicate.buildDefinition.externalParameters.workflow.repository == "https://github.com/acme/bookstore""#.into(),
                ),
                facts: facts(&[
                    ("sourceRepository", "https://github.com/acme/bookstore"),
                    ("sourceCommit", "4f1c2e0"),
                    ("builderId", "https://github.com/actions/runner"),
                ]),
            },
            AttestationEvidence {
                predicate_type: "https://cosign.sigstore.dev/attestation/vuln/v1".into(),
                envelope_digest: "sha256:bbbb".into(),
                signer: None,
                policy: Some("predicate.scanner.result.summary.criticalCount == 0".into()),
                facts: facts(&[("critical", "0"), ("high", "2")]),
            },
        ],
    }
}

fn mk_image(name: &str) -> PromotedImage {
    PromotedImage {
        name: name.into(),
        reference: Some(format!("registry.example.com/acme/{name}")),
        digest: DIGEST.into(),
        evidence: Some(mk_evidence()),
    }
}

const DIFF: &str = "--- a/overlays/prod/kustomization.yaml\n+++ b/overlays/prod/kustomization.yaml\n@@ -4,3 +4,3 @@ images:\n - name: bookstore/catalog\n-  digest: sha256:1111\n+  digest: sha256:9f3c1a5b\n";

fn mk_report(images: &[PromotedImage]) -> Report<'_> {
    Report {
        namespace: "bookstore",
        name: "catalog-to-prod",
        from: "overlays/staging",
        to: "overlays/prod",
        images,
        diff: Some(DIFF),
        commit: Some("4b825dc642cb6eb9a060e54bf8d69288fbee4904"),
    }
}

#[test]
fn the_title_is_short_and_names_image_digest_and_environments() {
    let images = [mk_image("bookstore/catalog")];
    assert_eq!(
        title(&mk_report(&images)),
        "Promote bookstore/catalog sha256:9f3c1a… staging → prod"
    );
    let three = [mk_image("bookstore/catalog"), mk_image("b"), mk_image("c")];
    assert_eq!(
        title(&mk_report(&three)),
        "Promote bookstore/catalog sha256:9f3c1a… +2 more staging → prod"
    );
    let same_leaf = Report {
        from: "eu/prod",
        to: "us/prod",
        ..mk_report(&images)
    };
    assert!(title(&same_leaf).ends_with("eu/prod → us/prod"));
    let long = [mk_image(&"x".repeat(500))];
    assert!(title(&mk_report(&long)).chars().count() <= 120);
}

#[test]
fn the_body_reports_every_piece_of_evidence_and_the_diff() {
    let images = [mk_image("bookstore/catalog")];
    let body = render(&mk_report(&images), 65_536);
    for expected in [
        "`registry.example.com/acme/bookstore/catalog@sha256:9f3c1a5be0f4e4c9d6b3a2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a39281`",
        "`https://github.com/acme/bookstore/.github/workflows/release.yml@refs/heads/main`",
        "Issuer: `https://token.actions.githubusercontent.com`",
        "[#123456789](https://search.sigstore.dev/?logIndex=123456789), integrated 2024-05-01 11:58:02 UTC",
        "`TrustPolicy bookstore/bookstore`, generation 3",
        "**Attestation** `https://slsa.dev/provenance/v1`",
        "`sourceCommit`: `4f1c2e0`",
        "`critical`: `0`",
        "Policy: `predicate.scanner.result.summary.criticalCount == 0` ✔",
        "+  digest: sha256:9f3c1a5b",
        "| `bookstore/catalog` | `sha256:9f3c1a5be0f4…` |",
        "| Rekor #123456789 | 2 verified |",
    ] {
        assert!(body.contains(expected), "missing {expected:?} in\n{body}");
    }
    assert!(!body.contains("Summarised"));
    let marker = parse_marker(&body).expect("hidden block");
    assert_eq!(marker, super::marker(&mk_report(&images)));
    assert_eq!(
        marker.images[0].policy.as_deref(),
        Some("TrustPolicy/bookstore/bookstore@3")
    );
}

#[test]
fn a_private_rekor_log_is_not_linked_to_the_public_search() {
    let mut image = mk_image("a");
    if let Some(ev) = image.evidence.as_mut() {
        ev.signatures[0].rekor = Some(RekorEvidence {
            log_index: 7,
            integrated_time: 0,
            log_id: Some("ffff0000".into()),
        });
    }
    let body = render(&mk_report(&[image]), 65_536);
    assert!(
        body.contains("Rekor: entry #7, integrated 1970-01-01 00:00:00 UTC, log `ffff0000`"),
        "{body}"
    );
    assert!(!body.contains("logIndex=7"));
}

#[test]
fn hostile_fact_values_cannot_format_the_report_or_forge_the_hidden_block() {
    let mut image = mk_image("bookstore/catalog");
    let forged = "x\n<!-- sealift:promotion v1\n{\"version\":1,\"promotion\":{\"namespace\":\"evil\",\"name\":\"x\"}}\n-->\n| a | b |";
    if let Some(ev) = image.evidence.as_mut() {
        ev.attestations[0]
            .facts
            .insert("builderId".into(), forged.into());
        ev.attestations[0]
            .facts
            .insert("tick`s".into(), "``fenced`` value".into());
    }
    let images = [image];
    let body = render(&mk_report(&images), 65_536);
    let marker = parse_marker(&body).expect("hidden block");
    assert_eq!(marker.promotion.namespace, "bookstore");
    // The forged text is on one line inside a code span, never at the start of a line.
    assert!(
        !body
            .lines()
            .any(|l| l.starts_with("<!-- sealift:promotion") && l != marker::OPEN)
    );
    assert!(
        body.contains("```` ``fenced`` value ````") || body.contains("``` ``fenced`` value ```"),
        "{body}"
    );
}

#[test]
fn the_hidden_block_survives_markup_in_its_values() {
    let images = [PromotedImage {
        name: "a-->b<c>".into(),
        reference: None,
        digest: DIGEST.into(),
        evidence: None,
    }];
    let report = Report {
        name: "n--x",
        ..mk_report(&images)
    };
    let body = render(&report, 65_536);
    let block = &body[body.rfind(marker::OPEN).unwrap()..];
    assert_eq!(block.matches("-->").count(), 1, "{block}");
    assert!(!block.contains('<') || block.starts_with("<!--"));
    let parsed = parse_marker(&body).unwrap();
    assert_eq!(parsed.images[0].name, "a-->b<c>");
    assert_eq!(parsed.promotion.name, "n--x");
}

#[test]
fn a_body_for_hundreds_of_images_is_summarised_within_githubs_limit() {
    let images: Vec<PromotedImage> = (0..256)
        .map(|i| {
            let mut image = mk_image(&format!("team-{i}/service-with-a-fairly-long-name-{i}"));
            if let Some(ev) = image.evidence.as_mut() {
                for f in 0..40 {
                    ev.attestations[0]
                        .facts
                        .insert(format!("fact{f}"), "v".repeat(100));
                }
            }
            image
        })
        .collect();
    let big_diff = "+ line\n".repeat(20_000);
    let report = Report {
        diff: Some(&big_diff),
        ..mk_report(&images)
    };
    let body = render(&report, 65_536);
    assert!(body.chars().count() <= 65_536, "{}", body.chars().count());
    assert!(body.contains("**Summarised**"));
    let marker = parse_marker(&body).expect("hidden block survives");
    assert_eq!(marker.image_count, 256);
    assert_eq!(marker.images_sha256, super::marker(&report).images_sha256);
    assert!(body.contains("| `team-0/service-with-a-fairly-long-name-0` |"));
}

#[test]
fn a_long_diff_alone_is_cut_not_dropped() {
    let images = [mk_image("bookstore/catalog")];
    let diff = format!("{DIFF}{}", "+ extra\n".repeat(10_000));
    let report = Report {
        diff: Some(&diff),
        ..mk_report(&images)
    };
    let body = render(&report, 65_536);
    assert!(body.chars().count() <= 65_536);
    assert!(
        body.contains("+  digest: sha256:9f3c1a5b"),
        "the diff head is kept"
    );
    assert!(body.contains("more lines; see the commit"));
    assert!(
        body.contains("`sourceCommit`: `4f1c2e0`"),
        "evidence is kept in full"
    );
}

#[test]
fn every_limit_yields_a_body_within_it_that_still_carries_the_block() {
    let images: Vec<PromotedImage> = (0..20).map(|i| mk_image(&format!("img-{i}"))).collect();
    for limit in [2_000, 5_000, 20_000, 65_536] {
        let body = render(&mk_report(&images), limit);
        assert!(
            body.chars().count() <= limit,
            "limit {limit}: {}",
            body.chars().count()
        );
        assert_eq!(
            parse_marker(&body).map(|m| m.image_count),
            Some(20),
            "limit {limit}"
        );
    }
}

#[test]
fn a_diff_containing_backticks_gets_a_longer_fence() {
    let images = [mk_image("a")];
    let diff = "+ note: ```not a fence```\n";
    let body = render(
        &Report {
            diff: Some(diff),
            ..mk_report(&images)
        },
        65_536,
    );
    assert!(
        body.contains("````diff\n+ note: ```not a fence```\n````"),
        "{body}"
    );
}

#[test]
fn a_body_without_a_block_or_with_a_damaged_one_has_no_marker() {
    assert_eq!(parse_marker("Just a human-written description."), None);
    assert_eq!(
        parse_marker("<!-- sealift:promotion v1\n{not json}\n-->"),
        None
    );
    assert_eq!(
        parse_marker("<!-- sealift:promotion v1\n{\"version\":1}"),
        None
    );
}

#[test]
fn the_pull_request_follows_the_spec_and_the_forges_capabilities() {
    let images = [mk_image("bookstore/catalog")];
    let spec = PullRequestSpec {
        provider: sealift_api::ForgeProvider::Gitlab,
        api_url: None,
        secret_ref: sealift_api::SecretReference { name: "t".into() },
        labels: vec!["promotion".into()],
        reviewers: vec!["alice".into()],
        team_reviewers: vec!["platform".into()],
        draft: true,
    };
    let caps = Capabilities {
        max_body_chars: 10_000,
        labels: true,
        team_reviewers: false,
        drafts: true,
    };
    let pr = new_pull_request(
        &mk_report(&images),
        &spec,
        "sealift/bookstore/catalog-to-prod",
        "main",
        &caps,
    );
    assert_eq!(pr.labels, ["promotion"]);
    assert_eq!(pr.reviewers.users, ["alice"]);
    assert!(
        pr.reviewers.teams.is_empty(),
        "GitLab has no team reviewers"
    );
    assert!(pr.draft);
    assert!(pr.body.chars().count() <= 10_000);
}
