//! DSSE envelopes and in-toto statements: cosign attestations on the wire.
//!
//! Pure parsing of hostile bytes: every function returns a readable error and never panics
//! (property-tested in `tests/parsing_properties.rs`).
//! References: DSSE v1 (`secure-systems-lab/dsse` protocol.md, the PAE), in-toto attestation
//! framework Statement v0.1 and v1.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use serde::Deserialize;

/// The payload type of an in-toto statement inside a DSSE envelope.
pub const IN_TOTO_PAYLOAD_TYPE: &str = "application/vnd.in-toto+json";
/// The in-toto Statement `_type` values accepted (cosign ≤ 2.x often writes v0.1 even for
/// SLSA v1 predicates).
pub const STATEMENT_TYPES: [&str; 2] = [
    "https://in-toto.io/Statement/v0.1",
    "https://in-toto.io/Statement/v1",
];
const MAX_SIGNATURES: usize = 16;
const MAX_SUBJECTS: usize = 1024;

/// A parsed DSSE envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Envelope {
    /// `payloadType`.
    pub payload_type: String,
    /// The decoded payload.
    pub payload: Vec<u8>,
    /// The decoded signatures.
    pub signatures: Vec<EnvelopeSignature>,
}

/// One signature of a DSSE envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvelopeSignature {
    /// `keyid`, often empty.
    pub keyid: String,
    /// The decoded signature bytes.
    pub sig: Vec<u8>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEnvelope {
    payload_type: String,
    payload: String,
    signatures: Vec<RawSignature>,
}

#[derive(Deserialize)]
struct RawSignature {
    #[serde(default)]
    keyid: Option<String>,
    sig: String,
}

/// Decodes standard or URL-safe base64 (DSSE implementations use both).
pub fn decode_base64(s: &str) -> Result<Vec<u8>, String> {
    STANDARD
        .decode(s)
        .or_else(|_| URL_SAFE.decode(s))
        .or_else(|_| URL_SAFE_NO_PAD.decode(s))
        .map_err(|e| format!("invalid base64: {e}"))
}

impl Envelope {
    /// Parses an envelope from its JSON bytes.
    pub fn parse(bytes: &[u8]) -> Result<Envelope, String> {
        let raw: RawEnvelope =
            serde_json::from_slice(bytes).map_err(|e| format!("not a DSSE envelope: {e}"))?;
        if raw.signatures.is_empty() {
            return Err("the DSSE envelope has no signature".to_owned());
        }
        if raw.signatures.len() > MAX_SIGNATURES {
            return Err(format!(
                "the DSSE envelope has more than {MAX_SIGNATURES} signatures"
            ));
        }
        let payload = decode_base64(&raw.payload).map_err(|e| format!("DSSE payload: {e}"))?;
        let signatures = raw
            .signatures
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let sig =
                    decode_base64(&s.sig).map_err(|e| format!("DSSE signatures[{i}]: {e}"))?;
                if sig.is_empty() {
                    return Err(format!("DSSE signatures[{i}] is empty"));
                }
                Ok(EnvelopeSignature {
                    keyid: s.keyid.unwrap_or_default(),
                    sig,
                })
            })
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Envelope {
            payload_type: raw.payload_type,
            payload,
            signatures,
        })
    }

    /// The bytes that were signed: DSSE's pre-authentication encoding.
    pub fn pae(&self) -> Vec<u8> {
        pae(&self.payload_type, &self.payload)
    }
}

/// `PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body`, lengths in ASCII
/// decimal.
pub fn pae(payload_type: &str, payload: &[u8]) -> Vec<u8> {
    let header = format!(
        "DSSEv1 {} {} {} ",
        payload_type.len(),
        payload_type,
        payload.len()
    );
    let mut out = Vec::with_capacity(header.len() + payload.len());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(payload);
    out
}

/// An in-toto statement.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    /// `_type`.
    pub statement_type: String,
    /// `predicateType`.
    pub predicate_type: String,
    /// The subjects, as JSON (for CEL) and parsed.
    pub subjects: Vec<Subject>,
    /// The raw `subject` array, exposed to CEL.
    pub subject_json: serde_json::Value,
    /// `predicate` (`{}` when absent).
    pub predicate: serde_json::Value,
}

/// An in-toto subject.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Subject {
    /// `name`.
    #[serde(default)]
    pub name: String,
    /// `digest`: algorithm → lowercase hex.
    #[serde(default)]
    pub digest: std::collections::BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawStatement {
    #[serde(rename = "_type")]
    statement_type: String,
    predicate_type: String,
    subject: serde_json::Value,
    #[serde(default)]
    predicate: Option<serde_json::Value>,
}

