//! Image references pinned by digest, and the glob matching of trust policies.
//!
//! Globs match the normalised repository (`registry/path`, no tag or digest): `*` matches within
//! one path segment, `**` across segments. A literal `/` in the glob must match a literal `/`, so
//! `registry/acme/**` can never match `registry/acme-evil/…` (STYLE.md, after kubewarden's
//! policy-fetcher, which forces the trailing `/`).

use crate::error::VerifyError;
use std::fmt;

/// Docker Hub's name in normalised references (what `docker.io/x` and `x` mean).
pub const DOCKER_HUB: &str = "index.docker.io";
/// The host that actually serves Docker Hub's registry API.
const DOCKER_HUB_API: &str = "registry-1.docker.io";
const MAX_REFERENCE_LEN: usize = 512;

/// `registry/repository@sha256:<hex>`: an image pinned by digest, normalised.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// `host[:port]`, normalised (`docker.io` → `index.docker.io`).
    pub registry: String,
    /// The repository path within the registry (`library/nginx` for `nginx`).
    pub repository: String,
    /// `sha256:<64 lowercase hex>`.
    pub digest: String,
}

impl ImageRef {
    /// Parses `registry/repository[:tag]@sha256:<hex>`. A tag is allowed but ignored: only the
    /// digest is ever verified (DESIGN.md: no tag lookups).
    pub fn parse(reference: &str) -> Result<ImageRef, VerifyError> {
        let invalid = |reason: &str| VerifyError::InvalidReference {
            reference: reference.chars().take(MAX_REFERENCE_LEN).collect(),
            reason: reason.to_owned(),
        };
        if reference.len() > MAX_REFERENCE_LEN {
            return Err(invalid("longer than 512 characters"));
        }
        let (name, digest) = reference
            .split_once('@')
            .ok_or_else(|| invalid("it must be pinned by digest (`…@sha256:<hex>`)"))?;
        validate_digest(digest).map_err(|r| invalid(&r))?;
        let name = strip_tag(name);
        let (registry, repository) = normalise_name(name).map_err(|r| invalid(&r))?;
        Ok(ImageRef {
            registry,
            repository,
            digest: digest.to_owned(),
        })
    }

    /// `registry/repository`, what policy globs are matched against.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The hex part of the digest.
    pub fn digest_hex(&self) -> &str {
        self.digest.trim_start_matches("sha256:")
    }

    /// The host the registry API is served from.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}@{}", self.registry, self.repository, self.digest)
    }
}

/// Checks `sha256:<64 lowercase hex>`.
pub fn validate_digest(digest: &str) -> Result<(), String> {
    let hex = digest
        .strip_prefix("sha256:")
        .ok_or_else(|| format!("digest {digest:?} is not sha256:<hex>"))?;
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err("a sha256 digest has 64 lowercase hex characters".to_owned());
    }
    Ok(())
}

fn strip_tag(name: &str) -> &str {
    // A `:` after the last `/` is a tag; one before it is a registry port.
    match (name.rfind(':'), name.rfind('/')) {
        (Some(colon), Some(slash)) if colon > slash => &name[..colon],
        (Some(colon), None) => &name[..colon],
        _ => name,
    }
}

fn is_registry_component(first: &str) -> bool {
    first.contains('.') || first.contains(':') || first == "localhost"
}

/// Splits and normalises `registry/path` the way docker and cosign do.
fn normalise_name(name: &str) -> Result<(String, String), String> {
    if name.is_empty() {
        return Err("empty repository".to_owned());
    }
    let (registry, path) = match name.split_once('/') {
        Some((first, rest)) if is_registry_component(first) => (first.to_owned(), rest.to_owned()),
        _ => (DOCKER_HUB.to_owned(), name.to_owned()),
    };
    let registry = if registry == "docker.io" {
        DOCKER_HUB.to_owned()
    } else {
        registry
    };
    let path = if registry == DOCKER_HUB && !path.contains('/') {
        format!("library/{path}")
    } else {
        path
    };
    if !registry
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':'))
    {
        return Err(format!("invalid registry host {registry:?}"));
    }
    for segment in path.split('/') {
        let ok = !segment.is_empty()
            && segment != "."
            && segment != ".."
            && segment
                .bytes()
                .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'));
        if !ok {
            return Err(format!(
                "invalid repository path segment {segment:?} (lowercase letters, digits, `._-`)"
            ));
        }
    }
    Ok((registry, path))
}

/// A compiled image glob.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Glob {
    source: String,
    tokens: Vec<Token>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Literal(u8),
    /// `*`: any run of characters except `/`.
    Star,
    /// `**`: any run of characters, `/` included.
    DoubleStar,
}

