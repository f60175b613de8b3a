//! The decision, separate from fetching (STYLE.md, after kubewarden's policy-fetcher): given the
//! policy, the digest and the artifacts the registry returned, either the evidence or the most
//! telling reason. Pure: no I/O, no clock except the timestamp passed in.

use crate::bundle::{COSIGN_SIGN_PREDICATE, INCLUSION_PROOF_ANNOTATION};
use crate::dsse::{Envelope, IN_TOTO_PAYLOAD_TYPE, Statement};
use crate::error::VerifyError;
use crate::facts;
use crate::fetch::{
    BUNDLE_ANNOTATION, CERTIFICATE_ANNOTATION, CHAIN_ANNOTATION, CosignLayer, SIGNATURE_ANNOTATION,
};
use crate::policy::{CompiledPolicy, CompiledRequirement};
use crate::reference::ImageRef;
use crate::rekor::Logged;
use crate::signer::{CheckContext, Failure, SignedItem, check, keep_best, stage};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use sealift_api::{AttestationEvidence, Evidence, SignatureEvidence};
use sha2::{Digest, Sha256};
use sigstore::cosign::payload::SimpleSigning;
use sigstore::cosign::payload::simple_signing::CRITICAL_TYPE_NAME;

/// What the registry returned for an image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Artifacts {
    /// The `.sig` layers; `None` when the tag does not exist.
    pub signatures: Option<Vec<CosignLayer>>,
    /// The `.att` layers; `None` when the tag does not exist.
    pub attestations: Option<Vec<CosignLayer>>,
    /// Sigstore bundles found as OCI referrers, converted with
    /// [`bundle_to_layer`](crate::bundle::bundle_to_layer). A bundle whose statement has the
    /// predicate type `https://sigstore.dev/cosign/sign/v1` counts as a signature; every bundle
    /// counts as an attestation.
    pub bundles: Vec<CosignLayer>,
}

/// Verifies the fetched artifacts against the policy.
pub fn evaluate(
    policy: &CompiledPolicy,
    image: &ImageRef,
    artifacts: &Artifacts,
    verified_at: Option<String>,
) -> Result<Evidence, VerifyError> {
    if !policy.applies_to(image) {
        return Err(VerifyError::NoMatchingPolicy {
            image: image.name(),
        });
    }
    let ctx = CheckContext {
        tlog_required: policy.tlog_required,
        log_roots: &policy.log_roots,
    };
    let signatures = verify_signatures(policy, image, artifacts, ctx)?;
    let attestation_layers: Vec<&CosignLayer> = artifacts
        .attestations
        .iter()
        .flatten()
        .chain(&artifacts.bundles)
        .collect();
    let attestation_layers = (artifacts.attestations.is_some() || !artifacts.bundles.is_empty())
        .then_some(attestation_layers);
    let mut attestation_evidence = Vec::new();
    for requirement in &policy.attestations {
        attestation_evidence.push(verify_requirement(
            policy,
            image,
            requirement,
            attestation_layers.as_deref(),
            ctx,
        )?);
    }
    Ok(Evidence {
        digest: image.digest.clone(),
        policy: policy.evidence(),
        verified_at,
        signatures,
        attestations: attestation_evidence,
    })
}

/// A signature ready to check: a `.sig` layer, or a DSSE bundle of `cosign/sign/v1`.
struct SigLayer<'a> {
    /// What the signature covers: the simple-signing payload, or the DSSE PAE.
    message: Vec<u8>,
    signature: Vec<u8>,
    /// The DSSE payload, for a bundle.
    envelope_payload: Option<Vec<u8>>,
    layer: &'a CosignLayer,
}

