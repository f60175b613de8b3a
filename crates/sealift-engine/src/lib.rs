//! The promotion pipeline (resolve, verify, plan + commit, pull request, track) as resumable,
//! idempotent steps over the [`ports`]: `Repo`, `Verifier`, `PullRequests` and `Clock`. Knows
//! nothing about Kubernetes: the controller and the CLI feed it a spec and the last recorded
//! status, persist what [`Engine::step`] returns, and call again when it says.

pub mod adapters;
pub mod engine;
pub mod ports;
pub mod status;

pub use engine::{Engine, Next, Stepped, Timing};
pub use ports::{
    Clock, CommitResult, ManualClock, PromotionRef, PullRequests, Repo, SourceImage, StepError,
    SystemClock, Verifier, wall_clock,
};
