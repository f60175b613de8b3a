//! The pull request a platform engineer approves: a short, stable title and a body that reports
//! what verification proved — image, digest, signer and issuer, Rekor entry, each attestation with
//! its checked facts, the overlay diff — followed by a hidden machine-readable block
//! ([`marker`]).
//!
//! The body always fits the forge's limit ([`Capabilities::max_body_chars`]; GitHub: 65,536
//! characters). When the full report is too long it is summarised step by step — the diff is cut,
//! then dropped, then facts are capped, then per-image sections give way to the summary table,
//! which is finally capped — and says so. The hidden block always survives.

mod markdown;
mod marker;
#[cfg(test)]
mod tests;

pub use marker::{MarkedImage, Marker, PromotionId, marker, parse_marker};

use crate::model::{Capabilities, NewPullRequest, Reviewers};
use markdown::{SUMMARY_HEADER, code, diff_block, image_section, summary_row, truncated_diff};
use marker::{MarkerDetail, marker_with, render_marker};
use sealift_api::{PromotedImage, PullRequestSpec};
use std::fmt::Write;

/// What a promotion pull request reports.
#[derive(Clone, Copy, Debug)]
pub struct Report<'a> {
    /// The Promotion's namespace.
    pub namespace: &'a str,
    /// The Promotion's name.
    pub name: &'a str,
    /// Source overlay path, e.g. `overlays/staging`.
    pub from: &'a str,
    /// Target overlay path, e.g. `overlays/prod`.
    pub to: &'a str,
    /// The images promoted, each with its evidence (`Promotion.status.images`).
    pub images: &'a [PromotedImage],
    /// Unified diff of the target kustomization.
    pub diff: Option<&'a str>,
    /// The commit carrying the change.
    pub commit: Option<&'a str>,
}

/// Longest title; GitHub allows 256, GitLab 255.
const MAX_TITLE_CHARS: usize = 120;

/// `Promote bookstore/catalog sha256:9f3c1a… staging → prod` (`+N more` for several images).
/// Stable: the same promotion always gets the same title.
pub fn title(report: &Report<'_>) -> String {
    let (from, to) = environments(report.from, report.to);
    let what = match report.images {
        [] => String::new(),
        [first, rest @ ..] => {
            let name = crate::secret::truncate_chars(&first.name, 60);
            let more = if rest.is_empty() {
                String::new()
            } else {
                format!(" +{} more", rest.len())
            };
            format!("{name} {}{more} ", markdown::short_digest(&first.digest, 6))
        }
    };
    crate::secret::truncate_chars(&format!("Promote {what}{from} → {to}"), MAX_TITLE_CHARS)
}

/// Short environment names: the overlays' last path segments, or the full paths when those are
/// the same (`a/prod` → `b/prod`).
fn environments<'a>(from: &'a str, to: &'a str) -> (&'a str, &'a str) {
    let last = |p: &'a str| p.trim_end_matches('/').rsplit('/').next().unwrap_or(p);
    if last(from) == last(to) {
        (from, to)
    } else {
        (last(from), last(to))
    }
}

/// The pull request to open for `report`, per the Promotion's `spec.pullRequest`.
pub fn new_pull_request(
    report: &Report<'_>,
    spec: &PullRequestSpec,
    head: &str,
    base: &str,
    caps: &Capabilities,
) -> NewPullRequest {
    NewPullRequest {
        head: head.to_owned(),
        base: base.to_owned(),
        title: title(report),
        body: render(report, caps.max_body_chars),
        labels: if caps.labels {
            spec.labels.clone()
        } else {
            Vec::new()
        },
        reviewers: Reviewers {
            users: spec.reviewers.clone(),
            teams: if caps.team_reviewers {
                spec.team_reviewers.clone()
            } else {
                Vec::new()
            },
        },
        draft: spec.draft && caps.drafts,
    }
}

/// How much of the report to show.
#[derive(Clone, Copy, Debug)]
struct Detail {
    diff: DiffMode,
    max_facts: Option<usize>,
    sections: bool,
    table_rows: Option<usize>,
}

#[derive(Clone, Copy, Debug)]
enum DiffMode {
    Full,
    Cut(usize),
    Omitted,
}

const FULL: Detail = Detail {
    diff: DiffMode::Full,
    max_facts: None,
    sections: true,
    table_rows: None,
};

