//! The promotion as a pure state machine: resolve → verify → commit → open → track, as
//! resumable, idempotent steps over narrow [`ports`] (`Repo`, `Verifier`, `PullRequests`,
//! [`Clock`]). It knows nothing about Kubernetes, git, Sigstore or HTTP: the controller and the
//! CLI feed it a spec and the last recorded status, persist what [`Engine::step`] returns, and
//! call again when it says ([`driver`] is that loop, shared by both). The real ports live in
//! `sealift-adapters`.

pub mod clock;
pub mod driver;
pub mod engine;
pub mod ports;
pub mod status;

pub use clock::{Clock, ManualClock, SystemClock};
pub use engine::{Engine, Next, Stepped, Timing};
pub use ports::{
    CommitResult, PromotionRef, PullRequests, Repo, SourceImage, StepError, Verifier, wall_clock,
};