impl Glob {
    /// Compiles a glob, normalising its registry part like an image reference (`docker.io/x/**`
    /// and `x/**` both mean `index.docker.io/x/**`).
    pub fn new(glob: &str) -> Result<Glob, String> {
        if glob.is_empty() || glob.len() > MAX_REFERENCE_LEN {
            return Err("a glob has 1 to 512 characters".to_owned());
        }
        if glob.contains('@') {
            return Err("a glob matches repositories; it cannot contain a digest".to_owned());
        }
        if glob.contains("***") {
            return Err("`***` is not a glob operator (use `*` or `**`)".to_owned());
        }
        let normalised = normalise_glob(glob);
        let bytes = normalised.as_bytes();
        let mut tokens = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'*' if bytes.get(i + 1) == Some(&b'*') => {
                    tokens.push(Token::DoubleStar);
                    i += 2;
                }
                b'*' => {
                    tokens.push(Token::Star);
                    i += 1;
                }
                b => {
                    tokens.push(Token::Literal(b));
                    i += 1;
                }
            }
        }
        Ok(Glob {
            source: glob.to_owned(),
            tokens,
        })
    }

    /// The glob as written in the policy.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Does `name` (`registry/repository`, normalised) match? Linear-space dynamic programming:
    /// no backtracking blow-up whatever the glob.
    pub fn matches(&self, name: &str) -> bool {
        let text = name.as_bytes();
        // reach[j]: the tokens seen so far can match text[..j].
        let mut reach = vec![false; text.len() + 1];
        reach[0] = true;
        for token in &self.tokens {
            let mut next = vec![false; text.len() + 1];
            match token {
                Token::Literal(c) => {
                    for j in 0..text.len() {
                        if reach[j] && text[j] == *c {
                            next[j + 1] = true;
                        }
                    }
                }
                Token::Star | Token::DoubleStar => {
                    let crosses = *token == Token::DoubleStar;
                    let mut carrying = false;
                    for j in 0..=text.len() {
                        if reach[j] {
                            carrying = true;
                        }
                        next[j] = carrying;
                        if j < text.len() && text[j] == b'/' && !crosses {
                            carrying = false;
                        }
                    }
                }
            }
            reach = next;
        }
        reach[text.len()]
    }
}

fn normalise_glob(glob: &str) -> String {
    if glob == "**" || glob == "*" {
        return glob.to_owned();
    }
    match glob.split_once('/') {
        Some(("docker.io", rest)) => format!("{DOCKER_HUB}/{rest}"),
        Some((first, _)) if is_registry_component(first) || first.contains('*') => glob.to_owned(),
        Some(_) => format!("{DOCKER_HUB}/{glob}"),
        None if glob.contains('*') => glob.to_owned(),
        None => format!("{DOCKER_HUB}/library/{glob}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn glob(g: &str) -> Glob {
        Glob::new(g).unwrap()
    }

    #[test]
    fn references_are_normalised_like_docker_does() {
        let r = ImageRef::parse(&format!("nginx@{DIGEST}")).unwrap();
        assert_eq!(r.name(), "index.docker.io/library/nginx");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        let r = ImageRef::parse(&format!("docker.io/acme/app:v1@{DIGEST}")).unwrap();
        assert_eq!(r.name(), "index.docker.io/acme/app");
        let r = ImageRef::parse(&format!("127.0.0.1:5000/acme/app:v1@{DIGEST}")).unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("127.0.0.1:5000", "acme/app")
        );
        assert_eq!(r.to_string(), format!("127.0.0.1:5000/acme/app@{DIGEST}"));
    }

    #[test]
    fn references_without_a_valid_digest_are_refused() {
        for bad in [
            "registry.example.com/acme/app:v1",
            "registry.example.com/acme/app@sha256:abc",
            "registry.example.com/acme/app@sha512:00",
            "registry.example.com/acme/../app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "registry.example.com/Acme/app@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            let err = ImageRef::parse(bad).unwrap_err();
            assert_eq!(err.category(), "InvalidReference", "{bad}");
        }
    }

    #[test]
    fn a_prefix_glob_never_matches_a_sibling_with_a_longer_name() {
        let g = glob("registry.example.com/acme/**");
        assert!(g.matches("registry.example.com/acme/app"));
        assert!(g.matches("registry.example.com/acme/team/app"));
        assert!(!g.matches("registry.example.com/acme-evil/app"));
        assert!(!g.matches("registry.example.com/acme"));
        assert!(!g.matches("registry.example.com.evil.io/acme/app"));
    }

    #[test]
    fn a_single_star_stays_within_one_path_segment() {
        let g = glob("registry.example.com/acme/*");
        assert!(g.matches("registry.example.com/acme/app"));
        assert!(!g.matches("registry.example.com/acme/team/app"));
        let g = glob("registry.example.com/*/app");
        assert!(g.matches("registry.example.com/acme/app"));
        assert!(!g.matches("registry.example.com/acme/x/app"));
        let g = glob("*.example.com/acme/app");
        assert!(g.matches("registry.example.com/acme/app"));
        assert!(!g.matches("evil.io/x.example.com/acme/app"));
    }

    #[test]
    fn globs_are_normalised_like_references() {
        assert!(glob("docker.io/acme/**").matches("index.docker.io/acme/app"));
        assert!(glob("acme/*").matches("index.docker.io/acme/app"));
        assert!(glob("nginx").matches("index.docker.io/library/nginx"));
        assert!(glob("**").matches("anything.example.com/a/b/c"));
    }

    #[test]
    fn globs_with_a_digest_or_triple_star_are_refused() {
        assert!(Glob::new(&format!("r.io/a@{DIGEST}")).is_err());
        assert!(Glob::new("r.io/***").is_err());
        assert!(Glob::new("").is_err());
    }

    #[test]
    fn pathological_globs_match_in_linear_time() {
        let g = glob(&"*a".repeat(100));
        let text = "a".repeat(400) + "b";
        let start = std::time::Instant::now();
        assert!(!g.matches(&text));
        assert!(start.elapsed() < std::time::Duration::from_millis(500));
    }
}