/// The report, within `max_chars` characters, ending with the hidden block.
pub fn render(report: &Report<'_>, max_chars: usize) -> String {
    // The block first: it must always fit, so it gets at most a quarter of the budget.
    let block = [
        MarkerDetail::Full,
        MarkerDetail::Lean,
        MarkerDetail::Aggregate,
    ]
    .into_iter()
    .map(|d| render_marker(&marker_with(report, d)))
    .find(|b| chars(b) <= max_chars / 4)
    .unwrap_or_else(|| render_marker(&marker_with(report, MarkerDetail::Aggregate)));
    let budget = max_chars.saturating_sub(chars(&block) + 2);

    let full = visible(report, FULL, false);
    if chars(&full) <= budget {
        return format!("{full}\n{block}\n");
    }
    let mut candidates = Vec::new();
    if let Some(diff) = report.diff {
        let without = chars(&visible(
            report,
            Detail {
                diff: DiffMode::Omitted,
                ..FULL
            },
            true,
        ));
        let room = budget.saturating_sub(without + 200);
        if room >= 400 && room < chars(diff) {
            candidates.push(Detail {
                diff: DiffMode::Cut(room),
                ..FULL
            });
        }
    }
    let no_diff = Detail {
        diff: DiffMode::Omitted,
        ..FULL
    };
    candidates.push(no_diff);
    candidates.push(Detail {
        max_facts: Some(5),
        ..no_diff
    });
    candidates.push(Detail {
        sections: false,
        ..no_diff
    });
    for detail in candidates {
        let text = visible(report, detail, true);
        if chars(&text) <= budget {
            return format!("{text}\n{block}\n");
        }
    }
    // Cap the summary table: halve the rows until it fits.
    let mut rows = report.images.len();
    while rows > 1 {
        rows /= 2;
        let text = visible(
            report,
            Detail {
                sections: false,
                table_rows: Some(rows),
                ..no_diff
            },
            true,
        );
        if chars(&text) <= budget {
            return format!("{text}\n{block}\n");
        }
    }
    // Last resort: cut the text itself (only reachable with absurdly small limits).
    let text = visible(
        report,
        Detail {
            sections: false,
            table_rows: Some(1),
            ..no_diff
        },
        true,
    );
    let cut = crate::secret::truncate_chars(&text, budget.saturating_sub(1));
    format!("{cut}\n{block}\n")
}

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn visible(report: &Report<'_>, detail: Detail, summarised: bool) -> String {
    let mut s = String::new();
    let target = format!("{}/kustomization.yaml", report.to.trim_end_matches('/'));
    let _ = writeln!(
        s,
        "### Sealift promotion {} → {}\n",
        code(report.from),
        code(report.to)
    );
    let _ = writeln!(
        s,
        "Sealift verified every image below against its trust policy before writing it to {}. \
         Approving this pull request deploys exactly these digests.\n",
        code(&target)
    );
    if summarised {
        let _ = writeln!(
            s,
            "> **Summarised** to fit the forge's limit on description length. The complete \
             evidence is in the Promotion's status: `kubectl get promotion -n {} {} -o yaml`.\n",
            sanitize_name(report.namespace),
            sanitize_name(report.name)
        );
    }
    s.push_str(SUMMARY_HEADER);
    let rows = detail.table_rows.unwrap_or(report.images.len());
    for image in report.images.iter().take(rows) {
        s.push_str(&summary_row(image));
    }
    if report.images.len() > rows {
        let _ = writeln!(s, "\n… and {} more images.", report.images.len() - rows);
    }
    s.push('\n');
    if detail.sections {
        s.push_str("<details open><summary>Evidence per image</summary>\n\n");
        for image in report.images {
            s.push_str(&image_section(image, detail.max_facts));
        }
        s.push_str("</details>\n\n");
    }
    if let Some(diff) = report.diff {
        let _ = writeln!(s, "#### Change to {}\n", code(&target));
        match detail.diff {
            DiffMode::Full => s.push_str(&diff_block(diff)),
            DiffMode::Cut(budget) => match truncated_diff(diff, budget) {
                Some(cut) => s.push_str(&diff_block(&cut)),
                None => s.push_str("Diff left out to fit the limit; see the commit.\n"),
            },
            DiffMode::Omitted => s.push_str("Diff left out to fit the limit; see the commit.\n"),
        }
        s.push('\n');
    }
    let commit = report
        .commit
        .map(|c| format!(" · commit {}", code(c)))
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "<sub>Promotion {}{commit} · opened by Sealift</sub>",
        code(&format!("{}/{}", report.namespace, report.name))
    );
    s
}

/// Kubernetes names are DNS labels; anything else is dropped so the hint stays a valid command.
fn sanitize_name(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.'))
        .collect()
}
