//! Credentials held in memory only, never printed.

use std::fmt;
use zeroize::Zeroize;

/// A secret string (forge token, GitHub App private key, installation token).
///
/// `Debug` prints `[REDACTED]`, there is no `Display`, and the memory is zeroed on drop. The only
/// way to read it is [`SecretString::expose_secret`], so every use is easy to find in review.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// Reads the secret. Only for building an authentication header or signing a JWT.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }

    /// True when the secret is empty (or only whitespace).
    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString([REDACTED])")
    }
}

impl Drop for SecretString {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// Well-known token prefixes: anything that looks like one is masked in messages copied from a
/// forge's response, even when Sealift does not know the exact secret (defence in depth).
const TOKEN_PREFIXES: &[&str] = &[
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
];

/// Removes `secrets` and anything shaped like a forge token from `text`, then truncates it to
/// `max_chars`. Used on every message that leaves this crate and came from a response.
pub(crate) fn scrub(text: &str, secrets: &[&str], max_chars: usize) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        // Very short "secrets" would mask ordinary words; real tokens are long.
        if secret.len() >= 8 {
            out = out.replace(secret, "[REDACTED]");
        }
    }
    for prefix in TOKEN_PREFIXES {
        let mut result = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(pos) = rest.find(prefix) {
            result.push_str(&rest[..pos]);
            result.push_str("[REDACTED]");
            let after = &rest[pos + prefix.len()..];
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(after.len());
            rest = &after[end..];
        }
        result.push_str(rest);
        out = result;
    }
    let out: String = out
        .chars()
        .filter_map(|c| match c {
            '\n' | '\r' | '\t' => Some(' '),
            c if c.is_control() => None,
            c => Some(c),
        })
        .collect();
    truncate_chars(&out, max_chars)
}

/// Truncates to at most `max` characters, marking the cut with `…`.
pub(crate) fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_of_a_secret_never_shows_it() {
        let secret = SecretString::new("ghp_supersecretvalue123");
        let shown = format!("{secret:?} {:?}", Some(&secret));
        assert!(!shown.contains("supersecret"), "{shown}");
        assert!(shown.contains("[REDACTED]"));
    }

    #[test]
    fn scrubbing_masks_known_secrets_and_token_shaped_words() {
        let text = "bad token hunter2hunter2 and ghs_abcDEF123_x-y, glpat-zzz9 end";
        let clean = scrub(text, &["hunter2hunter2"], 500);
        assert_eq!(clean, "bad token [REDACTED] and [REDACTED], [REDACTED] end");
    }

    #[test]
    fn scrubbing_drops_control_characters_and_truncates() {
        let clean = scrub("line one\nline two\u{1b}[31m", &[], 12);
        assert_eq!(clean, "line one li…");
        assert_eq!(clean.chars().count(), 12);
    }
}