impl Statement {
    /// Parses a statement from a DSSE payload.
    pub fn parse(payload: &[u8]) -> Result<Statement, String> {
        let raw: RawStatement = serde_json::from_slice(payload)
            .map_err(|e| format!("not an in-toto statement: {e}"))?;
        if !STATEMENT_TYPES.contains(&raw.statement_type.as_str()) {
            return Err(format!(
                "unsupported in-toto statement type {:?}",
                raw.statement_type
            ));
        }
        if raw.predicate_type.is_empty() {
            return Err("the in-toto statement has an empty predicateType".to_owned());
        }
        let subjects: Vec<Subject> = serde_json::from_value(raw.subject.clone())
            .map_err(|e| format!("in-toto subject: {e}"))?;
        if subjects.is_empty() {
            return Err("the in-toto statement has no subject".to_owned());
        }
        if subjects.len() > MAX_SUBJECTS {
            return Err(format!(
                "the in-toto statement has more than {MAX_SUBJECTS} subjects"
            ));
        }
        Ok(Statement {
            statement_type: raw.statement_type,
            predicate_type: raw.predicate_type,
            subjects,
            subject_json: raw.subject,
            predicate: raw
                .predicate
                .unwrap_or_else(|| serde_json::Value::Object(Default::default())),
        })
    }

    /// Whether a subject's `sha256` digest is `digest` (`sha256:<hex>`).
    pub fn is_about(&self, digest: &str) -> bool {
        let hex = digest.trim_start_matches("sha256:");
        self.subjects.iter().any(|s| {
            s.digest
                .get("sha256")
                .is_some_and(|d| d.eq_ignore_ascii_case(hex))
        })
    }

    /// The subjects' sha256 digests, for messages.
    pub fn subject_digests(&self) -> Vec<String> {
        self.subjects
            .iter()
            .filter_map(|s| s.digest.get("sha256").map(|d| format!("sha256:{d}")))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD as B64;

    #[test]
    fn pae_matches_the_dsse_specification_example() {
        // DSSE protocol.md: PAE("http://example.com/HelloWorld", "hello world").
        assert_eq!(
            pae("http://example.com/HelloWorld", b"hello world"),
            b"DSSEv1 29 http://example.com/HelloWorld 11 hello world".to_vec()
        );
    }

    #[test]
    fn an_envelope_parses_with_standard_or_url_safe_base64() {
        let json = format!(
            r#"{{"payloadType":"t","payload":"{}","signatures":[{{"keyid":"","sig":"{}"}}]}}"#,
            B64.encode(b"{}"),
            URL_SAFE_NO_PAD.encode([0xfb, 0xff, 0x01])
        );
        let env = Envelope::parse(json.as_bytes()).unwrap();
        assert_eq!(env.payload, b"{}");
        assert_eq!(env.signatures[0].sig, vec![0xfb, 0xff, 0x01]);
    }

    #[test]
    fn malformed_envelopes_are_refused_with_a_reason() {
        for (bytes, needle) in [
            (&b"nope"[..], "not a DSSE envelope"),
            (
                br#"{"payloadType":"t","payload":"e30=","signatures":[]}"#,
                "no signature",
            ),
            (
                br#"{"payloadType":"t","payload":"!!","signatures":[{"sig":"AA=="}]}"#,
                "payload",
            ),
            (
                br#"{"payloadType":"t","payload":"e30=","signatures":[{"sig":""}]}"#,
                "empty",
            ),
        ] {
            let err = Envelope::parse(bytes).unwrap_err();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn statements_of_both_versions_parse_and_name_their_subjects() {
        for t in STATEMENT_TYPES {
            let json = format!(
                r#"{{"_type":"{t}","predicateType":"p","subject":[{{"name":"x","digest":{{"sha256":"AB"}}}}]}}"#
            );
            let s = Statement::parse(json.as_bytes()).unwrap();
            assert!(s.is_about("sha256:ab"));
            assert!(!s.is_about("sha256:cd"));
            assert_eq!(s.predicate, serde_json::json!({}));
        }
        let err =
            Statement::parse(br#"{"_type":"x","predicateType":"p","subject":[]}"#).unwrap_err();
        assert!(err.contains("statement type"), "{err}");
        let err = Statement::parse(
            br#"{"_type":"https://in-toto.io/Statement/v1","predicateType":"p","subject":[]}"#,
        )
        .unwrap_err();
        assert!(err.contains("no subject"), "{err}");
    }
}