fn parse_sig_layer<'a>(layer: &'a CosignLayer, image: &ImageRef) -> Result<SigLayer<'a>, Failure> {
    let what = format!("signature layer {}", layer.digest);
    let malformed =
        |reason: String| Failure::new(stage::NOT_APPLICABLE, VerifyError::malformed(&what, reason));
    let sig_b64 = layer
        .annotations
        .get(SIGNATURE_ANNOTATION)
        .ok_or_else(|| malformed(format!("no {SIGNATURE_ANNOTATION} annotation")))?;
    let signature = B64
        .decode(sig_b64.trim())
        .map_err(|e| malformed(format!("the signature is not base64: {e}")))?;
    let ss: SimpleSigning = serde_json::from_slice(&layer.data)
        .map_err(|e| malformed(format!("not a cosign simple-signing payload: {e}")))?;
    if !ss
        .critical
        .type_name
        .eq_ignore_ascii_case(CRITICAL_TYPE_NAME)
    {
        return Err(malformed(format!(
            "unexpected payload type {:?}",
            ss.critical.type_name
        )));
    }
    if !ss.satisfies_manifest_digest(&image.digest) {
        return Err(wrong_digest(
            &ss.critical.image.docker_manifest_digest,
            image,
        ));
    }
    Ok(SigLayer {
        message: layer.data.clone(),
        signature,
        envelope_payload: None,
        layer,
    })
}

fn wrong_digest(signed: &str, image: &ImageRef) -> Failure {
    Failure::new(
        stage::WRONG_DIGEST,
        VerifyError::SignatureInvalid {
            authority: "(any)".into(),
            reason: format!(
                "the signed payload is about {signed}, not {} (a signature copied from another image?)",
                image.digest
            ),
        },
    )
}

/// The signatures of a `cosign/sign/v1` bundle (`None` for a bundle of another predicate).
fn parse_sign_bundle<'a>(
    layer: &'a CosignLayer,
    image: &ImageRef,
) -> Option<Result<Vec<SigLayer<'a>>, Failure>> {
    let parsed = match parse_att_layer(layer) {
        Ok(p) => p,
        Err(e) => return Some(Err(Failure::new(stage::NOT_APPLICABLE, e))),
    };
    if parsed.statement.predicate_type != COSIGN_SIGN_PREDICATE {
        return None;
    }
    if !parsed.statement.is_about(&image.digest) {
        return Some(Err(wrong_digest(
            &parsed.statement.subject_digests().join(", "),
            image,
        )));
    }
    let pae = parsed.envelope.pae();
    Some(Ok(parsed
        .envelope
        .signatures
        .iter()
        .map(|s| SigLayer {
            message: pae.clone(),
            signature: s.sig.clone(),
            envelope_payload: Some(parsed.envelope.payload.clone()),
            layer,
        })
        .collect()))
}

fn verify_signatures(
    policy: &CompiledPolicy,
    image: &ImageRef,
    artifacts: &Artifacts,
    ctx: CheckContext<'_>,
) -> Result<Vec<SignatureEvidence>, VerifyError> {
    let mut parsed = Vec::new();
    let mut layer_failure: Option<Failure> = None;
    let mut found = false;
    for layer in artifacts.signatures.iter().flatten() {
        found = true;
        match parse_sig_layer(layer, image) {
            Ok(l) => parsed.push(l),
            Err(f) => keep_best(&mut layer_failure, f),
        }
    }
    for layer in &artifacts.bundles {
        match parse_sign_bundle(layer, image) {
            None => {}
            Some(Ok(sigs)) => {
                found = true;
                parsed.extend(sigs);
            }
            Some(Err(f)) => {
                found = true;
                keep_best(&mut layer_failure, f);
            }
        }
    }
    if !found {
        return Err(VerifyError::SignatureMissing {
            image: image.to_string(),
        });
    }
    let mut satisfied = Vec::new();
    let mut failures: Vec<(String, Failure)> = Vec::new();
    for authority in &policy.authorities {
        let mut best = layer_failure.clone();
        let mut ok = None;
        for l in &parsed {
            let annotations = &l.layer.annotations;
            let item = SignedItem {
                message: &l.message,
                signature: &l.signature,
                certificate: annotations.get(CERTIFICATE_ANNOTATION).map(String::as_str),
                chain: annotations.get(CHAIN_ANNOTATION).map(String::as_str),
                bundle: annotations.get(BUNDLE_ANNOTATION).map(String::as_str),
                inclusion_proof: annotations
                    .get(INCLUSION_PROOF_ANNOTATION)
                    .map(String::as_str),
                logged: match &l.envelope_payload {
                    None => Logged::Signature {
                        payload: &l.message,
                        signature: &l.signature,
                    },
                    Some(payload) => Logged::Envelope {
                        envelope: &l.layer.data,
                        payload,
                        signature: &l.signature,
                    },
                },
            };
            match check(authority, &item, ctx) {
                Ok(evidence) => {
                    ok = Some(evidence);
                    break;
                }
                Err(f) => keep_best(&mut best, f),
            }
        }
        match (ok, best) {
            (Some(evidence), _) => satisfied.push(evidence),
            (None, Some(f)) => failures.push((authority.name.clone(), f)),
            (None, None) => failures.push((
                authority.name.clone(),
                Failure::new(
                    stage::NOT_APPLICABLE,
                    VerifyError::SignatureMissing {
                        image: image.to_string(),
                    },
                ),
            )),
        }
    }
    if satisfied.len() >= policy.threshold {
        return Ok(satisfied);
    }
    if policy.threshold == 1 || policy.authorities.len() == 1 {
        // anyOf: the most telling failure of any authority.
        let mut best: Option<Failure> = None;
        for (_, f) in failures {
            keep_best(&mut best, f);
        }
        return Err(best
            .map(|f| f.error)
            .unwrap_or(VerifyError::SignatureMissing {
                image: image.to_string(),
            }));
    }
    Err(VerifyError::ThresholdNotMet {
        required: policy.threshold,
        satisfied: satisfied.len(),
        details: failures
            .iter()
            .map(|(name, f)| format!("{name}: {}", f.error))
            .collect::<Vec<_>>()
            .join("; "),
    })
}

