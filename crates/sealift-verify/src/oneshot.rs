//! One verification from files, as `sealift verify IMAGE@DIGEST --policy FILE` does: parse every
//! policy document of the file, compile them, select those whose globs cover the image (none →
//! rejected, fail closed), verify against each.

use crate::error::VerifyError;
use crate::policy::{
    CompiledPolicy, NoSecrets, PolicyDocument, SecretDir, SecretSource, select_policies,
};
use crate::reference::ImageRef;
use crate::trust_root::TrustedRoot;
use crate::verifier::{Verifier, VerifierConfig};
use sealift_api::Evidence;
use std::path::PathBuf;
use std::sync::Arc;

/// Inputs of a one-shot verification.
#[derive(Clone, Debug, Default)]
pub struct OneShot {
    /// The policy file's text (one or more YAML/JSON documents).
    pub policy_text: String,
    /// A directory of Secrets (`DIR/<name>/<key>`) for `secretRef`s.
    pub secrets_dir: Option<PathBuf>,
    /// The default `trusted_root.json` (bytes), for keyless authorities without `trustRoot` and
    /// for key-based Rekor evidence.
    pub trusted_root: Option<Vec<u8>>,
    /// Registry, cache and limits.
    pub config: VerifierConfig,
}

/// Verifies `image` against every matching policy of the file. `Ok` only if all pass.
pub async fn verify_once(image: &str, options: OneShot) -> Result<Vec<Evidence>, VerifyError> {
    let image = ImageRef::parse(image)?;
    let default_root = options
        .trusted_root
        .as_deref()
        .map(|b| {
            TrustedRoot::from_json(b)
                .map(Arc::new)
                .map_err(|e| VerifyError::invalid_policy("--trusted-root", e))
        })
        .transpose()?;
    let secrets: Box<dyn SecretSource> = match options.secrets_dir {
        Some(dir) => Box::new(SecretDir(dir)),
        None => Box::new(NoSecrets),
    };
    let policies = PolicyDocument::parse_all(&options.policy_text)?
        .iter()
        .map(|doc| {
            CompiledPolicy::from_document(doc, secrets.as_ref(), default_root.clone()).map(Arc::new)
        })
        .collect::<Result<Vec<_>, _>>()?;
    let verifier = Verifier::new(options.config)?;
    let mut evidence = Vec::new();
    for policy in select_policies(&image, &policies)? {
        evidence.push(verifier.verify_ref(&image, policy).await?);
    }
    Ok(evidence)
}
