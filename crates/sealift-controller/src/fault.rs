//! Fault injection for the end-to-end crash tests: abort the process (as SIGKILL would) just
//! before persisting the status of the Nth engine step, i.e. right after its side effect.
//!
//! Compiled in only with the `fault-injection` cargo feature (`make test` enables it for the
//! end-to-end tests). A product build that finds `SEALIFT_TEST_ABORT_BEFORE_PERSIST` set refuses
//! to start rather than silently ignore it, so a crash test can never pass without crashing.

use sealift_api::Phase;

/// The environment variable naming the step to abort before (1-based).
pub const ENV: &str = "SEALIFT_TEST_ABORT_BEFORE_PERSIST";

#[cfg(feature = "fault-injection")]
static ABORT_AT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// Reads [`ENV`] once at start-up.
pub fn configure_from_env() -> Result<(), String> {
    let Ok(value) = std::env::var(ENV) else {
        return Ok(());
    };
    let n: u64 = value
        .parse()
        .map_err(|_| format!("{ENV}={value}: not a step number"))?;
    #[cfg(feature = "fault-injection")]
    {
        let _ = ABORT_AT.set(n);
        Ok(())
    }
    #[cfg(not(feature = "fault-injection"))]
    {
        let _ = n;
        Err(format!(
            "{ENV} is set but this sealift was built without the `fault-injection` feature"
        ))
    }
}

/// Called before persisting the status of step `n` (which started in `phase`).
#[cfg_attr(not(feature = "fault-injection"), allow(unused_variables))]
pub fn before_persist(n: u64, phase: Phase) {
    #[cfg(feature = "fault-injection")]
    if ABORT_AT.get() == Some(&n) {
        tracing::error!(
            step = n,
            ?phase,
            "fault injection: aborting before persisting the step"
        );
        std::process::abort();
    }
}
