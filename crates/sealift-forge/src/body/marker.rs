//! The hidden, machine-readable block at the end of every Sealift pull request body: JSON inside an
//! HTML comment, invisible in the rendered description, parsed back when Sealift adopts a pull
//! request.
//!
//! ```text
//! <!-- sealift:promotion v1
//! {"version":1,"promotion":{"namespace":"shop","name":"catalog-prod"},"from":…,"images":[…]}
//! -->
//! ```
//!
//! The JSON never contains `<`, `>` or `--` (they are written as `\u003c`, `\u003e`, `-\u002d`), so
//! nothing inside can end the comment early. The block must start a line and the **last** one in
//! the body wins: values copied from attestations are rendered on single lines after other text,
//! so they can never forge a block that Sealift would read.

use super::Report;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub(crate) const OPEN: &str = "<!-- sealift:promotion v1";
const CLOSE: &str = "-->";

/// Which promotion a pull request belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionId {
    /// The Promotion's namespace.
    pub namespace: String,
    /// The Promotion's name.
    pub name: String,
}

/// One promoted image in the block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MarkedImage {
    /// The kustomize image name.
    pub name: String,
    /// The verified digest.
    pub digest: String,
    /// The policy, `Kind/[namespace/]name@generation`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// `sha256:` of the evidence record (its JSON as stored in the Promotion's status).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<String>,
}

/// The machine-readable block.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Marker {
    /// Format version, 1.
    pub version: u32,
    /// The promotion that opened the pull request.
    pub promotion: PromotionId,
    /// Source overlay.
    pub from: String,
    /// Target overlay.
    pub to: String,
    /// The commit carrying the change, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// How many images are promoted.
    pub image_count: usize,
    /// `sha256:` over the sorted `name@digest` lines: identifies the promoted set even when the
    /// list below had to be left out to fit the body limit.
    pub images_sha256: String,
    /// The images (left out only when hundreds of long names would not fit).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<MarkedImage>,
}

/// How much the block carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum MarkerDetail {
    Full,
    Lean,
    Aggregate,
}

/// The block for `report`.
pub fn marker(report: &Report<'_>) -> Marker {
    marker_with(report, MarkerDetail::Full)
}

pub(crate) fn marker_with(report: &Report<'_>, detail: MarkerDetail) -> Marker {
    let mut lines: Vec<String> = report
        .images
        .iter()
        .map(|i| format!("{}@{}\n", i.name, i.digest))
        .collect();
    lines.sort();
    let images_sha256 = format!("sha256:{}", hex::encode(Sha256::digest(lines.concat())));
    let images = match detail {
        MarkerDetail::Aggregate => Vec::new(),
        MarkerDetail::Full | MarkerDetail::Lean => report
            .images
            .iter()
            .map(|i| {
                let full = detail == MarkerDetail::Full;
                MarkedImage {
                    name: i.name.clone(),
                    digest: i.digest.clone(),
                    policy: i.evidence.as_ref().filter(|_| full).map(|e| {
                        let p = &e.policy;
                        let ns = p
                            .namespace
                            .as_deref()
                            .map(|n| format!("{n}/"))
                            .unwrap_or_default();
                        let generation = p.generation.map(|g| format!("@{g}")).unwrap_or_default();
                        format!("{}/{ns}{}{generation}", p.kind, p.name)
                    }),
                    evidence: i.evidence.as_ref().filter(|_| full).and_then(|e| {
                        serde_json::to_vec(e)
                            .ok()
                            .map(|json| format!("sha256:{}", hex::encode(Sha256::digest(json))))
                    }),
                }
            })
            .collect(),
    };
    Marker {
        version: 1,
        promotion: PromotionId {
            namespace: report.namespace.to_owned(),
            name: report.name.to_owned(),
        },
        from: report.from.to_owned(),
        to: report.to.to_owned(),
        commit: report.commit.map(str::to_owned),
        image_count: report.images.len(),
        images_sha256,
        images,
    }
}

/// The block as text (no trailing newline).
pub(crate) fn render_marker(marker: &Marker) -> String {
    // Serialising plain strings and numbers cannot fail; an empty object keeps the block valid.
    let json = serde_json::to_string(marker).unwrap_or_else(|_| "{}".to_owned());
    let mut safe = json.replace('<', "\\u003c").replace('>', "\\u003e");
    while safe.contains("--") {
        safe = safe.replace("--", "-\\u002d");
    }
    format!("{OPEN}\n{safe}\n{CLOSE}")
}

/// Reads the last Sealift block of a pull request body, if it has one.
pub fn parse_marker(body: &str) -> Option<Marker> {
    let body = body.replace("\r\n", "\n");
    let start = body
        .match_indices(OPEN)
        .map(|(i, _)| i)
        .filter(|i| *i == 0 || body[..*i].ends_with('\n'))
        .last()?;
    let rest = body[start + OPEN.len()..].strip_prefix('\n')?;
    let end = rest.find(&format!("\n{CLOSE}"))?;
    serde_json::from_str::<Marker>(&rest[..end])
        .ok()
        .filter(|m| m.version == 1)
}
