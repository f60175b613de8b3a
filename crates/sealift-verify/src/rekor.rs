//! Rekor evidence: the signed entry timestamp (SET) cosign stores in the
//! `dev.sigstore.cosign/bundle` annotation, and the check that the logged entry is about *this*
//! signature.
//!
//! A valid SET only proves the log integrated *some* entry. TESTRIG.md's trap: a bundle copied
//! from another signature carries a valid SET. So the entry's body is decoded and must record this
//! payload's hash, this signature and this signer (`hashedrekord`/`rekord` 0.0.1 for `.sig`
//! layers, `intoto` 0.0.1 or `dsse` 0.0.1 for attestations).

use crate::dsse::decode_base64;
use crate::trust_root::TrustedRoot;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, SubjectPublicKeyInfoDer};
use sealift_api::RekorEvidence;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sigstore::cosign::bundle::Bundle;
use sigstore::crypto::{CosignVerificationKey, Signature};
use std::sync::Arc;

/// The signer a logged entry must name.
#[derive(Clone, Copy, Debug)]
pub(crate) enum SignerDer<'a> {
    /// A Fulcio-style certificate (DER).
    Certificate(&'a [u8]),
    /// A public key (DER SubjectPublicKeyInfo).
    PublicKey(&'a [u8]),
}

/// What the logged entry must record.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Logged<'a> {
    /// A `.sig` layer: `hashedrekord`/`rekord` over the simple-signing payload.
    Signature {
        /// The payload that was signed.
        payload: &'a [u8],
        /// The raw signature.
        signature: &'a [u8],
    },
    /// An attestation: `intoto` or `dsse` over a DSSE envelope.
    Envelope {
        /// The envelope bytes as stored in the layer.
        envelope: &'a [u8],
        /// The envelope's decoded payload.
        payload: &'a [u8],
        /// The signature that was verified.
        signature: &'a [u8],
    },
}

/// Parses the `dev.sigstore.cosign/bundle` annotation (sigstore's `Bundle` type).
pub(crate) fn parse_bundle(annotation: &str) -> Result<Bundle, String> {
    serde_json::from_str(annotation).map_err(|e| format!("the Rekor bundle is malformed: {e}"))
}

/// Verifies the SET against the log keys of the trust roots; returns the evidence and the key
/// of the log (for the inclusion proof of a Sigstore bundle).
pub(crate) fn verify_set<'r>(
    bundle: &Bundle,
    roots: &'r [Arc<TrustedRoot>],
) -> Result<(RekorEvidence, &'r CosignVerificationKey), String> {
    let p = &bundle.payload;
    // Validate before building the canonical JSON by hand: base64 and hex need no escaping.
    if B64.decode(&p.body).is_err() {
        return Err("the Rekor bundle body is not base64".to_owned());
    }
    if p.log_id.is_empty() || !p.log_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err("the Rekor bundle logID is not hex".to_owned());
    }
    // RFC 8785 canonical form of the SET payload: keys sorted, no whitespace.
    let canonical = format!(
        r#"{{"body":"{}","integratedTime":{},"logID":"{}","logIndex":{}}}"#,
        p.body, p.integrated_time, p.log_id, p.log_index
    );
    let mut last_error = format!(
        "the entry is from log {}, which no trust root of the policy knows",
        p.log_id
    );
    for root in roots {
        let key = match root.log_key(&p.log_id, p.integrated_time) {
            Ok(k) => k,
            Err(e) => {
                last_error = e;
                continue;
            }
        };
        if key
            .key
            .verify_signature(
                Signature::Base64Encoded(bundle.signed_entry_timestamp.as_bytes()),
                canonical.as_bytes(),
            )
            .is_ok()
        {
            let evidence = RekorEvidence {
                log_index: p.log_index,
                integrated_time: p.integrated_time,
                log_id: Some(p.log_id.to_ascii_lowercase()),
            };
            return Ok((evidence, &key.key));
        }
        last_error = format!(
            "the signed entry timestamp does not verify with the key of log {} (forged or altered)",
            p.log_id
        );
    }
    Err(last_error)
}

fn text<'a>(v: &'a Value, pointer: &str) -> Result<&'a str, String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("the Rekor entry lacks {pointer}"))
}

fn sha256_field(v: &Value, pointer: &str, bytes: &[u8], what: &str) -> Result<(), String> {
    let alg = text(v, &format!("{pointer}/algorithm"))?;
    if alg != "sha256" {
        return Err(format!(
            "the Rekor entry hashes {what} with {alg}, not sha256"
        ));
    }
    let logged = text(v, &format!("{pointer}/value"))?;
    if !logged.eq_ignore_ascii_case(&hex::encode(Sha256::digest(bytes))) {
        return Err(format!(
            "the Rekor entry records another {what} (a bundle copied from another signature?)"
        ));
    }
    Ok(())
}

/// Compares the PEM (base64 of PEM, as Rekor stores it) with the signer.
fn same_signer(b64_pem: &str, signer: SignerDer<'_>) -> Result<(), String> {
    let pem = decode_base64(b64_pem).map_err(|e| format!("the Rekor entry's signer: {e}"))?;
    let matches = match signer {
        SignerDer::Certificate(der) => CertificateDer::from_pem_slice(&pem)
            .map(|c| c.as_ref() == der)
            .unwrap_or(false),
        SignerDer::PublicKey(der) => SubjectPublicKeyInfoDer::from_pem_slice(&pem)
            .map(|k| k.as_ref() == der)
            .unwrap_or(false),
    };
    if matches {
        Ok(())
    } else {
        Err("the Rekor entry names another signer (a bundle copied from another signature?)".into())
    }
}

