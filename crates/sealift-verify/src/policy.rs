//! Trust policies: strict parsing (an unknown or misspelt field is an error naming its path),
//! compilation (keys, trust roots, identity regexes and CEL parsed once) and fail-closed selection.

use crate::cel::CelPolicy;
use crate::certificate::{PublicKey, parse_public_key};
use crate::error::VerifyError;
use crate::reference::{Glob, ImageRef};
use crate::trust_root::TrustedRoot;
use regex::Regex;
use sealift_api::{Authority, PolicyEvidence, TrustPolicySpec};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;

/// Default Secret key of a key authority's public key.
pub const DEFAULT_KEY_SECRET_KEY: &str = "cosign.pub";
/// Default Secret key of a keyless authority's trust root.
pub const DEFAULT_TRUST_ROOT_SECRET_KEY: &str = "trusted_root.json";
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// `TrustPolicy` or `ClusterTrustPolicy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// Namespaced.
    TrustPolicy,
    /// Cluster-wide.
    ClusterTrustPolicy,
}

impl PolicyKind {
    /// The Kubernetes kind.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TrustPolicy => "TrustPolicy",
            Self::ClusterTrustPolicy => "ClusterTrustPolicy",
        }
    }
}

/// Identity of a policy version: what verification results are cached under.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PolicyMeta {
    /// The kind.
    pub kind: PolicyKind,
    /// The namespace of a TrustPolicy.
    pub namespace: Option<String>,
    /// The name.
    pub name: String,
    /// `metadata.uid` (for a file without one: `sha256:` of its spec).
    pub uid: String,
    /// `metadata.generation` (0 when absent).
    pub generation: i64,
}

/// Where `secretRef`s are read from (the policy's namespace, or Sealift's own for a
/// ClusterTrustPolicy). The controller fills it from Kubernetes Secrets; the CLI from a directory.
pub trait SecretSource: Send + Sync {
    /// The value of `key` in Secret `name`, `Ok(None)` if the Secret or key does not exist.
    fn get(&self, name: &str, key: &str) -> Result<Option<Vec<u8>>, String>;
}

/// No Secrets at all: every `secretRef` fails.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSecrets;

impl SecretSource for NoSecrets {
    fn get(&self, _: &str, _: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(None)
    }
}

impl SecretSource for std::collections::BTreeMap<(String, String), Vec<u8>> {
    fn get(&self, name: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
        Ok(self.get(&(name.to_owned(), key.to_owned())).cloned())
    }
}

/// Secrets as files: `DIR/<secret name>/<key>` (the layout of a mounted Secret, one folder each).
#[derive(Debug, Clone)]
pub struct SecretDir(pub PathBuf);

impl SecretSource for SecretDir {
    fn get(&self, name: &str, key: &str) -> Result<Option<Vec<u8>>, String> {
        let safe = |s: &str| {
            !s.is_empty() && s != "." && s != ".." && !s.contains('/') && !s.contains('\\')
        };
        if !safe(name) || !safe(key) {
            return Err(format!("invalid Secret reference {name}/{key}"));
        }
        match std::fs::read(self.0.join(name).join(key)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("reading Secret {name}/{key}: {}", e.kind())),
        }
    }
}

/// A policy document as found in a file: `apiVersion`, `kind`, `metadata`, `spec`.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyDocument {
    /// Identity.
    pub meta: PolicyMeta,
    /// The rules.
    pub spec: TrustPolicySpec,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawDocument {
    api_version: String,
    kind: String,
    #[serde(default)]
    metadata: RawMetadata,
    spec: serde_json::Value,
    #[serde(default)]
    #[allow(dead_code)]
    status: Option<serde_json::Value>,
}

#[derive(Default, Deserialize)]
struct RawMetadata {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default)]
    uid: Option<String>,
    #[serde(default)]
    generation: Option<i64>,
}

