//! The real implementations of the engine's ports, over Sealift's libraries.

pub mod git;

use async_trait::async_trait;
use std::collections::BTreeMap;

/// Where Secret data comes from: the controller reads Kubernetes Secrets in the Promotion's own
/// namespace, the CLI reads a local file. The data never leaves memory.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The data of Secret `name` in `namespace`.
    async fn secret(
        &self,
        namespace: &str,
        name: &str,
    ) -> Result<BTreeMap<String, Vec<u8>>, crate::StepError>;
}
