//! Pull-request providers (GitHub, GitLab, Gitea, Forgejo) behind one `Forge` trait: find or open
//! the promotion's pull request, render the evidence report, set the `sealift/verified` status and
//! track the pull request until it is merged or closed.
//!
//! Steps 5 and 6 of the promotion in `DESIGN.md`. Not implemented yet.