fn path_error<E: std::fmt::Display>(prefix: &str, e: serde_path_to_error::Error<E>) -> VerifyError {
    let path = e.path().to_string();
    let path = match (prefix.is_empty(), path == "." || path.is_empty()) {
        (_, true) => prefix.to_owned(),
        (true, false) => path,
        (false, false) => format!("{prefix}.{path}"),
    };
    VerifyError::invalid_policy(path, e.inner().to_string())
}

/// Parses the spec alone (a `TrustPolicySpec` as JSON), strictly.
pub fn parse_spec(value: serde_json::Value) -> Result<TrustPolicySpec, VerifyError> {
    serde_path_to_error::deserialize(value).map_err(|e| path_error("spec", e))
}

impl PolicyDocument {
    /// Parses one or more YAML (or JSON) documents separated by `---`. Strict: an unknown field
    /// anywhere is an error naming its path (`spec.authorities[0]: unknown field `keyy``).
    pub fn parse_all(text: &str) -> Result<Vec<PolicyDocument>, VerifyError> {
        let values: Vec<serde_json::Value> = serde_saphyr::from_multiple(text).map_err(|e| {
            VerifyError::invalid_policy("(document)", format!("not valid YAML: {e}"))
        })?;
        let values: Vec<_> = values.into_iter().filter(|v| !v.is_null()).collect();
        if values.is_empty() {
            return Err(VerifyError::invalid_policy(
                "(document)",
                "no policy document found",
            ));
        }
        values
            .into_iter()
            .enumerate()
            .map(|(i, v)| {
                Self::from_value(v).map_err(|e| match e {
                    VerifyError::InvalidPolicy { path, reason } => {
                        VerifyError::invalid_policy(format!("document {i}: {path}"), reason)
                    }
                    other => other,
                })
            })
            .collect()
    }

    /// Parses one document from a JSON value.
    pub fn from_value(value: serde_json::Value) -> Result<PolicyDocument, VerifyError> {
        let raw: RawDocument =
            serde_path_to_error::deserialize(value).map_err(|e| path_error("", e))?;
        if raw.api_version != sealift_api::API_VERSION {
            return Err(VerifyError::invalid_policy(
                "apiVersion",
                format!(
                    "expected {}, got {:?}",
                    sealift_api::API_VERSION,
                    raw.api_version
                ),
            ));
        }
        let kind = match raw.kind.as_str() {
            "TrustPolicy" => PolicyKind::TrustPolicy,
            "ClusterTrustPolicy" => PolicyKind::ClusterTrustPolicy,
            other => {
                return Err(VerifyError::invalid_policy(
                    "kind",
                    format!("expected TrustPolicy or ClusterTrustPolicy, got {other:?}"),
                ));
            }
        };
        let spec_hash = format!(
            "sha256:{}",
            hex::encode(Sha256::digest(raw.spec.to_string().as_bytes()))
        );
        let spec = parse_spec(raw.spec)?;
        let name = raw
            .metadata
            .name
            .ok_or_else(|| VerifyError::invalid_policy("metadata.name", "missing"))?;
        Ok(PolicyDocument {
            meta: PolicyMeta {
                kind,
                namespace: match kind {
                    PolicyKind::TrustPolicy => raw.metadata.namespace,
                    PolicyKind::ClusterTrustPolicy => None,
                },
                name,
                uid: raw.metadata.uid.unwrap_or(spec_hash),
                generation: raw.metadata.generation.unwrap_or(0),
            },
            spec,
        })
    }
}

/// How a signer must be identified.
#[derive(Debug)]
pub(crate) enum Matcher {
    Exact(String),
    Regex(Regex),
}

impl Matcher {
    pub(crate) fn matches(&self, value: &str) -> bool {
        match self {
            // Go's regexp.MatchString semantics, as cosign: anchor with ^…$ in the policy.
            Self::Exact(s) => s == value,
            Self::Regex(r) => r.is_match(value),
        }
    }

