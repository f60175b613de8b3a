//! Fixtures that follow cosign's wire format exactly: keys of every supported algorithm, a test
//! Fulcio-style CA issuing certificates with the OIDC-issuer extensions, a test Rekor whose key
//! signs SETs over `hashedrekord` / `intoto` / `dsse` entries, a `trusted_root.json` built from
//! them, `.sig` and `.att` artifacts pushed to the real registry of the rig.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod sigstore_oracle;
pub mod token_registry;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use oci_client::{Reference, RegistryOperation};
use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PublicKeyData as _, SanType, SigningKey as _,
};
use sealift_testrig::image::{TestImage, oci_client, registry_auth, sha256_digest};
use sealift_testrig::registry::Registry;
use sealift_verify::{
    CompiledPolicy, NoSecrets, PlainHttp, PolicyDocument, RegistryConfig, RegistryCredentials,
    TrustedRoot, Verifier, VerifierConfig, VerifyError,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

pub const SLSA_V1: &str = "https://slsa.dev/provenance/v1";
pub const SLSA_V02: &str = "https://slsa.dev/provenance/v0.2";
pub const VULN: &str = "https://cosign.sigstore.dev/attestation/vuln/v1";
pub const SPDX: &str = "https://spdx.dev/Document";
pub const CYCLONEDX: &str = "https://cyclonedx.org/bom";
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
pub const RELEASE_WORKFLOW: &str =
    "https://github.com/acme/bookstore/.github/workflows/release.yml@refs/heads/main";

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn start_registry() -> Registry {
    sealift_testrig::install_crypto_provider();
    Registry::start().expect("the real OCI registry (docker-registry) must start")
}

/// A verifier for a loopback registry: plain HTTP, its credentials, short timeouts.
pub fn config_for(registry: &Registry) -> VerifierConfig {
    let mut credentials = BTreeMap::new();
    if let Some(c) = registry.credentials() {
        credentials.insert(
            registry.host(),
            RegistryCredentials {
                username: c.username.clone(),
                password: c.password.clone(),
            },
        );
    }
    VerifierConfig {
        registry: RegistryConfig {
            plain_http: PlainHttp::Always,
            credentials,
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(5),
            retries: 1,
            retry_backoff: Duration::from_millis(20),
        },
        ..Default::default()
    }
}

pub fn verifier_for(registry: &Registry) -> Verifier {
    Verifier::new(config_for(registry)).unwrap()
}

/// A signing key (ECDSA P-256 by default, as cosign).
pub struct Key(KeyPair);

impl Key {
    pub fn p256() -> Key {
        Key(KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap())
    }
    pub fn p384() -> Key {
        Key(KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap())
    }
    pub fn ed25519() -> Key {
        Key(KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap())
    }
    pub fn rsa() -> Key {
        Key(KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048).unwrap())
    }
    pub fn public_pem(&self) -> String {
        self.0.public_key_pem()
    }
    pub fn spki_der(&self) -> Vec<u8> {
        self.0.subject_public_key_info()
    }
    pub fn fingerprint(&self) -> String {
        format!("sha256:{}", hex::encode(Sha256::digest(self.spki_der())))
    }
    pub fn sign(&self, msg: &[u8]) -> Vec<u8> {
        self.0.sign(msg).unwrap()
    }
}

/// A Fulcio-style certificate authority (a root, optionally with an intermediate).
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pub root_der: Vec<u8>,
    /// Leaf-most first, root last, as in `trusted_root.json`.
    pub chain_der: Vec<Vec<u8>>,
}

fn ca_params(cn: &str) -> CertificateParams {
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name
        .push(DnType::OrganizationName, "sealift.test");
    p.distinguished_name.push(DnType::CommonName, cn);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(2099, 1, 1);
    p
}

impl TestCa {
    pub fn new(cn: &str) -> TestCa {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let params = ca_params(cn);
        let root = params.self_signed(&key).unwrap();
        TestCa {
            issuer: Issuer::new(params, key),
            root_der: root.der().to_vec(),
            chain_der: vec![root.der().to_vec()],
        }
    }

