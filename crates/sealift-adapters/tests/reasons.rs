//! Every reason Sealift writes into a condition, an Event or a metric label is one of
//! `sealift_api::conditions::reasons::ALL`: the mappings name constants, never string literals,
//! so renaming a category cannot silently change what users see.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use sealift_adapters::git::to_step;
use sealift_api::conditions::reasons;
use sealift_core::StepError;
use sealift_gitops::GitError;
use std::path::Path;

fn reason(e: &StepError) -> &'static str {
    match e {
        StepError::Rejected { reason, .. } | StepError::Failed { reason, .. } => reason,
    }
}

#[test]
fn every_git_failure_maps_to_a_listed_reason_and_transience_comes_from_gitops() {
    let s = || "x".to_owned();
    let samples = [
        GitError::AuthFailed { url: s() },
        GitError::BranchNotFound {
            url: s(),
            branch: s(),
        },
        GitError::OverlayNotFound {
            path: s(),
            branch: s(),
        },
        GitError::KustomizationNotFound { path: s() },
        GitError::PathEscape {
            path: s(),
            reason: s(),
        },
        GitError::RetriesExhausted {
            branch: s(),
            attempts: 3,
            last: s(),
        },
        GitError::Rejected {
            refname: s(),
            message: s(),
        },
        GitError::NotText { path: s() },
        GitError::InvalidCredentials(s()),
        GitError::Cache {
            path: s(),
            message: s(),
        },
        GitError::Transport {
            url: s(),
            message: s(),
        },
        GitError::Git(git2::Error::from_str("boom")),
    ];
    for e in &samples {
        let step = to_step(e);
        assert!(reasons::is_known(reason(&step)), "{e:?} → {step:?}");
        match step {
            StepError::Failed { transient, .. } => assert_eq!(transient, e.is_transient(), "{e:?}"),
            StepError::Rejected { .. } => {
                assert!(!e.is_transient(), "{e:?} is rejected, not retried")
            }
        }
    }
}

#[test]
fn the_reason_list_has_no_duplicates_and_every_reason_is_camel_case() {
    let mut seen = std::collections::BTreeSet::new();
    for r in reasons::ALL {
        assert!(seen.insert(*r), "{r} listed twice");
        assert!(
            r.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && r.chars().all(|c| c.is_ascii_alphanumeric()),
            "{r} is not CamelCase"
        );
    }
}

/// Source files whose reason-producing code must name `reasons::` constants.
const MAPPERS: &[&str] = &[
    "crates/sealift-core/src",
    "crates/sealift-adapters/src",
    "crates/sealift-controller/src",
    "crates/sealift-verify/src/error.rs",
];

#[test]
fn no_mapping_writes_a_reason_as_a_string_literal() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut files = Vec::new();
    for m in MAPPERS {
        let p = root.join(m);
        if p.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                let path = e.unwrap().path();
                if path.extension().is_some_and(|x| x == "rs") {
                    files.push(path);
                }
            }
        } else {
            files.push(p);
        }
    }
    assert!(files.len() > 10, "found the sources: {files:?}");
    let mut offenders = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        // Unit tests inside a file may use literals to check what users see.
        let product = text.split("#[cfg(test)]").next().unwrap_or("");
        for (i, line) in product.lines().enumerate() {
            let t = line.trim_start();
            if t.starts_with("reason: \"") {
                offenders.push(format!("{}:{}: {t}", f.display(), i + 1));
            }
        }
        if let Some(start) = product.find("fn category(&self)") {
            let body = &product[start..];
            let body = &body[..body.find("\n    }\n").unwrap_or(body.len())];
            for line in body.lines().filter(|l| l.contains("=> \"")) {
                offenders.push(format!("{}: category: {}", f.display(), line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "reasons as literals:\n{}",
        offenders.join("\n")
    );
}