struct AttLayer<'a> {
    layer: &'a CosignLayer,
    envelope: Envelope,
    statement: Statement,
}

fn parse_att_layer(layer: &CosignLayer) -> Result<AttLayer<'_>, VerifyError> {
    let what = format!("attestation layer {}", layer.digest);
    let envelope = Envelope::parse(&layer.data).map_err(|e| VerifyError::malformed(&what, e))?;
    if envelope.payload_type != IN_TOTO_PAYLOAD_TYPE {
        return Err(VerifyError::malformed(
            &what,
            format!(
                "DSSE payloadType is {:?}, not {IN_TOTO_PAYLOAD_TYPE}",
                envelope.payload_type
            ),
        ));
    }
    let statement =
        Statement::parse(&envelope.payload).map_err(|e| VerifyError::malformed(&what, e))?;
    Ok(AttLayer {
        layer,
        envelope,
        statement,
    })
}

/// Stages of an attestation check, above the signer's stages.
const ATT_SUBJECT: u8 = 10;
const ATT_POLICY: u8 = 20;

fn verify_requirement(
    policy: &CompiledPolicy,
    image: &ImageRef,
    req: &CompiledRequirement,
    layers: Option<&[&CosignLayer]>,
    ctx: CheckContext<'_>,
) -> Result<AttestationEvidence, VerifyError> {
    let pt = req.predicate_type.as_str();
    let layers = match layers {
        Some(l) if !l.is_empty() => l,
        _ => {
            return Err(VerifyError::AttestationMissing {
                predicate_type: pt.to_owned(),
                reason: format!("{} carries no attestation", image),
            });
        }
    };
    let mut parsed = Vec::new();
    let mut malformed = None;
    for layer in layers {
        match parse_att_layer(layer) {
            Ok(p) => parsed.push(p),
            Err(e) => {
                malformed.get_or_insert(e);
            }
        }
    }
    let candidates: Vec<&AttLayer<'_>> = parsed
        .iter()
        .filter(|p| p.statement.predicate_type == pt)
        .collect();
    if candidates.is_empty() {
        if let Some(e) = malformed {
            return Err(e);
        }
        let mut found: Vec<&str> = parsed
            .iter()
            .map(|p| p.statement.predicate_type.as_str())
            .collect();
        found.sort_unstable();
        found.dedup();
        return Err(VerifyError::PredicateTypeMismatch {
            required: pt.to_owned(),
            found: found.join(", "),
        });
    }
    let mut best: Option<Failure> = None;
    for cand in candidates {
        match verify_candidate(policy, image, req, cand, ctx) {
            Ok(e) => return Ok(e),
            Err(f) => keep_best(&mut best, f),
        }
    }
    Err(best
        .map(|f| f.error)
        .unwrap_or(VerifyError::AttestationMissing {
            predicate_type: pt.to_owned(),
            reason: "no attestation satisfied the policy".into(),
        }))
}

