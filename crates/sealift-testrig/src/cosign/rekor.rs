//! A test transparency log (Rekor SETs), its entry bodies, and `trusted_root.json`.

use super::keys::{Key, TestCa};
use anyhow::{Result, anyhow};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicI64, Ordering};

/// A test transparency log: its key signs SETs the way Rekor does.
#[derive(Debug)]
pub struct TestRekor {
    key: Key,
    /// Hex SHA-256 of the log key's SubjectPublicKeyInfo, as Rekor's log ID.
    pub log_id: String,
    next_index: AtomicI64,
}

impl TestRekor {
    /// A log with a fresh ECDSA P-256 key; log indices start at 1000.
    pub fn new() -> Result<TestRekor> {
        let key = Key::p256()?;
        let log_id = hex::encode(Sha256::digest(key.spki_der()));
        Ok(TestRekor {
            key,
            log_id,
            next_index: AtomicI64::new(1000),
        })
    }

    /// The log's public key (DER SubjectPublicKeyInfo).
    pub fn spki_der(&self) -> Vec<u8> {
        self.key.spki_der()
    }

    /// The `dev.sigstore.cosign/bundle` annotation for an entry with this body, logged at
    /// `integrated_time` (Unix seconds) under the next log index.
    pub fn bundle(&self, body: &Value, integrated_time: i64) -> Result<String> {
        let body_b64 = B64.encode(body.to_string());
        let log_index = self.next_index.fetch_add(1, Ordering::Relaxed);
        let canonical = format!(
            r#"{{"body":"{body_b64}","integratedTime":{integrated_time},"logID":"{}","logIndex":{log_index}}}"#,
            self.log_id
        );
        let set = B64.encode(self.key.sign(canonical.as_bytes())?);
        Ok(
            json!({"SignedEntryTimestamp": set, "Payload": {"body": body_b64,
            "integratedTime": integrated_time, "logIndex": log_index, "logID": self.log_id}})
            .to_string(),
        )
    }
}

/// `trusted_root.json` with these CAs (validity windows `[start, end]` in Unix seconds,
/// optional) and logs.
pub fn trusted_root_json(
    cas: &[(&TestCa, Option<i64>, Option<i64>)],
    logs: &[&TestRekor],
) -> Result<String> {
    let rfc3339 = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .map(|d| d.to_rfc3339())
            .ok_or_else(|| anyhow!("timestamp {t} out of range"))
    };
    let mut authorities = Vec::new();
    for (ca, start, end) in cas {
        let mut valid_for = json!({"start": rfc3339(start.unwrap_or(1_577_836_800))?});
        if let Some(end) = end {
            valid_for["end"] = json!(rfc3339(*end)?);
        }
        authorities.push(
            json!({"subject": {"organization": "sealift.test", "commonName": "test"},
                   "uri": "https://fulcio.sealift.test",
                   "certChain": {"certificates": ca.chain_der.iter()
                        .map(|d| json!({"rawBytes": B64.encode(d)})).collect::<Vec<_>>()},
                   "validFor": valid_for}),
        );
    }
    let mut tlogs = Vec::new();
    for l in logs {
        tlogs.push(
            json!({"baseUrl": "https://rekor.sealift.test", "hashAlgorithm": "SHA2_256",
                   "publicKey": {"rawBytes": B64.encode(l.key.spki_der()),
                                 "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                                 "validFor": {"start": "2020-01-01T00:00:00Z"}},
                   "logId": {"keyId": B64.encode(hex::decode(&l.log_id)?)}}),
        );
    }
    Ok(
        json!({"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
           "tlogs": tlogs, "certificateAuthorities": authorities, "ctlogs": [],
           "timestampAuthorities": []})
        .to_string(),
    )
}

/// A `hashedrekord` 0.0.1 body, as Rekor canonicalises it.
pub fn hashedrekord(payload: &[u8], signature: &[u8], signer_pem: &str) -> Value {
    json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(payload))}},
        "signature": {"content": B64.encode(signature),
                      "publicKey": {"content": B64.encode(signer_pem)}}}})
}

/// An `intoto` 0.0.1 body (`cosign attest` ≤ 2.1).
pub fn intoto_entry(envelope: &[u8], payload: &[u8], signer_pem: &str) -> Value {
    json!({"apiVersion": "0.0.1", "kind": "intoto", "spec": {
        "content": {"hash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(envelope))},
                    "payloadHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(payload))}},
        "publicKey": B64.encode(signer_pem)}})
}

/// A `dsse` 0.0.1 body (`cosign attest` ≥ 2.2).
pub fn dsse_entry(envelope: &[u8], payload: &[u8], signature: &[u8], signer_pem: &str) -> Value {
    json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {
        "envelopeHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(envelope))},
        "payloadHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(payload))},
        "signatures": [{"signature": B64.encode(signature), "verifier": B64.encode(signer_pem)}]}})
}
