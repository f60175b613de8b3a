//! The Kubernetes front end of Sealift: a kube-runtime controller over `Promotion` resources that
//! drives the engine and records its results in status, Events and metrics.
//!
//! Not implemented yet.
