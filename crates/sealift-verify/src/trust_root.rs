//! A Sigstore trust root (`trusted_root.json`, media type
//! `application/vnd.dev.sigstore.trustedroot+json;version=0.1`): the Fulcio certificate
//! authorities and the Rekor log keys, each with its validity window. Read fully offline, so a
//! private or air-gapped Sigstore works the same as the public-good instance.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use rustls_pki_types::{CertificateDer, TrustAnchor, UnixTime};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use sigstore::crypto::CosignVerificationKey;
use std::collections::BTreeMap;
use std::time::Duration;
use webpki::{EndEntityCert, KeyUsage};

/// DER value of the `id-kp-codeSigning` OID (1.3.6.1.5.5.7.3.3). Required of every certificate
/// of the path that has an EKU extension (Fulcio's intermediate has one, many private CAs have
/// none); the leaf's is checked separately, where it is mandatory.
const EKU_CODE_SIGNING: &[u8] = &[0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x03];

/// A parsed `trusted_root.json`.
#[derive(Debug)]
pub struct TrustedRoot {
    authorities: Vec<CertificateAuthority>,
    logs: BTreeMap<String, LogKey>,
    /// SHA-256 of the document it was read from (part of a policy's cache fingerprint).
    pub(crate) source_digest: [u8; 32],
}

#[derive(Debug)]
struct CertificateAuthority {
    name: String,
    anchor: TrustAnchor<'static>,
    intermediates: Vec<CertificateDer<'static>>,
    valid_for: ValidFor,
}

/// A transparency log's public key.
#[derive(Debug)]
pub(crate) struct LogKey {
    pub(crate) key: CosignVerificationKey,
    valid_for: ValidFor,
}

#[derive(Clone, Copy, Debug)]
struct ValidFor {
    start: Option<i64>,
    end: Option<i64>,
}

