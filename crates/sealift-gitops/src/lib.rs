//! Git side of a Sealift promotion: the persistent repository cache, the lossless kustomize
//! `images:` edit, the in-memory commit on top of the base branch and the push with retry.
//!
//! Steps 1, 3 and 4 of the promotion in `DESIGN.md`. Not implemented yet.
