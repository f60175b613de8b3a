//! Sigstore bundles (`application/vnd.dev.sigstore.bundle.v0.3+json`, and the v0.1/v0.2 forms
//! with a certificate chain), as `cosign sign/attest --new-bundle-format` attaches them to an
//! image through OCI referrers.
//!
//! A DSSE bundle is turned into the equivalent cosign `.att` layer (envelope, certificate, Rekor
//! bundle) so it goes through exactly the same checks, plus what only a bundle carries: the
//! Merkle inclusion proof and the log's signed checkpoint (the sigstore crate's standalone bundle
//! verifier checks neither, nor the SET; here all three are checked).

use crate::dsse::decode_base64;
use crate::error::VerifyError;
use crate::fetch::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, CosignLayer, DSSE_MEDIA_TYPE,
};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// The OCI artifact/layer media type of a v0.3 bundle.
pub const BUNDLE_V03_MEDIA_TYPE: &str = "application/vnd.dev.sigstore.bundle.v0.3+json";
/// Annotation carrying a bundle's inclusion proof on the converted layer (internal).
pub(crate) const INCLUSION_PROOF_ANNOTATION: &str = "dev.sealift/inclusion-proof";
/// The predicate type of a cosign image signature made as a bundle.
pub const COSIGN_SIGN_PREDICATE: &str = "https://sigstore.dev/cosign/sign/v1";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawBundle {
    media_type: String,
    verification_material: RawMaterial,
    #[serde(default)]
    dsse_envelope: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMaterial {
    #[serde(default)]
    certificate: Option<RawCert>,
    #[serde(default)]
    x509_certificate_chain: Option<RawChain>,
    #[serde(default)]
    tlog_entries: Vec<RawEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCert {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct RawChain {
    certificates: Vec<RawCert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEntry {
    log_index: Value,
    log_id: RawLogId,
    integrated_time: Value,
    #[serde(default)]
    inclusion_promise: Option<RawPromise>,
    #[serde(default)]
    inclusion_proof: Option<Value>,
    canonicalized_body: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPromise {
    signed_entry_timestamp: String,
}

/// Protobuf JSON writes int64 as a string.
fn int64(v: &Value, what: &str) -> Result<i64, String> {
    match v {
        Value::String(s) => s.parse().map_err(|_| format!("{what} is not an integer")),
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| format!("{what} is not an integer")),
        _ => Err(format!("{what} is not an integer")),
    }
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Converts a DSSE Sigstore bundle into the equivalent cosign attestation layer.
pub fn bundle_to_layer(bytes: &[u8]) -> Result<CosignLayer, VerifyError> {
    let what = format!(
        "Sigstore bundle sha256:{}",
        hex::encode(Sha256::digest(bytes))
    );
    let malformed = |reason: String| VerifyError::malformed(&what, reason);
    let raw: RawBundle = serde_json::from_slice(bytes)
        .map_err(|e| malformed(format!("not a Sigstore bundle: {e}")))?;
    if !raw
        .media_type
        .starts_with("application/vnd.dev.sigstore.bundle")
    {
        return Err(malformed(format!(
            "unexpected mediaType {:?}",
            raw.media_type
        )));
    }
    let env = raw
        .dsse_envelope
        .ok_or_else(|| malformed("only DSSE bundles are supported (no dsseEnvelope)".into()))?;
    // Rekor's canonical envelope: what its `dsse` entry hashes, and what the layer holds.
    let mut signatures = Vec::new();
    for s in env
        .get("signatures")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut o = serde_json::Map::new();
        if let Some(k) = s
            .get("keyid")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
        {
            o.insert("keyid".into(), json!(k));
        }
        o.insert("sig".into(), s.get("sig").cloned().unwrap_or(Value::Null));
        signatures.push(Value::Object(o));
    }
    let envelope = json!({"payload": env.get("payload"), "payloadType": env.get("payloadType"),
                          "signatures": signatures});
    let data = serde_json::to_vec(&envelope).map_err(|e| malformed(e.to_string()))?;

    let material = raw.verification_material;
    let mut certs = match (material.certificate, material.x509_certificate_chain) {
        (Some(c), _) => vec![c],
        (None, Some(chain)) => chain.certificates,
        (None, None) => {
            return Err(malformed(
                "no certificate (key-based bundles are not supported)".into(),
            ));
        }
    };
    if certs.is_empty() {
        return Err(malformed("an empty certificate chain".into()));
    }
    let leaf = decode_base64(&certs.remove(0).raw_bytes)
        .map_err(|e| malformed(format!("certificate: {e}")))?;
    let mut annotations = BTreeMap::new();
    annotations.insert(CERTIFICATE_ANNOTATION.to_owned(), pem("CERTIFICATE", &leaf));
    if !certs.is_empty() {
        let mut chain = String::new();
        for c in certs {
            let der = decode_base64(&c.raw_bytes)
                .map_err(|e| malformed(format!("certificate chain: {e}")))?;
            chain.push_str(&pem("CERTIFICATE", &der));
        }
        annotations.insert(CHAIN_ANNOTATION.to_owned(), chain);
    }
    if material.tlog_entries.len() > 1 {
        return Err(malformed("more than one transparency log entry".into()));
    }
    if let Some(entry) = material.tlog_entries.into_iter().next() {
        let log_id = hex::encode(
            decode_base64(&entry.log_id.key_id).map_err(|e| malformed(format!("logId: {e}")))?,
        );
        let set = entry
            .inclusion_promise
            .map(|p| p.signed_entry_timestamp)
            .ok_or_else(|| {
                malformed("the transparency log entry has no inclusion promise (SET)".into())
            })?;
        let cosign_bundle = json!({"SignedEntryTimestamp": set, "Payload": {
            "body": entry.canonicalized_body,
            "integratedTime": int64(&entry.integrated_time, "integratedTime").map_err(&malformed)?,
            "logIndex": int64(&entry.log_index, "logIndex").map_err(&malformed)?,
            "logID": log_id}});
        annotations.insert(BUNDLE_ANNOTATION.to_owned(), cosign_bundle.to_string());
        if let Some(proof) = entry.inclusion_proof {
            annotations.insert(INCLUSION_PROOF_ANNOTATION.to_owned(), proof.to_string());
        }
    }
    Ok(CosignLayer {
        media_type: DSSE_MEDIA_TYPE.to_owned(),
        digest: format!("sha256:{}", hex::encode(Sha256::digest(bytes))),
        annotations,
        data,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawProof {
    log_index: Value,
    root_hash: String,
    tree_size: Value,
    #[serde(default)]
    hashes: Vec<String>,
    checkpoint: Option<RawCheckpoint>,
}

#[derive(Deserialize)]
struct RawCheckpoint {
    envelope: String,
}

fn hash32(b64: &str, what: &str) -> Result<[u8; 32], String> {
    decode_base64(b64)?
        .try_into()
        .map_err(|_| format!("{what} is not a SHA-256 hash"))
}

fn node(left: &[u8; 32], right: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// RFC 9162 §2.1.3.2: the root an inclusion proof leads to.
fn root_from_proof(index: u64, size: u64, leaf: [u8; 32], path: &[[u8; 32]]) -> Option<[u8; 32]> {
    if index >= size {
        return None;
    }
    let (mut f, mut s, mut r) = (index, size - 1, leaf);
    for p in path {
        if s == 0 {
            return None;
        }
        if f & 1 == 1 || f == s {
            r = node(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    (s == 0).then_some(r)
}

/// Verifies a bundle's inclusion proof for `body` (the canonicalized entry) and its checkpoint,
/// signed by `key` (the log's key, as for the SET).
pub(crate) fn verify_inclusion(
    proof_json: &str,
    body_b64: &str,
    key: &sigstore::crypto::CosignVerificationKey,
) -> Result<(), String> {
    let proof: RawProof = serde_json::from_str(proof_json)
        .map_err(|e| format!("the inclusion proof is malformed: {e}"))?;
    let body = decode_base64(body_b64)?;
    let mut leaf = Sha256::new();
    leaf.update([0u8]);
    leaf.update(&body);
    let leaf: [u8; 32] = leaf.finalize().into();
    let index = u64::try_from(int64(&proof.log_index, "inclusionProof.logIndex")?)
        .map_err(|_| "negative index")?;
    let size = u64::try_from(int64(&proof.tree_size, "inclusionProof.treeSize")?)
        .map_err(|_| "negative size")?;
    let path = proof
        .hashes
        .iter()
        .map(|h| hash32(h, "an inclusion proof hash"))
        .collect::<Result<Vec<_>, _>>()?;
    let root = hash32(&proof.root_hash, "the inclusion proof root")?;
    if root_from_proof(index, size, leaf, &path) != Some(root) {
        return Err("the inclusion proof does not lead to its root hash".to_owned());
    }
    let checkpoint = proof
        .checkpoint
        .ok_or_else(|| "the inclusion proof has no signed checkpoint".to_owned())?;
    verify_checkpoint(&checkpoint.envelope, size, &root, key)
}

/// A signed note: `origin\nsize\nroot-b64\n[extensions]\n\n— name base64(keyhint||sig)\n`.
fn verify_checkpoint(
    note: &str,
    size: u64,
    root: &[u8; 32],
    key: &sigstore::crypto::CosignVerificationKey,
) -> Result<(), String> {
    let (text, sigs) = note
        .split_once("\n\n")
        .ok_or_else(|| "the checkpoint is not a signed note".to_owned())?;
    let signed = format!("{text}\n");
    let mut lines = text.lines();
    let (_origin, note_size, note_root) = (lines.next(), lines.next(), lines.next());
    if note_size.and_then(|s| s.parse::<u64>().ok()) != Some(size)
        || note_root.and_then(|r| decode_base64(r).ok()).as_deref() != Some(&root[..])
    {
        return Err("the checkpoint is for another tree than the inclusion proof".to_owned());
    }
    let verified = sigs
        .lines()
        .filter_map(|l| l.strip_prefix("\u{2014} "))
        .any(|l| {
            l.rsplit_once(' ')
                .and_then(|(_, b64)| decode_base64(b64).ok())
                .filter(|raw| raw.len() > 4)
                .is_some_and(|raw| {
                    key.verify_signature(
                        sigstore::crypto::Signature::Raw(&raw[4..]),
                        signed.as_bytes(),
                    )
                    .is_ok()
                })
        });
    if verified {
        Ok(())
    } else {
        Err("the checkpoint is not signed by the log's key".to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(i: u8) -> [u8; 32] {
        Sha256::digest([0u8, i]).into()
    }

    #[test]
    fn inclusion_proofs_follow_rfc_9162() {
        // A tree of 5 leaves: root = H(H(H(0,1),H(2,3)), 4).
        let l: Vec<_> = (0..5).map(leaf).collect();
        let (n01, n23) = (node(&l[0], &l[1]), node(&l[2], &l[3]));
        let n0123 = node(&n01, &n23);
        let root = node(&n0123, &l[4]);
        assert_eq!(root_from_proof(2, 5, l[2], &[l[3], n01, l[4]]), Some(root));
        assert_eq!(root_from_proof(4, 5, l[4], &[n0123]), Some(root));
        assert_ne!(root_from_proof(3, 5, l[2], &[l[3], n01, l[4]]), Some(root));
        assert_eq!(root_from_proof(5, 5, l[4], &[n0123]), None);
        assert_eq!(root_from_proof(4, 5, l[4], &[]), None);
    }

    #[test]
    fn a_bundle_without_dsse_or_certificate_is_refused_with_a_reason() {
        let err = bundle_to_layer(br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","verificationMaterial":{}}"#)
            .unwrap_err();
        assert!(err.to_string().contains("only DSSE bundles"), "{err}");
        assert!(bundle_to_layer(b"[]").is_err());
    }
}
