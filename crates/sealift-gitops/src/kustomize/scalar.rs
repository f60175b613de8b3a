//! Scalars: the names and digests Sealift accepts, how kustomize's YAML reader types a plain
//! scalar, how keys match kustomize's fields, and how new values are spelt.

/// The longest image name or new name accepted (a registry host, a path and a digest fit easily;
/// anything longer is not an image name).
const MAX_NAME_LEN: usize = 512;

/// How a scalar is written in the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    /// `value`
    Plain,
    /// `'value'`
    Single,
    /// `"value"`
    Double,
    /// `|` block scalar
    Literal,
    /// `>` block scalar
    Folded,
}

impl Style {
    /// The style of a scalar from its source text.
    pub(crate) fn of_raw(raw: &str) -> Style {
        match raw.as_bytes().first() {
            Some(b'\'') => Style::Single,
            Some(b'"') => Style::Double,
            Some(b'|') => Style::Literal,
            Some(b'>') => Style::Folded,
            _ => Style::Plain,
        }
    }
}

/// `sha256:` followed by 64 lower-case hex digits: the digests Sealift promotes (the CRD's rule).
pub(crate) use sealift_api::validation::is_digest;

/// Checks a kustomize image name given as an argument: what `kustomize edit set image` can
/// express and a registry can hold. A trailing `@sha256:<hex>` is part of the name (kustomize
/// matches entry names literally), the rest is a repository with an optional host, port and tag.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let repository = match name.split_once('@') {
        Some((repository, digest)) => {
            if !is_digest(digest) {
                return Err(
                    "only `@sha256:` followed by 64 lower-case hex digits may follow `@`".into(),
                );
            }
            repository
        }
        None => name,
    };
    check_repository(repository, name.len())
}

/// Checks a new name (the `newName` to write): a repository with an optional host, port and tag,
/// never a digest (the digest is written separately).
pub(crate) fn check_new_name(new_name: &str) -> Result<(), String> {
    if new_name.contains('@') {
        return Err("a new name cannot carry a digest; the digest is written on its own".into());
    }
    check_repository(new_name, new_name.len())
}

fn check_repository(repository: &str, total_len: usize) -> Result<(), String> {
    if repository.is_empty() {
        return Err("it is empty".into());
    }
    if total_len > MAX_NAME_LEN {
        return Err(format!("it is longer than {MAX_NAME_LEN} bytes"));
    }
    if repository.chars().any(char::is_control) {
        return Err("it contains a line break or another control character".into());
    }
    if repository.chars().any(char::is_whitespace) {
        return Err("it contains white space".into());
    }
    if repository.contains('*') {
        return Err("wildcard entries (`*`) are not promoted".into());
    }
    if repository.contains('=') {
        return Err(
            "`=` cannot appear in an image name (`kustomize edit set image` splits on it)".into(),
        );
    }
    let mut bytes = repository.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    if !first_ok {
        return Err("it must start with a letter or a digit".into());
    }
    if let Some(bad) = repository
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '/' | '-')))
    {
        return Err(format!(
            "{} is not allowed (letters, digits, `.`, `_`, `-`, `:` and `/` are)",
            shown(&bad.to_string())
        ));
    }
    Ok(())
}

/// The repository an image name refers to: without a `@digest`, and without a `:tag` after the
/// last `/` (a `:` before it is a registry port). This is how kustomize splits an image
/// reference before replacing its parts.
pub(crate) fn repository(name: &str) -> &str {
    let name = name
        .split_once('@')
        .map_or(name, |(repository, _)| repository);
    match (name.rfind(':'), name.rfind('/')) {
        (Some(colon), Some(slash)) if colon > slash => name.get(..colon).unwrap_or(name),
        (Some(colon), None) => name.get(..colon).unwrap_or(name),
        _ => name,
    }
}