    fn describe(&self) -> String {
        match self {
            Self::Exact(s) => format!("{s:?}"),
            Self::Regex(r) => format!("/{}/", r.as_str()),
        }
    }
}

/// One accepted keyless identity.
#[derive(Debug)]
pub(crate) struct IdentityMatcher {
    pub(crate) issuer: Matcher,
    pub(crate) subject: Matcher,
}

impl IdentityMatcher {
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} from {}",
            self.subject.describe(),
            self.issuer.describe()
        )
    }
}

/// A compiled authority.
#[derive(Debug)]
pub(crate) enum AuthorityKind {
    Key(PublicKey),
    Keyless {
        identities: Vec<IdentityMatcher>,
        root: Arc<TrustedRoot>,
    },
}

/// An authority with its name for evidence.
#[derive(Debug)]
pub(crate) struct CompiledAuthority {
    pub(crate) name: String,
    pub(crate) kind: AuthorityKind,
}

/// A required attestation, compiled.
#[derive(Debug)]
pub(crate) struct CompiledRequirement {
    pub(crate) predicate_type: String,
    pub(crate) policy: Option<CelPolicy>,
}

/// A policy ready to verify against: every key, trust root, regex and CEL expression parsed.
#[derive(Debug)]
pub struct CompiledPolicy {
    pub(crate) meta: PolicyMeta,
    pub(crate) globs: Vec<Glob>,
    pub(crate) authorities: Vec<CompiledAuthority>,
    pub(crate) threshold: usize,
    pub(crate) tlog_required: bool,
    pub(crate) attestations: Vec<CompiledRequirement>,
    /// The Rekor keys key-based authorities are checked against: the default trust root and
    /// every keyless authority's trust root.
    pub(crate) log_roots: Vec<Arc<TrustedRoot>>,
    /// SHA-256 of the spec and of everything resolved from Secrets and the default trust root:
    /// a rotated key changes it even when the policy's generation does not.
    pub(crate) fingerprint: String,
}

fn read_secret(
    secrets: &dyn SecretSource,
    path: &str,
    sel: &sealift_api::SecretKeySelector,
    default_key: &str,
) -> Result<Vec<u8>, VerifyError> {
    let key = sel.key.as_deref().unwrap_or(default_key);
    secrets
        .get(&sel.name, key)
        .map_err(|e| VerifyError::invalid_policy(path, e))?
        .ok_or_else(|| {
            VerifyError::invalid_policy(path, format!("Secret {} has no key {key}", sel.name))
        })
}

fn compile_matcher(
    path: &str,
    exact: &Option<String>,
    regex: &Option<String>,
    what: &str,
) -> Result<Matcher, VerifyError> {
    match (exact, regex) {
        (Some(s), None) => Ok(Matcher::Exact(s.clone())),
        (None, Some(r)) => regex::RegexBuilder::new(r)
            .size_limit(REGEX_SIZE_LIMIT)
            .build()
            .map(Matcher::Regex)
            .map_err(|e| {
                VerifyError::invalid_policy(
                    format!("{path}.{what}RegExp"),
                    format!("invalid regular expression: {}", one_line(&e.to_string())),
                )
            }),
        _ => Err(VerifyError::invalid_policy(
            path,
            format!("exactly one of `{what}` and `{what}RegExp` is required"),
        )),
    }
}

fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn compile_authority(
    index: usize,
    a: &Authority,
    secrets: &dyn SecretSource,
    default_root: Option<&Arc<TrustedRoot>>,
) -> Result<CompiledAuthority, VerifyError> {
    let path = format!("spec.authorities[{index}]");
    let name = a
        .name
        .clone()
        .unwrap_or_else(|| format!("authorities[{index}]"));
    let kind = match (&a.key, &a.keyless) {
        (Some(k), None) => {
            let kpath = format!("{path}.key");
            let pem = match (&k.secret_ref, &k.data) {
                (Some(sel), None) => read_secret(
                    secrets,
                    &format!("{kpath}.secretRef"),
                    sel,
                    DEFAULT_KEY_SECRET_KEY,
                )?,
                (None, Some(data)) => data.as_bytes().to_vec(),
                _ => {
                    return Err(VerifyError::invalid_policy(
                        kpath,
                        "exactly one of `secretRef` and `data` is required",
                    ));
                }
            };
            AuthorityKind::Key(
                parse_public_key(&pem).map_err(|e| VerifyError::invalid_policy(kpath, e))?,
            )
        }
        (None, Some(kl)) => {
            let kpath = format!("{path}.keyless");
            if kl.identities.is_empty() {
                return Err(VerifyError::invalid_policy(
                    format!("{kpath}.identities"),
                    "at least one identity is required",
                ));
            }
            let identities = kl
                .identities
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    let ipath = format!("{kpath}.identities[{i}]");
                    Ok(IdentityMatcher {
                        issuer: compile_matcher(&ipath, &id.issuer, &id.issuer_reg_exp, "issuer")?,
                        subject: compile_matcher(
                            &ipath,
                            &id.subject,
                            &id.subject_reg_exp,
                            "subject",
                        )?,
                    })
                })
                .collect::<Result<Vec<_>, VerifyError>>()?;
            let root = match &kl.trust_root {
                None => default_root.cloned().ok_or_else(|| {
                    VerifyError::invalid_policy(
                        format!("{kpath}.trustRoot"),
                        "no trustRoot given and no default trust root configured",
                    )
                })?,
                Some(tr) => {
                    let rpath = format!("{kpath}.trustRoot");
                    let json = match (&tr.secret_ref, &tr.data) {
                        (Some(sel), None) => read_secret(
                            secrets,
                            &format!("{rpath}.secretRef"),
                            sel,
                            DEFAULT_TRUST_ROOT_SECRET_KEY,
                        )?,
                        (None, Some(data)) => data.as_bytes().to_vec(),
                        _ => {
                            return Err(VerifyError::invalid_policy(
                                rpath,
                                "exactly one of `secretRef` and `data` is required",
                            ));
                        }
                    };
                    Arc::new(
                        TrustedRoot::from_json(&json)
                            .map_err(|e| VerifyError::invalid_policy(rpath, e))?,
                    )
                }
            };
            AuthorityKind::Keyless { identities, root }
        }
        _ => {
            return Err(VerifyError::invalid_policy(
                path,
                "exactly one of `key` and `keyless` is required",
            ));
        }
    };
    Ok(CompiledAuthority { name, kind })
}