/// Which authority signed the envelope (any one suffices, as for `.sig` with threshold 1).
fn envelope_signer(
    policy: &CompiledPolicy,
    att: &AttLayer<'_>,
    ctx: CheckContext<'_>,
) -> Result<SignatureEvidence, Failure> {
    let pae = att.envelope.pae();
    let annotations = &att.layer.annotations;
    let mut best: Option<Failure> = None;
    for authority in &policy.authorities {
        for sig in &att.envelope.signatures {
            let item = SignedItem {
                message: &pae,
                signature: &sig.sig,
                certificate: annotations.get(CERTIFICATE_ANNOTATION).map(String::as_str),
                chain: annotations.get(CHAIN_ANNOTATION).map(String::as_str),
                bundle: annotations.get(BUNDLE_ANNOTATION).map(String::as_str),
                inclusion_proof: annotations
                    .get(INCLUSION_PROOF_ANNOTATION)
                    .map(String::as_str),
                logged: Logged::Envelope {
                    envelope: &att.layer.data,
                    payload: &att.envelope.payload,
                    signature: &sig.sig,
                },
            };
            match check(authority, &item, ctx) {
                Ok(e) => return Ok(e),
                Err(f) => keep_best(&mut best, f),
            }
        }
    }
    Err(best
        .unwrap_or_else(|| Failure::new(0, VerifyError::malformed("attestation", "no signature"))))
}

/// Verifies who signed an attestation layer (DSSE signature, Rekor SET, entry binding, inclusion
/// proof of a bundle, certificate chain at the integrated time, identity) and returns the signer
/// and the statement — without the subject and predicate checks, for attestations about
/// artifacts other than an image (e.g. a package's provenance).
pub fn verify_envelope_signer(
    policy: &CompiledPolicy,
    layer: &CosignLayer,
) -> Result<(SignatureEvidence, Statement), VerifyError> {
    let att = parse_att_layer(layer)?;
    let ctx = CheckContext {
        tlog_required: policy.tlog_required,
        log_roots: &policy.log_roots,
    };
    let signer = envelope_signer(policy, &att, ctx).map_err(|f| f.error)?;
    Ok((signer, att.statement))
}

fn verify_candidate(
    policy: &CompiledPolicy,
    image: &ImageRef,
    req: &CompiledRequirement,
    att: &AttLayer<'_>,
    ctx: CheckContext<'_>,
) -> Result<AttestationEvidence, Failure> {
    let pt = req.predicate_type.clone();
    let signer = envelope_signer(policy, att, ctx).map_err(|inner| {
        Failure::new(
            1 + inner.stage,
            VerifyError::AttestationInvalid {
                predicate_type: pt.clone(),
                reason: format!(
                    "its envelope is not signed by an authority of the policy: {}",
                    inner.error
                ),
            },
        )
    })?;
    if !att.statement.is_about(&image.digest) {
        return Err(Failure::new(
            ATT_SUBJECT,
            VerifyError::AttestationSubjectMismatch {
                predicate_type: pt,
                reason: format!(
                    "its subjects are {:?}, not {}",
                    att.statement.subject_digests(),
                    image.digest
                ),
            },
        ));
    }
    if let Some(cel) = &req.policy {
        cel.evaluate(
            &att.statement.predicate,
            &att.statement.predicate_type,
            &att.statement.subject_json,
        )
        .map_err(|reason| {
            Failure::new(
                ATT_POLICY,
                VerifyError::AttestationPolicyFailed {
                    predicate_type: pt.clone(),
                    expression: cel.source().to_owned(),
                    reason,
                },
            )
        })?;
    }
    Ok(AttestationEvidence {
        predicate_type: pt.clone(),
        envelope_digest: format!("sha256:{}", hex::encode(Sha256::digest(&att.layer.data))),
        signer: Some(signer),
        policy: req.policy.as_ref().map(|p| p.source().to_owned()),
        facts: facts::extract(&pt, &att.statement.predicate),
    })
}