impl ValidFor {
    fn contains(&self, t: i64) -> bool {
        self.start.is_none_or(|s| s <= t) && self.end.is_none_or(|e| t <= e)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRoot {
    media_type: Option<String>,
    #[serde(default)]
    tlogs: Vec<RawLog>,
    #[serde(default)]
    certificate_authorities: Vec<RawAuthority>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLog {
    #[serde(default)]
    base_url: String,
    public_key: RawPublicKey,
    log_id: RawLogId,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawPublicKey {
    raw_bytes: String,
    #[serde(default)]
    valid_for: Option<RawValidFor>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLogId {
    key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawAuthority {
    #[serde(default)]
    uri: String,
    cert_chain: RawChain,
    #[serde(default)]
    valid_for: Option<RawValidFor>,
}

#[derive(Deserialize)]
struct RawChain {
    certificates: Vec<RawCert>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawCert {
    raw_bytes: String,
}

#[derive(Deserialize)]
struct RawValidFor {
    start: Option<String>,
    end: Option<String>,
}

fn parse_time(field: &str, value: Option<&String>) -> Result<Option<i64>, String> {
    value
        .map(|v| {
            chrono::DateTime::parse_from_rfc3339(v)
                .map(|t| t.timestamp())
                .map_err(|e| format!("{field}: {v:?} is not an RFC 3339 time: {e}"))
        })
        .transpose()
}

fn valid_for(field: &str, raw: Option<&RawValidFor>) -> Result<ValidFor, String> {
    Ok(ValidFor {
        start: parse_time(
            &format!("{field}.start"),
            raw.and_then(|r| r.start.as_ref()),
        )?,
        end: parse_time(&format!("{field}.end"), raw.and_then(|r| r.end.as_ref()))?,
    })
}

impl TrustedRoot {
    /// Parses a `trusted_root.json` document. Errors name the offending field.
    pub fn from_json(bytes: &[u8]) -> Result<TrustedRoot, String> {
        let raw: RawRoot = serde_json::from_slice(bytes)
            .map_err(|e| format!("not a Sigstore trusted_root.json: {e}"))?;
        if let Some(mt) = &raw.media_type
            && !mt.starts_with("application/vnd.dev.sigstore.trustedroot")
        {
            return Err(format!("unexpected mediaType {mt:?}"));
        }
        let mut logs = BTreeMap::new();
        for (i, log) in raw.tlogs.iter().enumerate() {
            let field = format!("tlogs[{i}]");
            let der = B64
                .decode(&log.public_key.raw_bytes)
                .map_err(|e| format!("{field}.publicKey.rawBytes: {e}"))?;
            let key = CosignVerificationKey::try_from_der(&der)
                .map_err(|e| format!("{field}.publicKey ({}): {e}", log.base_url))?;
            let id = B64
                .decode(&log.log_id.key_id)
                .map_err(|e| format!("{field}.logId.keyId: {e}"))?;
            let valid_for = valid_for(
                &format!("{field}.publicKey.validFor"),
                log.public_key.valid_for.as_ref(),
            )?;
            logs.insert(hex::encode(id), LogKey { key, valid_for });
        }
        let mut authorities = Vec::new();
        for (i, ca) in raw.certificate_authorities.iter().enumerate() {
            let field = format!("certificateAuthorities[{i}]");
            let mut certs = Vec::new();
            for (j, c) in ca.cert_chain.certificates.iter().enumerate() {
                let der = B64
                    .decode(&c.raw_bytes)
                    .map_err(|e| format!("{field}.certChain.certificates[{j}]: {e}"))?;
                certs.push(CertificateDer::from(der));
            }
            // The chain is ordered leaf-most first: the last certificate is the root.
            let root = certs
                .pop()
                .ok_or_else(|| format!("{field}.certChain has no certificate"))?;
            let anchor = webpki::anchor_from_trusted_cert(&root)
                .map_err(|e| format!("{field}: root certificate unusable: {e}"))?
                .to_owned();
            authorities.push(CertificateAuthority {
                name: if ca.uri.is_empty() {
                    field.clone()
                } else {
                    ca.uri.clone()
                },
                anchor,
                intermediates: certs,
                valid_for: valid_for(&format!("{field}.validFor"), ca.valid_for.as_ref())?,
            });
        }
        if logs.is_empty() && authorities.is_empty() {
            return Err(
                "the trust root lists no transparency log and no certificate authority".into(),
            );
        }
        Ok(TrustedRoot {
            authorities,
            logs,
            source_digest: Sha256::digest(bytes).into(),
        })
    }

    /// Builds a trust root that only knows Rekor keys (PEM/DER SPKI), e.g. for key-based
    /// authorities when the operator configures a log key but no Fulcio CA.
    pub fn from_rekor_keys(spki_ders: &[Vec<u8>]) -> Result<TrustedRoot, String> {
        let mut logs = BTreeMap::new();
        let mut all = Sha256::new();
        for der in spki_ders {
            all.update(der);
            let key = CosignVerificationKey::try_from_der(der).map_err(|e| e.to_string())?;
            let id = hex::encode(Sha256::digest(der));
            let valid_for = ValidFor {
                start: None,
                end: None,
            };
            logs.insert(id, LogKey { key, valid_for });
        }
        Ok(TrustedRoot {
            authorities: Vec::new(),
            logs,
            source_digest: all.finalize().into(),
        })
    }

    /// How many certificate authorities and logs it holds.
    pub fn counts(&self) -> (usize, usize) {
        (self.authorities.len(), self.logs.len())
    }

    /// The log key with this id (hex), if it was valid at `integrated_time`.
    pub(crate) fn log_key(
        &self,
        log_id_hex: &str,
        integrated_time: i64,
    ) -> Result<&LogKey, String> {
        let key = self
            .logs
            .get(&log_id_hex.to_ascii_lowercase())
            .ok_or_else(|| {
                format!("the entry is from log {log_id_hex}, which the trust root does not know")
            })?;
        if !key.valid_for.contains(integrated_time) {
            return Err(format!(
                "log {log_id_hex} was not valid at integrated time {integrated_time} per the trust root"
            ));
        }
        Ok(key)
    }

    /// Verifies that `leaf` chains to one of the CAs valid at `time` (Unix seconds) and that every
    /// certificate of the path, the leaf included, was valid at that time, with the code-signing
    /// extended key usage. `extra` are untrusted intermediates shipped with the signature.
    pub(crate) fn verify_certificate(
        &self,
        leaf: &[u8],
        extra: &[CertificateDer<'static>],
        time: i64,
    ) -> Result<(), String> {
        if self.authorities.is_empty() {
            return Err("the trust root has no certificate authority".into());
        }
        let leaf_der = CertificateDer::from(leaf);
        let end_entity = EndEntityCert::try_from(&leaf_der)
            .map_err(|e| format!("not a usable certificate: {e}"))?;
        let at = UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(time).unwrap_or(0)));
        let mut errors = Vec::new();
        let mut candidates = 0;
        for ca in self
            .authorities
            .iter()
            .filter(|ca| ca.valid_for.contains(time))
        {
            candidates += 1;
            let mut intermediates = ca.intermediates.clone();
            intermediates.extend(extra.iter().cloned());
            let result = end_entity.verify_for_usage(
                webpki::ALL_VERIFICATION_ALGS,
                std::slice::from_ref(&ca.anchor),
                &intermediates,
                at,
                KeyUsage::required_if_present(EKU_CODE_SIGNING),
                None,
                None,
            );
            match result {
                Ok(_) => return Ok(()),
                Err(e) => errors.push((ca.name.clone(), e)),
            }
        }
        if candidates == 0 {
            return Err(format!(
                "no certificate authority of the trust root was valid at the Rekor integrated time {}",
                fmt_time(time)
            ));
        }
        let expired = errors.iter().any(|(_, e)| {
            matches!(
                e,
                webpki::Error::CertExpired { .. } | webpki::Error::CertNotValidYet { .. }
            )
        });
        if expired {
            return Err(format!(
                "the certificate chain was not valid at the Rekor integrated time {} (expired or not yet valid)",
                fmt_time(time)
            ));
        }
        let detail = errors
            .iter()
            .map(|(name, e)| format!("{name}: {e:?}"))
            .collect::<Vec<_>>()
            .join("; ");
        Err(format!(
            "the certificate is not issued by a certificate authority of the trust root ({detail})"
        ))
    }
}

/// RFC 3339 for messages.
pub(crate) fn fmt_time(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.to_rfc3339())
        .unwrap_or_else(|| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trust_root_that_is_not_json_is_refused_with_a_reason() {
        let err = TrustedRoot::from_json(b"{not json").unwrap_err();
        assert!(err.contains("not a Sigstore trusted_root.json"), "{err}");
        let err = TrustedRoot::from_json(br#"{"mediaType":"x"}"#).unwrap_err();
        assert!(err.contains("mediaType"), "{err}");
        let err =
            TrustedRoot::from_json(br#"{"tlogs":[],"certificateAuthorities":[]}"#).unwrap_err();
        assert!(err.contains("no transparency log"), "{err}");
    }

    #[test]
    fn validity_windows_are_inclusive_and_open_ended_when_absent() {
        let v = ValidFor {
            start: Some(10),
            end: None,
        };
        assert!(!v.contains(9) && v.contains(10) && v.contains(i64::MAX));
    }
}
