//! Markdown pieces of the evidence report. Every value that comes from an artifact (identities,
//! facts, predicate types, policy expressions) is untrusted: it goes into a code span on one line,
//! cut to a bounded length, with backticks fenced and table pipes escaped, so it can neither
//! format the report nor break out of it.

use sealift_api::{AttestationEvidence, Evidence, PromotedImage, RekorEvidence, SignatureEvidence};
use std::fmt::Write;

/// The public Sigstore Rekor log (rekor.sigstore.dev); only its entries get a search link.
const PUBLIC_REKOR_LOG_ID: &str =
    "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d";

/// Longest untrusted value shown.
const MAX_VALUE_CHARS: usize = 200;

/// An inline code span that renders `value` literally.
pub(crate) fn code(value: &str) -> String {
    code_max(value, MAX_VALUE_CHARS)
}

pub(crate) fn code_max(value: &str, max: usize) -> String {
    let one_line: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let shown = crate::secret::truncate_chars(one_line.trim(), max);
    let longest_run = shown.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run + 1);
    let pad = if shown.starts_with('`') || shown.ends_with('`') || shown.is_empty() {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{shown}{pad}{fence}")
}

/// A code span inside a table cell: pipes would end the cell, even inside code.
pub(crate) fn cell(value: &str, max: usize) -> String {
    code_max(value, max).replace('|', "\\|")
}

/// `sha256:9f3c1a2b3c4d…` style abbreviation: the algorithm and the first `hex` digits.
pub(crate) fn short_digest(digest: &str, hex: usize) -> String {
    match digest
        .split_once(':')
        .and_then(|(alg, h)| Some((alg, h.get(..hex)?, h.len())))
    {
        Some((alg, prefix, len)) if len > hex => format!("{alg}:{prefix}…"),
        _ => digest.to_owned(),
    }
}

pub(crate) fn utc(unix: i64) -> String {
    chrono::DateTime::from_timestamp(unix, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| format!("{unix} (Unix time)"))
}

fn signer(sig: &SignatureEvidence) -> String {
    match (&sig.identity, &sig.key_id) {
        (Some(identity), _) => identity.clone(),
        (None, Some(key)) => format!("key {key}"),
        (None, None) => format!("authority {}", sig.authority),
    }
}

fn rekor(entry: &RekorEvidence) -> String {
    let public = entry.log_id.as_deref() == Some(PUBLIC_REKOR_LOG_ID);
    let index = if public {
        format!(
            "[#{0}](https://search.sigstore.dev/?logIndex={0})",
            entry.log_index
        )
    } else {
        format!("#{}", entry.log_index)
    };
    let log = entry
        .log_id
        .as_deref()
        .map(|id| format!(", log {}", code(&crate::secret::truncate_chars(id, 13))))
        .unwrap_or_default();
    format!(
        "entry {index}, integrated {}{log}",
        utc(entry.integrated_time)
    )
}

/// One summary-table row.
pub(crate) fn summary_row(image: &PromotedImage) -> String {
    let (signed_by, log, attestations) = match &image.evidence {
        Some(ev) => {
            let signed_by = match ev.signatures.as_slice() {
                [] => "—".to_owned(),
                [one] => cell(&signer(one), 80),
                [one, rest @ ..] => format!("{} +{}", cell(&signer(one), 80), rest.len()),
            };
            let log = ev
                .signatures
                .iter()
                .find_map(|s| s.rekor.as_ref())
                .map(|r| format!("Rekor #{}", r.log_index))
                .unwrap_or_else(|| "—".to_owned());
            (
                signed_by,
                log,
                format!("{} verified", ev.attestations.len()),
            )
        }
        None => ("evidence not recorded".into(), "—".into(), "—".into()),
    };
    format!(
        "| {} | {} | {signed_by} | {log} | {attestations} |\n",
        cell(&image.name, 80),
        cell(&short_digest(&image.digest, 12), 30),
    )
}

pub(crate) const SUMMARY_HEADER: &str = "| Image | Digest | Signed by | Transparency log | Attestations |\n| --- | --- | --- | --- | --- |\n";

