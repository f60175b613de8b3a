//! Property tests (fuzzing) of the hostile-input parsers: DSSE envelopes, in-toto statements,
//! Sigstore bundles, Rekor bundle annotations — never a panic, and no mutation of a signed
//! attestation ever makes a *different* statement verify.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use proptest::prelude::*;
use sealift_verify::dsse::{Envelope, Statement, pae};
use sealift_verify::evaluate::{Artifacts, evaluate};
use sealift_verify::{CompiledPolicy, CosignLayer, ImageRef};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::{Arc, OnceLock};
use support::*;

const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

struct Signed {
    policy: Arc<CompiledPolicy>,
    sig: CosignLayer,
    att: CosignLayer,
    statement: Vec<u8>,
}

fn to_cosign(l: Layer) -> CosignLayer {
    CosignLayer {
        media_type: l.media_type,
        digest: format!("sha256:{}", hex::encode(Sha256::digest(&l.data))),
        annotations: l.annotations,
        data: l.data,
    }
}

fn signed() -> &'static Signed {
    static SIGNED: OnceLock<Signed> = OnceLock::new();
    SIGNED.get_or_init(|| {
        let key = Key::p256().unwrap();
        let policy = key_policy(
            "registry.example.com/**",
            &[&key],
            &format!("  transparencyLog: {{required: false}}\n  attestations:\n  - predicateType: {SLSA_V1}\n"),
        );
        let statement = statement(DIGEST, SLSA_V1, &json!({"builder": {"id": "ci"}, "n": [1, 2, 3]}));
        let sig = to_cosign(sig_layer(&simple_signing("registry.example.com/acme/app", DIGEST), &Signer::Key(&key), None).unwrap());
        let att = to_cosign(att_layer(&statement, SLSA_V1, &Signer::Key(&key), None).unwrap());
        Signed { policy, sig, att, statement }
    })
}

fn run(att: CosignLayer) -> Result<sealift_api::Evidence, sealift_verify::VerifyError> {
    let s = signed();
    let image = ImageRef::parse(&format!("registry.example.com/acme/app@{DIGEST}")).unwrap();
    let artifacts = Artifacts {
        signatures: Some(vec![s.sig.clone()]),
        attestations: Some(vec![att]),
        bundles: Vec::new(),
    };
    evaluate(&s.policy, &image, &artifacts, None)
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-zA-Z0-9_:/+=.-]{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
            prop::collection::btree_map(
                prop_oneof![
                    Just("_type".to_owned()),
                    Just("predicateType".to_owned()),
                    Just("subject".to_owned()),
                    Just("predicate".to_owned()),
                    Just("digest".to_owned()),
                    Just("sha256".to_owned()),
                    Just("payload".to_owned()),
                    Just("payloadType".to_owned()),
                    Just("signatures".to_owned()),
                    Just("sig".to_owned()),
                    "[a-z]{1,6}",
                ],
                inner,
                0..6
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_the_envelope_statement_or_bundle_parsers(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Envelope::parse(&bytes);
        let _ = Statement::parse(&bytes);
        let _ = sealift_verify::bundle::bundle_to_layer(&bytes);
    }

    #[test]
    fn arbitrary_json_never_panics_the_parsers(v in json_value()) {
        let bytes = serde_json::to_vec(&v).unwrap();
        let _ = Envelope::parse(&bytes);
        let _ = Statement::parse(&bytes);
        let _ = sealift_verify::bundle::bundle_to_layer(&bytes);
    }

    #[test]
    fn no_single_byte_mutation_of_a_signed_attestation_verifies_another_statement(
        pos in any::<prop::sample::Index>(), byte in any::<u8>()
    ) {
        let mut att = signed().att.clone();
        let i = pos.index(att.data.len());
        att.data[i] = byte;
        if let Ok(evidence) = run(att.clone()) {
            // Only a mutation outside what the signature covers (e.g. `keyid`) may still verify,
            // and then the statement must be exactly the one that was signed.
            let envelope = Envelope::parse(&att.data).unwrap();
            prop_assert_eq!(&envelope.payload, &signed().statement);
            prop_assert_eq!(evidence.attestations.len(), 1);
        }
    }

    #[test]
    fn hostile_annotations_never_panic_the_decision(
        cert in ".{0,64}", bundle in json_value(), chain in ".{0,64}"
    ) {
        let mut att = signed().att.clone();
        att.annotations.insert("dev.sigstore.cosign/certificate".into(), cert);
        att.annotations.insert("dev.sigstore.cosign/bundle".into(), bundle.to_string());
        att.annotations.insert("dev.sigstore.cosign/chain".into(), chain);
        let _ = run(att);
    }

    #[test]
    fn pae_is_unambiguous(t1 in ".{0,8}", p1 in prop::collection::vec(any::<u8>(), 0..16),
                          t2 in ".{0,8}", p2 in prop::collection::vec(any::<u8>(), 0..16)) {
        prop_assume!((t1.as_str(), &p1) != (t2.as_str(), &p2));
        prop_assert_ne!(pae(&t1, &p1), pae(&t2, &p2));
    }
}

#[test]
fn the_unmutated_fixture_verifies() {
    let evidence = run(signed().att.clone()).unwrap();
    assert_eq!(evidence.attestations[0].predicate_type, SLSA_V1);
}