    /// A root and an intermediate that issues the leaves (like Fulcio's `sigstore-intermediate`).
    pub fn with_intermediate(cn: &str) -> TestCa {
        let root_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let root_params = ca_params(cn);
        let root = root_params.self_signed(&root_key).unwrap();
        let root_issuer = Issuer::new(root_params, root_key);
        let inter_key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let mut inter_params = ca_params(&format!("{cn}-intermediate"));
        inter_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        let inter = inter_params.signed_by(&inter_key, &root_issuer).unwrap();
        TestCa {
            issuer: Issuer::new(inter_params, inter_key),
            root_der: root.der().to_vec(),
            chain_der: vec![inter.der().to_vec(), root.der().to_vec()],
        }
    }

    /// A Fulcio-style leaf for `subject` (a URI, or an e-mail when it contains `@` and no
    /// `://`), with both OIDC-issuer extensions, valid `[not_before, not_after]` (Unix seconds).
    pub fn issue(
        &self,
        subject: &str,
        oidc_issuer: &str,
        key: &Key,
        not_before: i64,
        not_after: i64,
    ) -> String {
        let mut p = CertificateParams::default();
        p.distinguished_name = rcgen::DistinguishedName::new();
        p.subject_alt_names = vec![if subject.contains("://") || !subject.contains('@') {
            SanType::URI(subject.try_into().unwrap())
        } else {
            SanType::Rfc822Name(subject.try_into().unwrap())
        }];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::CodeSigning];
        p.not_before = time::OffsetDateTime::from_unix_timestamp(not_before).unwrap();
        p.not_after = time::OffsetDateTime::from_unix_timestamp(not_after).unwrap();
        p.use_authority_key_identifier_extension = true;
        // 1.3.6.1.4.1.57264.1.1: the issuer as raw bytes (v1); .1.8: as a DER UTF8String (v2).
        let mut v2 = vec![0x0c, u8::try_from(oidc_issuer.len()).unwrap()];
        v2.extend_from_slice(oidc_issuer.as_bytes());
        p.custom_extensions = vec![
            CustomExtension::from_oid_content(
                &[1, 3, 6, 1, 4, 1, 57264, 1, 1],
                oidc_issuer.as_bytes().to_vec(),
            ),
            CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 57264, 1, 8], v2),
        ];
        p.signed_by(&key.0, &self.issuer).unwrap().pem()
    }

    /// A leaf valid for ten minutes around now, like Fulcio's.
    pub fn issue_now(&self, subject: &str, oidc_issuer: &str, key: &Key) -> String {
        self.issue(subject, oidc_issuer, key, now() - 300, now() + 300)
    }

    /// PEM of the intermediates (for the `dev.sigstore.cosign/chain` annotation).
    pub fn chain_pem(&self) -> String {
        self.chain_der
            .iter()
            .map(|d| pem_encode("CERTIFICATE", d))
            .collect::<Vec<_>>()
            .join("")
    }
}

pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

/// A test transparency log: its key signs SETs the way Rekor does.
pub struct TestRekor {
    key: Key,
    pub log_id: String,
    next_index: AtomicI64,
}

impl Default for TestRekor {
    fn default() -> Self {
        Self::new()
    }
}

impl TestRekor {
    pub fn new() -> TestRekor {
        let key = Key::p256();
        let log_id = hex::encode(Sha256::digest(key.spki_der()));
        TestRekor {
            key,
            log_id,
            next_index: AtomicI64::new(1000),
        }
    }

    /// The `dev.sigstore.cosign/bundle` annotation for an entry with this body.
    pub fn bundle(&self, body: &Value, integrated_time: i64) -> String {
        let body_b64 = B64.encode(serde_json::to_vec(body).unwrap());
        let log_index = self.next_index.fetch_add(1, Ordering::Relaxed);
        let canonical = format!(
            r#"{{"body":"{body_b64}","integratedTime":{integrated_time},"logID":"{}","logIndex":{log_index}}}"#,
            self.log_id
        );
        let set = B64.encode(self.key.sign(canonical.as_bytes()));
        json!({"SignedEntryTimestamp": set, "Payload": {"body": body_b64,
            "integratedTime": integrated_time, "logIndex": log_index, "logID": self.log_id}})
        .to_string()
    }
}