impl CompiledPolicy {
    /// Compiles a policy. `default_root` is the operator's trust root (e.g. the public-good
    /// Sigstore `trusted_root.json`) for keyless authorities without `trustRoot` and for the Rekor
    /// evidence of key-based signatures.
    pub fn compile(
        meta: PolicyMeta,
        spec: &TrustPolicySpec,
        secrets: &dyn SecretSource,
        default_root: Option<Arc<TrustedRoot>>,
    ) -> Result<CompiledPolicy, VerifyError> {
        if spec.images.is_empty() {
            return Err(VerifyError::invalid_policy(
                "spec.images",
                "at least one glob is required",
            ));
        }
        let globs = spec
            .images
            .iter()
            .enumerate()
            .map(|(i, g)| {
                Glob::new(&g.0)
                    .map_err(|e| VerifyError::invalid_policy(format!("spec.images[{i}]"), e))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if spec.authorities.is_empty() {
            return Err(VerifyError::invalid_policy(
                "spec.authorities",
                "at least one authority is required",
            ));
        }
        let authorities = spec
            .authorities
            .iter()
            .enumerate()
            .map(|(i, a)| compile_authority(i, a, secrets, default_root.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        let threshold = spec.threshold.map(|t| t as usize).unwrap_or(1);
        if threshold == 0 || threshold > authorities.len() {
            return Err(VerifyError::invalid_policy(
                "spec.threshold",
                format!(
                    "must be between 1 and the number of authorities ({})",
                    authorities.len()
                ),
            ));
        }
        let mut log_roots: Vec<Arc<TrustedRoot>> = default_root.into_iter().collect();
        for a in &authorities {
            if let AuthorityKind::Keyless { root, .. } = &a.kind
                && !log_roots.iter().any(|r| Arc::ptr_eq(r, root))
            {
                log_roots.push(root.clone());
            }
        }
        let tlog_required = spec.transparency_log.required;
        let has_key_authority = authorities
            .iter()
            .any(|a| matches!(a.kind, AuthorityKind::Key(_)));
        if tlog_required && has_key_authority && log_roots.is_empty() {
            return Err(VerifyError::invalid_policy(
                "spec.transparencyLog.required",
                "a key authority's Rekor evidence cannot be checked: no trust root with Rekor keys \
                 (configure a default trust root, add a keyless authority's trustRoot, or set \
                 transparencyLog.required: false)",
            ));
        }
        let attestations = spec
            .attestations
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let policy = r
                    .policy
                    .as_deref()
                    .map(CelPolicy::compile)
                    .transpose()
                    .map_err(|e| {
                        VerifyError::invalid_policy(format!("spec.attestations[{i}].policy"), e)
                    })?;
                Ok(CompiledRequirement {
                    predicate_type: r.predicate_type.clone(),
                    policy,
                })
            })
            .collect::<Result<Vec<_>, VerifyError>>()?;
        let mut material = Sha256::new();
        material.update(serde_json::to_vec(spec).unwrap_or_default());
        for a in &authorities {
            match &a.kind {
                AuthorityKind::Key(k) => material.update(&k.spki),
                AuthorityKind::Keyless { root, .. } => material.update(root.source_digest),
            }
        }
        for root in &log_roots {
            material.update(root.source_digest);
        }
        Ok(CompiledPolicy {
            fingerprint: hex::encode(material.finalize()),
            meta,
            globs,
            authorities,
            threshold,
            tlog_required,
            attestations,
            log_roots,
        })
    }

    /// Compiles a parsed document.
    pub fn from_document(
        doc: &PolicyDocument,
        secrets: &dyn SecretSource,
        default_root: Option<Arc<TrustedRoot>>,
    ) -> Result<CompiledPolicy, VerifyError> {
        Self::compile(doc.meta.clone(), &doc.spec, secrets, default_root)
    }

    /// The policy's identity.
    pub fn meta(&self) -> &PolicyMeta {
        &self.meta
    }

    /// SHA-256 (hex) of the spec and of the keys and trust roots it resolved.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Whether the policy's globs cover the image.
    pub fn applies_to(&self, image: &ImageRef) -> bool {
        let name = image.name();
        self.globs.iter().any(|g| g.matches(&name))
    }

    /// Whether the policy requires attestations (and so whether `.att` must be fetched).
    pub fn requires_attestations(&self) -> bool {
        !self.attestations.is_empty()
    }

    /// The evidence's `policy` record.
    pub fn evidence(&self) -> PolicyEvidence {
        PolicyEvidence {
            kind: self.meta.kind.as_str().to_owned(),
            namespace: self.meta.namespace.clone(),
            name: self.meta.name.clone(),
            generation: Some(self.meta.generation),
        }
    }
}

/// Picks the policies that apply to `image`. None → `NoMatchingPolicy` (fail closed).
pub fn select_policies<'a>(
    image: &ImageRef,
    policies: &'a [Arc<CompiledPolicy>],
) -> Result<Vec<&'a Arc<CompiledPolicy>>, VerifyError> {
    let matching: Vec<_> = policies.iter().filter(|p| p.applies_to(image)).collect();
    if matching.is_empty() {
        return Err(VerifyError::NoMatchingPolicy {
            image: image.name(),
        });
    }
    Ok(matching)
}
