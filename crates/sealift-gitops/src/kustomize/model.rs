//! The meaning of a kustomization as kustomize reads it, through a YAML parser that is
//! independent of the editor's locator (serde-saphyr): used to read overlays and to check every
//! edit after the fact.

use super::ImageEntry;
use super::error::KustomizeError;
use super::scalar::fold_key;
use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// A YAML value with aliases and merge keys resolved, mapping entries in document order, and
/// plain scalars typed the way kustomize's reader types them (booleans include YAML 1.1's
/// `yes`/`on`/…, integers include `0x`/`0o`/`0b` and legacy octal).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    Int(i128),
    UInt(u128),
    Float(f64),
    Str(String),
    Seq(Vec<Value>),
    Map(Vec<(Value, Value)>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::UInt(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(v.into()))
    }
    fn visit_i128<E>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::UInt(v.into()))
    }
    fn visit_u128<E>(self, v: u128) -> Result<Value, E> {
        Ok(Value::UInt(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }
    fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Value, E> {
        String::from_utf8(v.to_vec())
            .map(Value::Str)
            .map_err(|_| E::custom("binary value"))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        // Growth leaves up to half of a long list (or 2 of 2 fields) unused: a file's worth.
        items.shrink_to_fit();
        Ok(Value::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry()? {
            entries.push(entry);
        }
        entries.shrink_to_fit();
        Ok(Value::Map(entries))
    }
}

/// The `images:` field of a kustomization as kustomize sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum ImagesField<'a> {
    /// No `images` key.
    Absent,
    /// `images:` with a null value.
    Null,
    /// `images:` with a list (possibly empty): the raw items.
    List(&'a [Value]),
}

/// A kustomization read for its meaning.
#[derive(Clone, Debug)]
pub(crate) struct Kustomization {
    /// The document's root (null for an empty document).
    pub root: Value,
    /// Index of the `images` entry in the root mapping (checked to be a list or null).
    images_at: Option<usize>,
    /// The `images` entries, typed and checked.
    pub entries: Vec<ImageEntry>,
}

impl Kustomization {
    /// The `images` field, borrowed from the root (not copied: the list can be long).
    pub(crate) fn images(&self) -> ImagesField<'_> {
        images_of(&self.root, self.images_at).unwrap_or(ImagesField::Absent)
    }
}

const FIELDS: [(&str, &str); 4] = [
    ("name", "name"),
    ("newname", "newName"),
    ("newtag", "newTag"),
    ("digest", "digest"),
];

/// Parses a kustomization and its `images:` the way kustomize 4.5.4 does, refusing what
/// kustomize refuses in the `images:` field and what would be ambiguous to edit (several
/// documents, repeated keys).
pub(crate) fn read(file: &str, text: &str) -> Result<Kustomization, KustomizeError> {
    read_within(file, text, 0)
}

/// [`read`] for the edited text of a file that was within the limits: an edit adds a few nodes
/// (a new entry, a `newName` line, an `images:` key), so a file at the limit still reads back.
pub(crate) fn read_edited(file: &str, text: &str) -> Result<Kustomization, KustomizeError> {
    read_within(file, text, EDIT_HEADROOM)
}

fn read_within(file: &str, text: &str, headroom: usize) -> Result<Kustomization, KustomizeError> {
    let root = parse(file, text, headroom)?;
    let images_at = images_key_index(file, &root)?;
    let images = images_of(&root, images_at).map_err(|kind| {
        KustomizeError::malformed(file, format!("`images` is {kind}, kustomize needs a list"))
    })?;
    let entries = match images {
        ImagesField::List(items) => items
            .iter()
            .enumerate()
            .map(|(index, item)| entry(file, index, item))
            .collect::<Result<_, _>>()?,
        ImagesField::Absent | ImagesField::Null => Vec::new(),
    };
    Ok(Kustomization {
        root,
        images_at,
        entries,
    })
}

/// The most YAML nodes (scalars, lists and mappings, as written: an alias is not expanded)
/// a kustomization may hold. kustomize has no such limit; this one bounds the memory and time
/// one overlay takes (both grow linearly with the file: about 10 µs and 1.5 KiB per node for
/// reading, locating, editing and checking, see `benches/kustomize_edit.rs`). A digest-pinned
/// entry is 5 nodes (7 with `newName`): 1,000,000 nodes are 140,000–200,000 entries.
pub(crate) const MAX_NODES: usize = 1_000_000;

/// The most parser events: every node, every end of a list or mapping, every comment, every
/// alias. Generous against [`MAX_NODES`] so that comments never decide.
pub(crate) const MAX_EVENTS: usize = 4 * MAX_NODES;

/// How deep lists and mappings may nest (serde-saphyr's default; a kustomization needs 4 or 5
/// levels). Also what keeps the lossless parser, which recurses, from deep input: it only runs
/// on text this reader accepted.
pub(crate) const MAX_DEPTH: usize = 64;

/// The most nodes aliases may expand to, all together: what stops an alias bomb ("billion
/// laughs"), whose aliases are few but expand to an exponential number of nodes.
pub(crate) const MAX_ALIAS_EXPANSION: usize = 1_000_000;

/// Nodes an edit may add to a file that was within the limits (at most 9: an `images:` key, a
/// list, an entry with `name`, `newName` and `digest`), when its result is read back.
const EDIT_HEADROOM: usize = 64;

/// The reader's budget: [`MAX_NODES`], [`MAX_EVENTS`], [`MAX_DEPTH`] (plus `headroom` nodes),
/// serde-saphyr's defaults for the rest (anchors and aliases 50,000 each, at most 10 aliases per
/// anchor once there are 100, 64 MiB of scalar text, 10,000 merge keys).
fn budget(headroom: usize) -> serde_saphyr::Budget {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_nodes = MAX_NODES + headroom;
    budget.max_events = MAX_EVENTS + 4 * headroom;
    budget.max_depth = MAX_DEPTH;
    budget
}

/// Parses one YAML document into a [`Value`], within the limits above (`headroom` more nodes).
fn parse(file: &str, text: &str, headroom: usize) -> Result<Value, KustomizeError> {
    let budget = budget(headroom);
    let options = serde_saphyr::options! {
        legacy_octal_numbers: true,
        with_snippet: false,
        budget: Some(budget.clone()),
        alias_limits: serde_saphyr::alias_limits! {
            max_total_replayed_events: MAX_ALIAS_EXPANSION,
        },
    };
    let root: Value = serde_saphyr::from_str_with_options(text, options).map_err(|e| {
        over_limit(file, &e, &budget)
            .unwrap_or_else(|| KustomizeError::malformed(file, parse_error(&e)))
    })?;
    match root {
        Value::Null | Value::Map(_) => Ok(root),
        other => Err(KustomizeError::malformed(
            file,
            format!("the document is {}, not a mapping", other.kind()),
        )),
    }
}

/// A breach of one of the reader's limits, named with its value; `None` for other errors.
fn over_limit(
    file: &str,
    e: &serde_saphyr::Error,
    budget: &serde_saphyr::Budget,
) -> Option<KustomizeError> {
    use serde_saphyr::budget::BudgetBreach as B;
    const MEMORY: &str = "the limit bounds the memory and time one overlay takes";
    const HOSTILE: &str =
        "the limit keeps hostile input (alias bombs, deep nesting) cheap to refuse";
    let (what, max, hint) = match e.without_snippet() {
        serde_saphyr::Error::Budget { breach, .. } => match breach {
            B::Nodes { .. } => (
                "YAML nodes (scalars, lists and mappings)",
                budget.max_nodes,
                MEMORY,
            ),
            B::Events { .. } => (
                "YAML parser events (nodes, ends of lists and mappings, comments, aliases)",
                budget.max_events,
                MEMORY,
            ),
            B::ScalarBytes { .. } => (
                "bytes of scalar text",
                budget.max_total_scalar_bytes,
                MEMORY,
            ),
            B::Depth { .. } => (
                "levels of nested lists and mappings",
                budget.max_depth,
                HOSTILE,
            ),
            B::Aliases { .. } => ("aliases (`*name`)", budget.max_aliases, HOSTILE),
            B::Anchors { .. } => ("anchors (`&name`)", budget.max_anchors, HOSTILE),
            B::MergeKeys { .. } => ("merge keys (`<<`)", budget.max_merge_keys, HOSTILE),
            B::AliasAnchorRatio { .. } => (
                "aliases per anchor",
                budget.alias_anchor_ratio_multiplier,
                HOSTILE,
            ),
            B::RecordedAnchorEvents { .. } => (
                "nodes inside anchors",
                budget.max_recorded_anchor_events,
                HOSTILE,
            ),
            _ => return None,
        },
        serde_saphyr::Error::AliasReplayLimitExceeded {
            max_total_replayed_events,
            ..
        } => (
            "nodes expanded from aliases",
            *max_total_replayed_events,
            HOSTILE,
        ),
        serde_saphyr::Error::AliasReplayStackDepthExceeded { max_depth, .. } => {
            ("levels of aliases inside anchors", *max_depth, HOSTILE)
        }
        _ => return None,
    };
    Some(KustomizeError::LimitExceeded {
        file: file.to_owned(),
        what,
        max,
        hint,
    })
}

/// The parser's error in words about the file rather than about the parser's API.
fn parse_error(e: &serde_saphyr::Error) -> String {
    let at = e
        .location()
        .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
        .unwrap_or_default();
    match e.without_snippet() {
        serde_saphyr::Error::MultipleDocuments { .. } => format!(
            "the file holds several YAML documents{at}; kustomize reads only the first, so which \
             one is meant is ambiguous: keep one"
        ),
        serde_saphyr::Error::DuplicateMappingKey { key, .. } => format!(
            "key {} is given twice in one mapping{at}; kustomize would silently use the last",
            key.as_deref()
                .map_or_else(|| "?".to_owned(), super::scalar::shown)
        ),
        _ => {
            let message = e.to_string();
            message.lines().next().unwrap_or("invalid YAML").to_owned()
        }
    }
}

/// Index of the root entry whose key is kustomize's `images` field (case-insensitively, as
/// kustomize matches it). Several such keys are refused: kustomize would silently use the last.
pub(crate) fn images_key_index(file: &str, root: &Value) -> Result<Option<usize>, KustomizeError> {
    let Value::Map(entries) = root else {
        return Ok(None);
    };
    let found: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, (k, _))| k.as_str().is_some_and(|k| fold_key(k) == "images"))
        .map(|(i, _)| i)
        .collect();
    match found.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        _ => Err(KustomizeError::malformed(
            file,
            "the `images` field is given more than once (kustomize matches keys \
             case-insensitively and would use only the last)",
        )),
    }
}