/// `trusted_root.json` with these CAs (validity windows optional) and logs.
pub fn trusted_root_json(
    cas: &[(&TestCa, Option<i64>, Option<i64>)],
    logs: &[&TestRekor],
) -> String {
    let rfc3339 = |t: i64| chrono::DateTime::from_timestamp(t, 0).unwrap().to_rfc3339();
    let authorities: Vec<Value> = cas
        .iter()
        .map(|(ca, start, end)| {
            let mut valid_for = json!({"start": rfc3339(start.unwrap_or(1_577_836_800))});
            if let Some(end) = end {
                valid_for["end"] = json!(rfc3339(*end));
            }
            json!({"subject": {"organization": "sealift.test", "commonName": "test"},
                   "uri": "https://fulcio.sealift.test",
                   "certChain": {"certificates": ca.chain_der.iter()
                        .map(|d| json!({"rawBytes": B64.encode(d)})).collect::<Vec<_>>()},
                   "validFor": valid_for})
        })
        .collect();
    let tlogs: Vec<Value> = logs
        .iter()
        .map(|l| {
            json!({"baseUrl": "https://rekor.sealift.test", "hashAlgorithm": "SHA2_256",
                   "publicKey": {"rawBytes": B64.encode(l.key.spki_der()),
                                 "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                                 "validFor": {"start": "2020-01-01T00:00:00Z"}},
                   "logId": {"keyId": B64.encode(hex::decode(&l.log_id).unwrap())}})
        })
        .collect();
    json!({"mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
           "tlogs": tlogs, "certificateAuthorities": authorities, "ctlogs": [],
           "timestampAuthorities": []})
    .to_string()
}

/// A `hashedrekord` 0.0.1 body, as Rekor canonicalises it.
pub fn hashedrekord(payload: &[u8], signature: &[u8], signer_pem: &str) -> Value {
    json!({"apiVersion": "0.0.1", "kind": "hashedrekord", "spec": {
        "data": {"hash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(payload))}},
        "signature": {"content": B64.encode(signature),
                      "publicKey": {"content": B64.encode(signer_pem)}}}})
}

/// An `intoto` 0.0.1 body (cosign attest ≤ 2.1).
pub fn intoto_entry(envelope: &[u8], payload: &[u8], signer_pem: &str) -> Value {
    json!({"apiVersion": "0.0.1", "kind": "intoto", "spec": {
        "content": {"hash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(envelope))},
                    "payloadHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(payload))}},
        "publicKey": B64.encode(signer_pem)}})
}

/// A `dsse` 0.0.1 body (cosign attest ≥ 2.2).
pub fn dsse_entry(envelope: &[u8], payload: &[u8], signature: &[u8], signer_pem: &str) -> Value {
    json!({"apiVersion": "0.0.1", "kind": "dsse", "spec": {
        "envelopeHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(envelope))},
        "payloadHash": {"algorithm": "sha256", "value": hex::encode(Sha256::digest(payload))},
        "signatures": [{"signature": B64.encode(signature), "verifier": B64.encode(signer_pem)}]}})
}

/// Who signs a fixture.
pub enum Signer<'a> {
    Key(&'a Key),
    Keyless { key: &'a Key, cert_pem: String },
}

impl Signer<'_> {
    pub fn key(&self) -> &Key {
        match self {
            Signer::Key(k) => k,
            Signer::Keyless { key, .. } => key,
        }
    }
    /// The PEM Rekor records: the public key, or the certificate.
    pub fn logged_pem(&self) -> String {
        match self {
            Signer::Key(k) => k.public_pem(),
            Signer::Keyless { cert_pem, .. } => cert_pem.clone(),
        }
    }
}

/// One layer of a cosign artifact.
#[derive(Clone, Debug)]
pub struct Layer {
    pub media_type: String,
    pub data: Vec<u8>,
    pub annotations: BTreeMap<String, String>,
}

/// cosign's simple-signing payload for `digest`, byte for byte as cosign writes it.
pub fn simple_signing(docker_reference: &str, digest: &str) -> Vec<u8> {
    format!(
        r#"{{"critical":{{"identity":{{"docker-reference":"{docker_reference}"}},"image":{{"docker-manifest-digest":"{digest}"}},"type":"cosign container image signature"}},"optional":null}}"#
    )
    .into_bytes()
}

/// A `.sig` layer over `payload`; `rekor` adds a bundle with that integrated time.
pub fn sig_layer(payload: &[u8], signer: &Signer<'_>, rekor: Option<(&TestRekor, i64)>) -> Layer {
    let signature = signer.key().sign(payload);
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "dev.cosignproject.cosign/signature".to_owned(),
        B64.encode(&signature),
    );
    if let Signer::Keyless { cert_pem, .. } = signer {
        annotations.insert(
            "dev.sigstore.cosign/certificate".to_owned(),
            cert_pem.clone(),
        );
    }
    if let Some((log, t)) = rekor {
        let body = hashedrekord(payload, &signature, &signer.logged_pem());
        annotations.insert(
            "dev.sigstore.cosign/bundle".to_owned(),
            log.bundle(&body, t),
        );
    }
    Layer {
        media_type: "application/vnd.dev.cosign.simplesigning.v1+json".into(),
        data: payload.to_vec(),
        annotations,
    }
}

/// An in-toto statement about `digest` (`_type` v0.1 as cosign usually writes).
pub fn statement(digest: &str, predicate_type: &str, predicate: &Value) -> Vec<u8> {
    serde_json::to_vec(&json!({"_type": "https://in-toto.io/Statement/v0.1",
        "predicateType": predicate_type,
        "subject": [{"name": "image", "digest": {"sha256": digest.trim_start_matches("sha256:")}}],
        "predicate": predicate}))
    .unwrap()
}

/// DSSE envelope bytes and the signature over its PAE.
pub fn envelope(statement: &[u8], key: &Key) -> (Vec<u8>, Vec<u8>) {
    let pt = "application/vnd.in-toto+json";
    let pae = sealift_verify::dsse::pae(pt, statement);
    let sig = key.sign(&pae);
    let env = json!({"payloadType": pt, "payload": B64.encode(statement),
                     "signatures": [{"keyid": "", "sig": B64.encode(&sig)}]});
    (serde_json::to_vec(&env).unwrap(), sig)
}

/// Which Rekor entry kind an attestation is logged as.
#[derive(Clone, Copy)]
pub enum EntryKind {
    Intoto,
    Dsse,
}

/// A `.att` layer for `statement`, as `cosign attest` pushes it.
pub fn att_layer(
    statement: &[u8],
    predicate_type: &str,
    signer: &Signer<'_>,
    rekor: Option<(&TestRekor, i64, EntryKind)>,
) -> Layer {
    let (env, sig) = envelope(statement, signer.key());
    let mut annotations = BTreeMap::new();
    annotations.insert(
        "dev.cosignproject.cosign/signature".to_owned(),
        String::new(),
    );
    annotations.insert("predicateType".to_owned(), predicate_type.to_owned());
    if let Signer::Keyless { cert_pem, .. } = signer {
        annotations.insert(
            "dev.sigstore.cosign/certificate".to_owned(),
            cert_pem.clone(),
        );
    }
    if let Some((log, t, kind)) = rekor {
        let body = match kind {
            EntryKind::Intoto => intoto_entry(&env, statement, &signer.logged_pem()),
            EntryKind::Dsse => dsse_entry(&env, statement, &sig, &signer.logged_pem()),
        };
        annotations.insert(
            "dev.sigstore.cosign/bundle".to_owned(),
            log.bundle(&body, t),
        );
    }
    Layer {
        media_type: "application/vnd.dsse.envelope.v1+json".into(),
        data: env,
        annotations,
    }
}

/// Pushes a cosign artifact (`sha256-<hex>.sig` or `.att`) for `image`.
pub async fn push_artifact(registry: &Registry, image: &TestImage, suffix: &str, layers: &[Layer]) {
    let tag = format!(
        "{}:sha256-{}.{suffix}",
        image.repository,
        image.digest.trim_start_matches("sha256:")
    );
    push_layers(&tag, &registry_auth(registry), layers).await;
}

/// Pushes an image manifest (config `{}`) with these layers to `reference`; returns its digest.
pub async fn push_layers(
    reference: &str,
    auth: &oci_client::secrets::RegistryAuth,
    layers: &[Layer],
) -> String {
    let client = oci_client();
    let reference: Reference = reference.parse().unwrap();
    // Fixture set-up only (oci-client, not Sealift): under heavy machine load the first token
    // fetch has failed once; retry it a little before giving up with the error.
    let mut last = None;
    for _ in 0..3 {
        match client.auth(&reference, auth, RegistryOperation::Push).await {
            Ok(_) => {
                last = None;
                break;
            }
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
        }
    }
    if let Some(e) = last {
        panic!("fixture push: authenticating to {reference} failed: {e}");
    }
    let config = b"{}".to_vec();
    client
        .push_blob(&reference, config.clone(), &sha256_digest(&config))
        .await
        .unwrap();
    let mut descriptors = Vec::new();
    for l in layers {
        let digest = sha256_digest(&l.data);
        client
            .push_blob(&reference, l.data.clone(), &digest)
            .await
            .unwrap();
        descriptors.push(json!({"mediaType": l.media_type, "digest": digest,
                                "size": l.data.len(), "annotations": l.annotations}));
    }
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256_digest(&config), "size": config.len()},
        "layers": descriptors});
    let bytes = serde_json::to_vec(&manifest).unwrap();
    client
        .push_manifest_raw(
            &reference,
            bytes.clone(),
            http::HeaderValue::from_static("application/vnd.oci.image.manifest.v1+json"),
        )
        .await
        .unwrap();
    sha256_digest(&bytes)
}

