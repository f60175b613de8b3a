//! Status bookkeeping: conditions with `observedGeneration`, `lastTransitionTime` that moves only
//! when a condition's status flips, and messages capped in length.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use sealift_api::PromotionStatus;
use std::time::SystemTime;

/// Longest condition message kept (the API allows 32 KiB; a status should stay readable).
pub const MAX_MESSAGE: usize = 1024;

/// A Kubernetes timestamp for `t` (whole seconds, as the API stores them).
pub fn time(t: SystemTime) -> Time {
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Time(Timestamp::from_second(i64::try_from(secs).unwrap_or(0)).unwrap_or(Timestamp::UNIX_EPOCH))
}

/// `t` back as a `SystemTime`.
pub fn system_time(t: &Time) -> SystemTime {
    let secs = u64::try_from(t.0.as_second()).unwrap_or(0);
    SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs)
}

/// `message` cut to at most `max` bytes (an ellipsis included), on a character boundary: for
/// condition messages and Event notes alike.
pub fn truncate(message: &str, max: usize) -> String {
    if message.len() <= max {
        return message.to_owned();
    }
    let mut end = max.saturating_sub(3);
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &message[..end])
}

/// Sets condition `type_`; keeps `lastTransitionTime` when the status does not change.
pub fn set_condition(
    status: &mut PromotionStatus,
    type_: &str,
    value: bool,
    reason: &str,
    message: &str,
    generation: i64,
    now: SystemTime,
) {
    let value = if value { "True" } else { "False" };
    let message = truncate(message, MAX_MESSAGE);
    match status.conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(c) => {
            if c.status != value {
                c.last_transition_time = time(now);
            }
            c.status = value.to_owned();
            c.reason = reason.to_owned();
            c.message = message;
            c.observed_generation = Some(generation);
        }
        None => status.conditions.push(Condition {
            type_: type_.to_owned(),
            status: value.to_owned(),
            reason: reason.to_owned(),
            message,
            observed_generation: Some(generation),
            last_transition_time: time(now),
        }),
    }
}

/// The condition of `type_`, if set.
pub fn condition<'a>(status: &'a PromotionStatus, type_: &str) -> Option<&'a Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}