/// The `images` field at root entry `at`; the kind of value it holds when that is neither a
/// list nor null.
fn images_of(root: &Value, at: Option<usize>) -> Result<ImagesField<'_>, &'static str> {
    let (Some(index), Value::Map(entries)) = (at, root) else {
        return Ok(ImagesField::Absent);
    };
    match entries.get(index).map(|(_, v)| v) {
        Some(Value::Null) | None => Ok(ImagesField::Null),
        Some(Value::Seq(items)) => Ok(ImagesField::List(items)),
        Some(other) => Err(other.kind()),
    }
}

/// Reads one `images:` item as kustomize does: a mapping of the four known fields (any other
/// field makes kustomize fail), string or null values, an empty string meaning "not set".
pub(crate) fn entry(file: &str, index: usize, item: &Value) -> Result<ImageEntry, KustomizeError> {
    let mut fields: [Option<String>; 4] = [None, None, None, None];
    let mut seen = [false; 4];
    match item {
        // kustomize reads a null item as an entry with every field empty.
        Value::Null => {}
        Value::Map(pairs) => {
            for (key, value) in pairs {
                let Some(key) = key.as_str() else {
                    return Err(KustomizeError::malformed(
                        file,
                        format!("images[{index}] has a key that is {}", key.kind()),
                    ));
                };
                let folded = fold_key(key);
                let Some(slot) = FIELDS.iter().position(|(f, _)| *f == folded) else {
                    return Err(KustomizeError::malformed(
                        file,
                        format!(
                            "images[{index}] has an unknown field {} (kustomize accepts name, \
                             newName, newTag and digest)",
                            super::scalar::shown(key)
                        ),
                    ));
                };
                let field = FIELDS.get(slot).map_or("", |(_, f)| f);
                if std::mem::replace(&mut seen[slot], true) {
                    return Err(KustomizeError::malformed(
                        file,
                        format!(
                            "images[{index}] gives `{field}` more than once (kustomize matches \
                             keys case-insensitively and would use only the last)"
                        ),
                    ));
                }
                fields[slot] = match value {
                    Value::Null => None,
                    Value::Str(s) if s.is_empty() => None,
                    Value::Str(s) => Some(s.clone()),
                    other => {
                        return Err(KustomizeError::malformed(
                            file,
                            format!(
                                "images[{index}].{field} is {}; kustomize needs a string here \
                                 (quote the value)",
                                other.kind()
                            ),
                        ));
                    }
                };
            }
        }
        other => {
            return Err(KustomizeError::malformed(
                file,
                format!(
                    "images[{index}] is {}, kustomize needs a mapping",
                    other.kind()
                ),
            ));
        }
    }
    let [name, new_name, new_tag, digest] = fields;
    Ok(ImageEntry {
        name: name.unwrap_or_default(),
        new_name,
        new_tag,
        digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(text: &str) -> Result<Vec<ImageEntry>, KustomizeError> {
        read("k.yaml", text).map(|k| k.entries)
    }

    #[test]
    fn kustomize_field_names_match_case_insensitively() {
        let e = entries("IMAGES:\n- NAME: app\n  newtag: v1\n  Digest: d\n").unwrap();
        assert_eq!(e[0].name, "app");
        assert_eq!(e[0].new_tag.as_deref(), Some("v1"));
        assert_eq!(e[0].digest.as_deref(), Some("d"));
    }

    #[test]
    fn a_field_given_twice_under_different_cases_is_refused() {
        let err = entries("images:\n- name: a\n  NAME: b\n").unwrap_err();
        assert_eq!(err.category(), "MalformedKustomization");
        let err = entries("images: []\nImages: []\n").unwrap_err();
        assert!(err.to_string().contains("more than once"), "{err}");
    }

    #[test]
    fn non_string_values_are_refused_like_kustomize_refuses_them() {
        for v in ["1.20", "yes", "0x1F", "[a]", "{a: b}"] {
            let err = entries(&format!("images:\n- name: app\n  newTag: {v}\n")).unwrap_err();
            assert!(
                err.to_string().contains("images[0].newTag is"),
                "{v}: {err}"
            );
        }
        let ok = entries("images:\n- name: app\n  newTag: '1.20'\n").unwrap();
        assert_eq!(ok[0].new_tag.as_deref(), Some("1.20"));
    }

    #[test]
    fn null_and_empty_values_mean_not_set() {
        let e =
            entries("images:\n- name: app\n  newTag:\n  newName: ''\n  digest: ~\n-\n").unwrap();
        assert_eq!(
            e,
            vec![
                ImageEntry {
                    name: "app".into(),
                    new_name: None,
                    new_tag: None,
                    digest: None
                },
                ImageEntry {
                    name: String::new(),
                    new_name: None,
                    new_tag: None,
                    digest: None
                },
            ]
        );
    }

    #[test]
    fn aliases_and_merge_keys_are_resolved() {
        let e =
            entries("images:\n- &a {name: app, newTag: v1}\n- <<: *a\n  name: other\n").unwrap();
        assert_eq!(e[1].name, "other");
        assert_eq!(e[1].new_tag.as_deref(), Some("v1"));
    }

    #[test]
    fn several_documents_and_non_mapping_roots_are_malformed() {
        assert!(entries("images: []\n---\nimages: []\n").is_err());
        assert!(entries("- a\n").is_err());
        assert_eq!(entries("").unwrap(), vec![]);
        assert_eq!(entries("# only a comment\n").unwrap(), vec![]);
    }
}
