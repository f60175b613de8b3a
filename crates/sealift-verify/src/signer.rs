//! Does one signature satisfy one authority? The same rules for `.sig` layers and attestation
//! envelopes: signature over the signed bytes, Rekor SET against the trust root, the logged entry
//! bound to this signature, the certificate chain at the Rekor integrated time, the identity.
//!
//! Pure: no I/O. Failures carry a `stage` (how far the check got) so that, when no signature
//! satisfies an authority, the most telling reason is reported.

use crate::certificate::{parse_chain_pem, parse_leaf_pem};
use crate::error::VerifyError;
use crate::policy::{AuthorityKind, CompiledAuthority, IdentityMatcher};
use crate::rekor::{Logged, SignerDer, parse_bundle, verify_entry, verify_set};
use crate::trust_root::TrustedRoot;
use sealift_api::SignatureEvidence;
use sigstore::crypto::Signature;
use std::sync::Arc;

/// A signature as cosign ships it, before any check.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SignedItem<'a> {
    /// The bytes the signature covers (simple-signing payload, or DSSE PAE).
    pub(crate) message: &'a [u8],
    /// The raw signature.
    pub(crate) signature: &'a [u8],
    /// `dev.sigstore.cosign/certificate` (PEM).
    pub(crate) certificate: Option<&'a str>,
    /// `dev.sigstore.cosign/chain` (PEM).
    pub(crate) chain: Option<&'a str>,
    /// `dev.sigstore.cosign/bundle` (JSON).
    pub(crate) bundle: Option<&'a str>,
    /// A Sigstore bundle's inclusion proof (JSON), checked when present.
    pub(crate) inclusion_proof: Option<&'a str>,
    /// What the Rekor entry must record.
    pub(crate) logged: Logged<'a>,
}

/// SET, then the inclusion proof when the signature came as a Sigstore bundle.
fn verify_log(
    bundle: &sigstore::cosign::bundle::Bundle,
    item: &SignedItem<'_>,
    roots: &[Arc<TrustedRoot>],
) -> Result<sealift_api::RekorEvidence, String> {
    let (evidence, key) = verify_set(bundle, roots)?;
    if let Some(proof) = item.inclusion_proof {
        crate::bundle::verify_inclusion(proof, &bundle.payload.body, key)?;
    }
    Ok(evidence)
}

/// How far a check got before failing; higher is more telling.
pub(crate) mod stage {
    /// The signature is not of this authority's kind (no certificate for a keyless authority).
    pub(crate) const NOT_APPLICABLE: u8 = 0;
    /// The signed payload is about another digest.
    pub(crate) const WRONG_DIGEST: u8 = 1;
    /// The signature does not verify with the authority's key.
    pub(crate) const KEY_SIGNATURE: u8 = 2;
    /// Rekor bundle missing, malformed, unknown log or forged SET.
    pub(crate) const SET: u8 = 3;
    /// Certificate unparseable or not chaining to the trust root at the integrated time.
    pub(crate) const CHAIN: u8 = 4;
    /// The payload does not verify with the certificate's key: tampered.
    pub(crate) const TAMPERED: u8 = 5;
    /// The Rekor entry is about another signature.
    pub(crate) const ENTRY: u8 = 6;
    /// Authentic, but another identity or issuer.
    pub(crate) const IDENTITY: u8 = 7;
}

/// A failed check and how far it got.
#[derive(Clone, Debug)]
pub(crate) struct Failure {
    pub(crate) stage: u8,
    pub(crate) error: VerifyError,
}

impl Failure {
    pub(crate) fn new(stage: u8, error: VerifyError) -> Self {
        Failure { stage, error }
    }
}

/// Policy-wide settings of a check.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CheckContext<'a> {
    /// `transparencyLog.required`.
    pub(crate) tlog_required: bool,
    /// Rekor keys for key-based authorities.
    pub(crate) log_roots: &'a [Arc<TrustedRoot>],
}

/// Checks one signature against one authority.
pub(crate) fn check(
    authority: &CompiledAuthority,
    item: &SignedItem<'_>,
    ctx: CheckContext<'_>,
) -> Result<SignatureEvidence, Failure> {
    let name = authority.name.clone();
    match &authority.kind {
        AuthorityKind::Key(key) => {
            if key
                .key
                .verify_signature(Signature::Raw(item.signature), item.message)
                .is_err()
            {
                return Err(Failure::new(
                    stage::KEY_SIGNATURE,
                    VerifyError::SignatureInvalid {
                        authority: name,
                        reason: format!(
                            "no signature verifies with key {} (the payload was altered or signed with another key)",
                            key.fingerprint
                        ),
                    },
                ));
            }
            let rekor = if ctx.tlog_required {
                let tlog = |reason: String| VerifyError::TransparencyLogInvalid {
                    authority: name.clone(),
                    reason,
                };
                let raw = item.bundle.ok_or_else(|| {
                    Failure::new(
                        stage::SET,
                        tlog("the signature has no Rekor bundle and transparencyLog.required is true".into()),
                    )
                })?;
                let bundle = parse_bundle(raw).map_err(|e| Failure::new(stage::SET, tlog(e)))?;
                let evidence = verify_log(&bundle, item, ctx.log_roots)
                    .map_err(|e| Failure::new(stage::SET, tlog(e)))?;
                verify_entry(&bundle, item.logged, SignerDer::PublicKey(&key.spki))
                    .map_err(|e| Failure::new(stage::ENTRY, tlog(e)))?;
                Some(evidence)
            } else {
                None
            };
            Ok(SignatureEvidence {
                authority: name,
                identity: None,
                issuer: None,
                key_id: Some(key.fingerprint.clone()),
                rekor,
            })
        }
        AuthorityKind::Keyless { identities, root } => check_keyless(name, identities, root, item),
    }
}