/// Parses and compiles a policy document.
pub fn compile(yaml: &str) -> Result<Arc<CompiledPolicy>, VerifyError> {
    compile_with_root(yaml, None)
}

pub fn compile_with_root(
    yaml: &str,
    default_root: Option<Arc<TrustedRoot>>,
) -> Result<Arc<CompiledPolicy>, VerifyError> {
    let docs = PolicyDocument::parse_all(yaml)?;
    CompiledPolicy::from_document(&docs[0], &NoSecrets, default_root).map(Arc::new)
}

/// Indents a multi-line string for a YAML block scalar.
pub fn indent(s: &str, by: usize) -> String {
    let pad = " ".repeat(by);
    s.lines()
        .map(|l| format!("{pad}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A key-only policy over `glob`.
pub fn key_policy(glob: &str, keys: &[&Key], extra: &str) -> Arc<CompiledPolicy> {
    let authorities: String = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            format!(
                "  - name: key-{i}\n    key:\n      data: |\n{}\n",
                indent(&k.public_pem(), 8)
            )
        })
        .collect();
    compile(&format!(
        "apiVersion: sealift.dev/v1alpha1\nkind: ClusterTrustPolicy\nmetadata: {{name: keys, uid: u-{}}}\n\
         spec:\n  images: [\"{glob}\"]\n  authorities:\n{authorities}{extra}",
        rand_suffix()
    ))
    .unwrap()
}

/// A keyless policy accepting `subject` from `issuer` under `trusted_root`.
pub fn keyless_policy(
    glob: &str,
    identity: &str,
    trusted_root: &str,
    extra: &str,
) -> Arc<CompiledPolicy> {
    compile(&keyless_policy_yaml(glob, identity, trusted_root, extra)).unwrap()
}

pub fn keyless_policy_yaml(glob: &str, identity: &str, trusted_root: &str, extra: &str) -> String {
    format!(
        "apiVersion: sealift.dev/v1alpha1\nkind: TrustPolicy\nmetadata: {{name: keyless, namespace: shop, uid: u-{}}}\n\
         spec:\n  images: [\"{glob}\"]\n  authorities:\n  - name: release-workflow\n    keyless:\n      identities:\n{identity}\n\
         \x20     trustRoot:\n        data: '{trusted_root}'\n{extra}",
        rand_suffix()
    )
}

pub fn rand_suffix() -> String {
    use rand::Rng;
    format!("{:016x}", rand::rng().random::<u64>())
}

pub fn image_glob(image: &TestImage) -> String {
    format!("{}/**", image.repository.split('/').next().unwrap())
}
