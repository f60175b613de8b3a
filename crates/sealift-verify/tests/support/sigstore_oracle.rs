//! The `sigstore` crate's own keyless `.sig` verification, used as an oracle: it must accept what
//! Sealift accepts, and (TESTRIG.md's trap) with identity constraints alone it also accepts the
//! forgeries Sealift must reject.

use sealift_testrig::image::TestImage;
use sigstore::cosign::verification_constraint::{
    CertSubjectUrlVerifier, VerificationConstraintVec,
};
use sigstore::cosign::{ClientBuilder, CosignCapabilities as _, verify_constraints};
use sigstore::registry::{Auth, ClientConfig, ClientProtocol, OciReference};
use sigstore::trust::sigstore::SigstoreTrustRoot;

/// Does sigstore's keyless path, with only a `CertSubjectUrlVerifier`, accept `image`?
pub async fn sigstore_identity_check_accepts(
    image: &TestImage,
    trusted_root_json: &str,
    subject: &str,
    issuer: &str,
) -> bool {
    let root = SigstoreTrustRoot::from_trusted_root_json_unchecked(trusted_root_json.as_bytes())
        .expect("sigstore parses our trusted_root.json");
    let mut client = ClientBuilder::default()
        .with_oci_client_config(ClientConfig {
            protocol: ClientProtocol::Http,
            ..Default::default()
        })
        .with_trust_repository(&root)
        .expect("sigstore accepts our trust root")
        .build()
        .expect("sigstore client");
    let reference: OciReference = image.by_digest().parse().expect("reference");
    let layers = client
        .trusted_signature_layers(&Auth::Anonymous, &reference)
        .await
        .expect("sigstore fetches the signature layers");
    let constraints: VerificationConstraintVec = vec![Box::new(CertSubjectUrlVerifier {
        url: subject.to_owned(),
        issuer: issuer.to_owned(),
    })];
    verify_constraints(&layers, constraints.iter()).is_ok()
}