fn check_keyless(
    name: String,
    identities: &[IdentityMatcher],
    root: &Arc<TrustedRoot>,
    item: &SignedItem<'_>,
) -> Result<SignatureEvidence, Failure> {
    let Some(cert_pem) = item.certificate else {
        return Err(Failure::new(
            stage::NOT_APPLICABLE,
            VerifyError::SignatureInvalid {
                authority: name,
                reason: "no keyless signature: no signing certificate is attached".into(),
            },
        ));
    };
    let untrusted = |reason: String| VerifyError::CertificateUntrusted {
        authority: name.clone(),
        reason,
    };
    let tlog = |reason: String| VerifyError::TransparencyLogInvalid {
        authority: name.clone(),
        reason,
    };
    let leaf = parse_leaf_pem(cert_pem.as_bytes())
        .map_err(|e| Failure::new(stage::CHAIN, untrusted(e)))?;
    // Keyless certificates live minutes: only the log's integrated time proves the signature was
    // made while the certificate was valid, so the Rekor bundle is mandatory here.
    let raw = item.bundle.ok_or_else(|| {
        Failure::new(
            stage::SET,
            tlog(
                "the keyless signature has no Rekor bundle, so nothing proves when it was made"
                    .into(),
            ),
        )
    })?;
    let bundle = parse_bundle(raw).map_err(|e| Failure::new(stage::SET, tlog(e)))?;
    let rekor = verify_log(&bundle, item, std::slice::from_ref(root))
        .map_err(|e| Failure::new(stage::SET, tlog(e)))?;
    let chain = match item.chain {
        Some(pem) => {
            parse_chain_pem(pem.as_bytes()).map_err(|e| Failure::new(stage::CHAIN, untrusted(e)))?
        }
        None => Vec::new(),
    };
    root.verify_certificate(&leaf.der, &chain, rekor.integrated_time)
        .map_err(|e| Failure::new(stage::CHAIN, untrusted(e)))?;
    if !leaf.code_signing {
        return Err(Failure::new(
            stage::CHAIN,
            untrusted(
                "the certificate is not for code signing (no id-kp-codeSigning usage)".into(),
            ),
        ));
    }
    if leaf
        .key
        .verify_signature(Signature::Raw(item.signature), item.message)
        .is_err()
    {
        return Err(Failure::new(
            stage::TAMPERED,
            VerifyError::SignatureInvalid {
                authority: name,
                reason: "the payload does not match its signature by the attached certificate (tampered after signing)"
                    .into(),
            },
        ));
    }
    verify_entry(&bundle, item.logged, SignerDer::Certificate(&leaf.der))
        .map_err(|e| Failure::new(stage::ENTRY, tlog(e)))?;
    let subject = leaf.subject.clone().unwrap_or_default();
    let issuer = leaf.issuer.clone().unwrap_or_default();
    if !identities
        .iter()
        .any(|id| id.subject.matches(&subject) && id.issuer.matches(&issuer))
    {
        let subject_ok = identities.iter().any(|id| id.subject.matches(&subject));
        let accepted = identities
            .iter()
            .map(IdentityMatcher::describe)
            .collect::<Vec<_>>()
            .join(", ");
        let reason = if subject_ok {
            format!(
                "the certificate of {subject:?} was issued by OIDC issuer {issuer:?}, which is not accepted for it (accepted: {accepted})"
            )
        } else {
            format!(
                "the certificate names {subject:?} (issuer {issuer:?}), not an accepted identity (accepted: {accepted})"
            )
        };
        return Err(Failure::new(
            stage::IDENTITY,
            VerifyError::IdentityMismatch {
                authority: name,
                reason,
            },
        ));
    }
    Ok(SignatureEvidence {
        authority: name,
        identity: leaf.subject,
        issuer: leaf.issuer,
        key_id: None,
        rekor: Some(rekor),
    })
}

/// Keeps the most telling failure (highest stage, first on ties).
pub(crate) fn keep_best(best: &mut Option<Failure>, candidate: Failure) {
    if best.as_ref().is_none_or(|b| candidate.stage > b.stage) {
        *best = Some(candidate);
    }
}