/// The detailed section for one image. `max_facts` caps the facts listed per attestation.
pub(crate) fn image_section(image: &PromotedImage, max_facts: Option<usize>) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "#### {}\n", code(&image.name));
    let reference = image.reference.as_deref().unwrap_or(&image.name);
    let _ = writeln!(
        s,
        "- **Image:** {}",
        code_max(&format!("{reference}@{}", image.digest), 600)
    );
    let Some(ev) = &image.evidence else {
        s.push_str("- **Evidence:** not recorded\n\n");
        return s;
    };
    policy_lines(&mut s, ev);
    for sig in &ev.signatures {
        let _ = writeln!(s, "- **Signature** (authority {})", code(&sig.authority));
        signature_lines(&mut s, sig, "  ");
    }
    for att in &ev.attestations {
        attestation_lines(&mut s, att, max_facts);
    }
    s.push('\n');
    s
}

fn policy_lines(s: &mut String, ev: &Evidence) {
    let p = &ev.policy;
    let name = match &p.namespace {
        Some(ns) => format!("{} {ns}/{}", p.kind, p.name),
        None => format!("{} {}", p.kind, p.name),
    };
    let generation = p
        .generation
        .map(|g| format!(", generation {g}"))
        .unwrap_or_default();
    let _ = writeln!(s, "- **Trust policy:** {}{generation}", code(&name));
    if let Some(at) = &ev.verified_at {
        let _ = writeln!(s, "- **Verified at:** {}", code(at));
    }
}

fn signature_lines(s: &mut String, sig: &SignatureEvidence, indent: &str) {
    if let Some(identity) = &sig.identity {
        let _ = writeln!(s, "{indent}- Signer: {}", code(identity));
    }
    if let Some(issuer) = &sig.issuer {
        let _ = writeln!(s, "{indent}- Issuer: {}", code(issuer));
    }
    if let Some(key) = &sig.key_id {
        let _ = writeln!(s, "{indent}- Key: {}", code(key));
    }
    match &sig.rekor {
        Some(entry) => {
            let _ = writeln!(s, "{indent}- Rekor: {}", rekor(entry));
        }
        None => {
            let _ = writeln!(s, "{indent}- Rekor: not checked");
        }
    }
}

fn attestation_lines(s: &mut String, att: &AttestationEvidence, max_facts: Option<usize>) {
    let _ = writeln!(s, "- **Attestation** {}", code(&att.predicate_type));
    let _ = writeln!(s, "  - Envelope: {}", code(&att.envelope_digest));
    if let Some(sig) = &att.signer {
        let _ = writeln!(s, "  - Signed by {}", code(&signer(sig)));
        if let Some(issuer) = &sig.issuer {
            let _ = writeln!(s, "    - Issuer: {}", code(issuer));
        }
        if let Some(entry) = &sig.rekor {
            let _ = writeln!(s, "    - Rekor: {}", rekor(entry));
        }
    }
    if let Some(policy) = &att.policy {
        let _ = writeln!(s, "  - Policy: {} ✔", code_max(policy, 400));
    }
    if att.facts.is_empty() {
        return;
    }
    s.push_str("  - Checked facts:\n");
    let limit = max_facts.unwrap_or(usize::MAX);
    for (key, value) in att.facts.iter().take(limit) {
        let _ = writeln!(s, "    - {}: {}", code_max(key, 80), code(value));
    }
    if att.facts.len() > limit {
        let _ = writeln!(s, "    - … {} more facts", att.facts.len() - limit);
    }
}

/// A fenced diff block; the fence is longer than any backtick run inside.
pub(crate) fn diff_block(diff: &str) -> String {
    let longest_run = diff.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run.max(2) + 1);
    let body = diff.trim_end_matches('\n');
    format!("{fence}diff\n{body}\n{fence}\n")
}

/// The first lines of `diff` that fit in `budget` characters, with a note of what was left out.
pub(crate) fn truncated_diff(diff: &str, budget: usize) -> Option<String> {
    let lines: Vec<&str> = diff.lines().collect();
    let mut used = 0;
    let mut kept = 0;
    for line in &lines {
        let len = line.chars().count() + 1;
        if used + len > budget {
            break;
        }
        used += len;
        kept += 1;
    }
    if kept == 0 {
        return None;
    }
    let mut out = lines[..kept].join("\n");
    let _ = write!(out, "\n… {} more lines; see the commit", lines.len() - kept);
    Some(out)
}