/// Checks that the logged entry (the bundle's body) records this payload, signature and signer.
pub(crate) fn verify_entry(
    bundle: &Bundle,
    logged: Logged<'_>,
    signer: SignerDer<'_>,
) -> Result<(), String> {
    let body = B64
        .decode(&bundle.payload.body)
        .map_err(|_| "the Rekor bundle body is not base64".to_owned())?;
    let body: Value =
        serde_json::from_slice(&body).map_err(|e| format!("the Rekor entry is not JSON: {e}"))?;
    let kind = text(&body, "/kind")?;
    let version = text(&body, "/apiVersion")?;
    match (kind, version, logged) {
        ("hashedrekord" | "rekord", "0.0.1", Logged::Signature { payload, signature }) => {
            sha256_field(&body, "/spec/data/hash", payload, "payload")?;
            let logged_sig = decode_base64(text(&body, "/spec/signature/content")?)?;
            if logged_sig != signature {
                return Err(
                    "the Rekor entry records another signature (a bundle copied from another signature?)"
                        .to_owned(),
                );
            }
            same_signer(text(&body, "/spec/signature/publicKey/content")?, signer)
        }
        (
            "intoto",
            "0.0.1",
            Logged::Envelope {
                envelope, payload, ..
            },
        ) => {
            // Rekor hashes the envelope exactly as submitted; cosign stores the same bytes.
            sha256_field(&body, "/spec/content/hash", envelope, "envelope")?;
            sha256_field(&body, "/spec/content/payloadHash", payload, "payload")?;
            same_signer(text(&body, "/spec/publicKey")?, signer)
        }
        (
            "dsse",
            "0.0.1",
            Logged::Envelope {
                envelope,
                payload,
                signature,
            },
        ) => {
            sha256_field(&body, "/spec/payloadHash", payload, "payload")?;
            let logged_env = text(&body, "/spec/envelopeHash/value")?;
            let raw = hex::encode(Sha256::digest(envelope));
            let canonical = canonical_envelope(envelope)
                .map(|c| hex::encode(Sha256::digest(c)))
                .unwrap_or_default();
            if !logged_env.eq_ignore_ascii_case(&raw)
                && !logged_env.eq_ignore_ascii_case(&canonical)
            {
                return Err(
                    "the Rekor entry records another envelope (a bundle copied from another attestation?)"
                        .to_owned(),
                );
            }
            let signatures = body
                .pointer("/spec/signatures")
                .and_then(Value::as_array)
                .ok_or_else(|| "the Rekor entry lacks /spec/signatures".to_owned())?;
            let found = signatures.iter().any(|s| {
                let sig_ok = s
                    .get("signature")
                    .and_then(Value::as_str)
                    .and_then(|b| decode_base64(b).ok())
                    .is_some_and(|b| b == signature);
                let signer_ok = s
                    .get("verifier")
                    .and_then(Value::as_str)
                    .is_some_and(|v| same_signer(v, signer).is_ok());
                sig_ok && signer_ok
            });
            if found {
                Ok(())
            } else {
                Err("the Rekor entry records another signature or signer (a bundle copied from another attestation?)".to_owned())
            }
        }
        (kind, version, _) => Err(format!(
            "a Rekor {kind} {version} entry cannot vouch for this kind of signature"
        )),
    }
}

/// Rekor's canonical DSSE envelope: keys in order, `keyid` omitted when empty, no whitespace.
fn canonical_envelope(envelope: &[u8]) -> Option<Vec<u8>> {
    let v: Value = serde_json::from_slice(envelope).ok()?;
    let mut sigs = Vec::new();
    for s in v.get("signatures")?.as_array()? {
        let mut o = serde_json::Map::new();
        if let Some(k) = s
            .get("keyid")
            .and_then(Value::as_str)
            .filter(|k| !k.is_empty())
        {
            o.insert("keyid".into(), Value::String(k.to_owned()));
        }
        o.insert("sig".into(), s.get("sig")?.clone());
        sigs.push(Value::Object(o));
    }
    let mut o = serde_json::Map::new();
    o.insert("payload".into(), v.get("payload")?.clone());
    o.insert("payloadType".into(), v.get("payloadType")?.clone());
    o.insert("signatures".into(), Value::Array(sigs));
    serde_json::to_vec(&Value::Object(o)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sigstore::cosign::bundle::Payload;

    fn bundle(body: &Value) -> Bundle {
        Bundle {
            signed_entry_timestamp: String::new(),
            payload: Payload {
                body: B64.encode(serde_json::to_vec(body).unwrap()),
                integrated_time: 1,
                log_index: 1,
                log_id: "00".into(),
            },
        }
    }

    #[test]
    fn an_entry_of_another_kind_cannot_vouch_for_a_signature() {
        let b = bundle(&serde_json::json!({"kind": "helm", "apiVersion": "0.0.1", "spec": {}}));
        let err = verify_entry(
            &b,
            Logged::Signature {
                payload: b"x",
                signature: b"y",
            },
            SignerDer::PublicKey(b"k"),
        )
        .unwrap_err();
        assert!(err.contains("cannot vouch"), "{err}");
    }

    #[test]
    fn a_set_from_an_unknown_log_is_refused() {
        let b = bundle(&serde_json::json!({}));
        let err = verify_set(&b, &[]).unwrap_err();
        assert!(err.contains("no trust root"), "{err}");
    }

    #[test]
    fn the_canonical_envelope_sorts_keys_and_drops_an_empty_keyid() {
        let env =
            br#"{"signatures":[{"sig":"AA==","keyid":""}],"payloadType":"t","payload":"e30="}"#;
        assert_eq!(
            canonical_envelope(env).unwrap(),
            br#"{"payload":"e30=","payloadType":"t","signatures":[{"sig":"AA=="}]}"#.to_vec()
        );
    }
}