/// Folds a mapping key the way Go's `encoding/json` matches object keys to struct fields
/// (kustomize reads kustomizations through `sigs.k8s.io/yaml`, i.e. YAML → JSON →
/// `encoding/json`): ASCII case-insensitively, with `ſ` (U+017F) matching `s` and the Kelvin sign
/// (U+212A) matching `k`. `NAME`, `newtag` and `Images` are the fields `name`, `newTag` and
/// `images` to kustomize (checked against kustomize 4.5.4).
pub(crate) fn fold_key(key: &str) -> String {
    key.chars()
        .map(|c| match c {
            '\u{17F}' => 's',
            '\u{212A}' => 'k',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// True when go-yaml v2 (the YAML reader inside kustomize 4.5.4) resolves this plain scalar to
/// something other than a string, so that kustomize would reject it as an image field or read it
/// as null. Checked value by value against kustomize 4.5.4: `yes`, `on`, `y`, `True`, `1.20`,
/// `0x1F`, `1_000`, `0o17`, `017`, `0b101`, `+1`, `1e3`, `0.1_2`, `.inf` are not strings;
/// `2021-01-01`, `12:30`, `1.2.3`, `1e`, `true1`, `v1` are.
pub(crate) fn plain_is_not_string(value: &str) -> bool {
    const WORDS: [&str; 40] = [
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN", "<<",
    ];
    if WORDS.contains(&value) {
        return true;
    }
    let compact: String = value.chars().filter(|&c| c != '_').collect();
    let unsigned = compact
        .strip_prefix('+')
        .or_else(|| compact.strip_prefix('-'))
        .unwrap_or(&compact);
    let prefixed = |prefixes: [&str; 2], digit: fn(&u8) -> bool| {
        prefixes.iter().any(|p| {
            unsigned
                .strip_prefix(p)
                .is_some_and(|rest| !rest.is_empty() && rest.as_bytes().iter().all(digit))
        })
    };
    prefixed(["0x", "0X"], u8::is_ascii_hexdigit)
        || prefixed(["0o", "0O"], |b| (b'0'..=b'7').contains(b))
        || prefixed(["0b", "0B"], |b| matches!(b, b'0' | b'1'))
        || is_yaml_float(unsigned)
}

/// `(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?` — go-yaml's float syntax (integers included).
fn is_yaml_float(s: &str) -> bool {
    let bytes = s.as_bytes();
    let digits = |from: usize| {
        bytes
            .iter()
            .skip(from)
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let mut i = 0;
    let int_digits = digits(i);
    i += int_digits;
    if bytes.get(i) == Some(&b'.') {
        let frac = digits(i + 1);
        if int_digits == 0 && frac == 0 {
            return false;
        }
        i += 1 + frac;
    } else if int_digits == 0 {
        return false;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp = digits(i);
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == bytes.len()
}

/// True when `value` can be written as a plain scalar and reads back as exactly this string, to
/// kustomize's reader and to ours, in a block context (or a flow context when `flow`).
pub(crate) fn plain_safe(value: &str, flow: bool) -> bool {
    let Some(first) = value.chars().next() else {
        return false;
    };
    let indicator = "-?:,[]{}#&*!|>'\"%@`".contains(first);
    let flow_bad = flow && value.contains([',', '[', ']', '{', '}']);
    !indicator
        && !flow_bad
        && !value
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() || c == '#')
        && !value.ends_with(':')
        && !value.contains(": ")
        && !plain_is_not_string(value)
}

/// Writes `value` as a scalar in `preferred` style when that style can hold it, else plain when
/// that is safe, else double-quoted.
pub(crate) fn render(value: &str, preferred: Style, flow: bool) -> String {
    match preferred {
        Style::Single if !value.chars().any(char::is_control) => {
            format!("'{}'", value.replace('\'', "''"))
        }
        Style::Plain | Style::Literal | Style::Folded if plain_safe(value, flow) => {
            value.to_owned()
        }
        _ => double_quoted(value),
    }
}

fn double_quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Decodes a scalar written on one line (plain, single- or double-quoted). `None` for block
/// scalars, multi-line scalars and escapes this decoder does not know: callers treat that as
/// "cannot tell" and refuse to edit rather than guess.
pub(crate) fn decode(raw: &str) -> Option<String> {
    if raw.contains(['\n', '\r']) {
        return None;
    }
    match Style::of_raw(raw) {
        Style::Plain => Some(raw.trim_end_matches([' ', '\t']).to_owned()),
        Style::Single => {
            let inner = raw.strip_prefix('\'')?.strip_suffix('\'')?;
            Some(inner.replace("''", "'"))
        }
        Style::Double => decode_double(raw.strip_prefix('"')?.strip_suffix('"')?),
        Style::Literal | Style::Folded => None,
    }
}

fn decode_double(inner: &str) -> Option<String> {
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '"' {
            return None;
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let escaped = match chars.next()? {
            '0' => '\0',
            'a' => '\u{7}',
            'b' => '\u{8}',
            't' | '\t' => '\t',
            'n' => '\n',
            'v' => '\u{b}',
            'f' => '\u{c}',
            'r' => '\r',
            'e' => '\u{1b}',
            ' ' => ' ',
            '"' => '"',
            '/' => '/',
            '\\' => '\\',
            'N' => '\u{85}',
            '_' => '\u{a0}',
            'L' => '\u{2028}',
            'P' => '\u{2029}',
            'x' => hex_char(&mut chars, 2)?,
            'u' => hex_char(&mut chars, 4)?,
            'U' => hex_char(&mut chars, 8)?,
            _ => return None,
        };
        out.push(escaped);
    }
    Some(out)
}

fn hex_char(chars: &mut std::str::Chars<'_>, n: usize) -> Option<char> {
    let digits: String = chars.by_ref().take(n).collect();
    if digits.len() != n {
        return None;
    }
    char::from_u32(u32::from_str_radix(&digits, 16).ok()?)
}

/// A value from a file or an argument as it appears in an error message: quoted, escaped (no raw
/// line breaks or control characters reach a log line or a condition message) and shortened.
pub(crate) fn shown(s: &str) -> String {
    const MAX: usize = 120;
    let escaped: String = s.escape_debug().collect();
    if escaped.chars().count() <= MAX {
        format!("`{escaped}`")
    } else {
        let head: String = escaped.chars().take(MAX).collect();
        format!("`{head}…`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_sha256_with_64_lower_case_hex_digits() {
        let hex = "0123456789abcdef".repeat(4);
        assert!(is_digest(&format!("sha256:{hex}")));
        assert!(!is_digest(&format!("sha256:{}", hex.to_uppercase())));
        assert!(!is_digest(&format!("sha512:{hex}")));
        assert!(!is_digest(&format!("sha256:{}", &hex[1..])));
        assert!(!is_digest(&format!("sha256:{hex}0")));
        assert!(!is_digest(&format!(" sha256:{hex}")));
        assert!(!is_digest(""));
    }

    #[test]
    fn plausible_names_pass_and_hostile_ones_say_why() {
        for ok in [
            "app",
            "bookstore/catalog",
            "registry.example.com:5000/acme/app",
            "app:v1",
            "nginx:1.25.3-alpine",
            &format!("app@sha256:{}", "a".repeat(64)),
        ] {
            assert_eq!(check_name(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("", "empty"),
            ("app\nname: evil", "line break"),
            ("app name", "white space"),
            ("*", "wildcard"),
            ("a=b", "`=`"),
            ("-app", "start with"),
            ("app@sha256:abc", "`@`"),
            ("app@latest", "`@`"),
            ("ap{p}", "not allowed"),
        ] {
            let err = check_name(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        assert!(check_name(&"a".repeat(MAX_NAME_LEN + 1)).is_err());
        assert!(check_new_name("registry.example.com/app@sha256:x").is_err());
        assert_eq!(check_new_name("registry.example.com:5000/app"), Ok(()));
    }

    #[test]
    fn the_repository_drops_tag_and_digest_but_keeps_a_registry_port() {
        assert_eq!(repository("app"), "app");
        assert_eq!(repository("app:v1"), "app");
        assert_eq!(repository("reg:5000/app"), "reg:5000/app");
        assert_eq!(repository("reg:5000/app:v1"), "reg:5000/app");
        assert_eq!(repository("app@sha256:abc"), "app");
        assert_eq!(repository("reg:5000/app:v1@sha256:abc"), "reg:5000/app");
    }

    #[test]
    fn keys_fold_like_go_encoding_json() {
        assert_eq!(fold_key("NAME"), "name");
        assert_eq!(fold_key("newTag"), "newtag");
        assert_eq!(fold_key("Image\u{17F}"), "images");
        assert_ne!(fold_key("ımages"), "images");
    }

    #[test]
    fn plain_scalars_are_typed_like_kustomize_reads_them() {
        // Each value was checked with kustomize 4.5.4 as `newTag: <value>` (see docs/kustomize-edit.md).
        for not_string in [
            "yes", "y", "on", "off", "True", "NULL", "~", "", "1.20", "0x1F", "1_000", "1e3",
            ".inf", ".nan", "0o17", "017", "0b101", "+1", "-1", "0.1_2", "018",
        ] {
            assert!(plain_is_not_string(not_string), "{not_string:?}");
        }
        for string in [
            "2021-01-01",
            "12:30",
            "190:20:30",
            "v1",
            "1.2.3",
            "1e",
            "true1",
            "app",
        ] {
            assert!(!plain_is_not_string(string), "{string:?}");
        }
    }

    #[test]
    fn values_keep_the_quote_style_they_replace_or_are_quoted_when_plain_would_change_them() {
        let d = format!("sha256:{}", "b".repeat(64));
        assert_eq!(render(&d, Style::Plain, false), d);
        assert_eq!(render(&d, Style::Single, false), format!("'{d}'"));
        assert_eq!(render(&d, Style::Double, false), format!("\"{d}\""));
        assert_eq!(render(&d, Style::Literal, false), d);
        assert_eq!(render("1234", Style::Plain, false), "\"1234\"");
        assert_eq!(render("yes", Style::Plain, false), "\"yes\"");
        assert_eq!(render("it's", Style::Single, false), "'it''s'");
        assert_eq!(render("a,b", Style::Plain, true), "\"a,b\"");
        assert_eq!(render("a,b", Style::Plain, false), "a,b");
    }

    #[test]
    fn one_line_scalars_decode_and_anything_else_is_left_undecided() {
        assert_eq!(decode("app").as_deref(), Some("app"));
        assert_eq!(decode("'it''s'").as_deref(), Some("it's"));
        assert_eq!(decode(r#""a\"b\\c\u0041""#).as_deref(), Some("a\"b\\cA"));
        assert_eq!(decode(r#""\q""#), None);
        assert_eq!(decode("\"a\nb\""), None);
        assert_eq!(decode("|\n  x"), None);
    }

    #[test]
    fn values_in_messages_are_escaped_and_shortened() {
        assert_eq!(shown("a\nb"), "`a\\nb`");
        assert!(shown(&"x".repeat(500)).ends_with("…`"));
    }
}
