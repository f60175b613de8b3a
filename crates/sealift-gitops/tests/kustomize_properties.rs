#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! Properties of the kustomize module over generated input:
//!
//! - arbitrary text never makes the reader or the editor panic, and whatever the editor accepts
//!   it edits idempotently;
//! - for generated kustomizations in every layout the editor supports (block and flow lists,
//!   indentation, quotes, comments, blank lines, CRLF, BOM, no final line break, duplicates,
//!   missing or null `images:`), the edit has kustomize's meaning, editing twice equals editing
//!   once, and every line outside the promoted entry stays, in order, byte for byte.

use proptest::prelude::*;
use sealift_gitops::kustomize::{self, ImageEntry, KustomizeError};

fn digest(c: char) -> String {
    format!("sha256:{}", c.to_string().repeat(64))
}

const NAMES: [&str; 7] = [
    "app",
    "db",
    "web",
    "zed",
    "alpha",
    "registry.example.com:5000/acme/app",
    "app:v1",
];
const NEW_NAMES: [&str; 3] = ["registry.example.com/app", "reg:5000/x", "app"];
const TAGS: [&str; 3] = ["v1", "2.4.1", "latest"];

// ---- arbitrary input -------------------------------------------------------------------------

/// Text made of YAML's structural pieces, more likely than random bytes to reach deep into the
/// parsers.
fn yamlish() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "images",
        "name",
        "newName",
        "newTag",
        "digest",
        "app",
        ":",
        ": ",
        "- ",
        "-",
        "\n",
        "\r\n",
        "  ",
        " ",
        "\t",
        "#c",
        "[",
        "]",
        "{",
        "}",
        ",",
        "'",
        "\"",
        "&a",
        "*a",
        "!!str",
        "<<",
        "|",
        ">-",
        "---",
        "...",
        "~",
        "null",
        "\u{feff}",
        "?",
        "%YAML 1.2",
        "é",
        "1.20",
        "yes",
        "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
    ]);
    prop::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat())
}

fn exercise_everything(text: &str) {
    let _ = kustomize::parse_images("k", text);
    let _ = kustomize::pinned_images("k", text);
    let _ = kustomize::pinned_digest("k", text, "app");
    for (name, new_name) in [
        ("app", None),
        ("zed", Some("reg/zed")),
        ("app", Some("app")),
    ] {
        if let Ok(edited) = kustomize::set_image("k", text, name, new_name, &digest('d')) {
            // Whatever is accepted reads back, pins the digest, and is edited only once.
            let pinned = kustomize::pinned_digest("k", &edited.text, name).unwrap();
            assert_eq!(pinned.digest, digest('d'));
            let again =
                kustomize::set_image("k", &edited.text, name, new_name, &digest('d')).unwrap();
            assert!(
                !again.changed,
                "not idempotent on {text:?}: {:?}",
                edited.text
            );
            assert_eq!(again.text, edited.text);
            if !edited.changed {
                assert_eq!(edited.text, text);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics_and_what_is_accepted_is_edited_once(text in ".{0,300}") {
        exercise_everything(&text);
    }

    #[test]
    fn yaml_shaped_garbage_never_panics_and_what_is_accepted_is_edited_once(text in yamlish()) {
        exercise_everything(&text);
    }

    #[test]
    fn names_and_digests_outside_the_rules_are_refused_before_anything_is_read(
        name in ".{0,80}",
        d in ".{0,80}",
    ) {
        let text = "images:\n- name: app\n  newTag: v1\n";
        match kustomize::set_image("k", text, &name, None, &d) {
            Ok(edited) => {
                prop_assert!(d.starts_with("sha256:") && d.len() == 71);
                prop_assert!(!name.contains(['\n', '\r', ' ', '=', '*']));
                prop_assert!(edited.text.contains(&d));
            }
            Err(err) => prop_assert!(matches!(
                err,
                KustomizeError::InvalidImageName { .. } | KustomizeError::InvalidDigest { .. }
            ), "{err}"),
        }
    }
}

// ---- generated kustomizations ----------------------------------------------------------------

#[derive(Clone, Debug)]
struct Field {
    key: &'static str,
    value: String,
    /// 0 plain, 1 single-quoted, 2 double-quoted.
    quote: u8,
    comment: bool,
    /// 0 as kustomize spells it, 1 lower case (kustomize matches keys case-insensitively),
    /// 2 double-quoted.
    key_style: u8,
    /// A comment line above the field (block items, not on the `-` line).
    comment_above: bool,
    /// Written as an empty string or a null: kustomize reads "not set".
    empty: Option<bool>,
}

impl Field {
    fn key_text(&self) -> String {
        match self.key_style {
            1 => self.key.to_lowercase(),
            2 => format!("\"{}\"", self.key),
            _ => self.key.to_owned(),
        }
    }

    fn value_text(&self) -> String {
        match self.empty {
            Some(true) => "\"\"".into(),
            Some(false) => String::new(),
            None => scalar(&self.value, self.quote),
        }
    }

    /// `key: value`, without a trailing space for an omitted null.
    fn text(&self) -> String {
        let value = self.value_text();
        if value.is_empty() {
            format!("{}:", self.key_text())
        } else {
            format!("{}: {value}", self.key_text())
        }
    }
}

#[derive(Clone, Debug)]
struct Img {
    fields: Vec<Field>,
    comment_before: bool,
    blank_before: bool,
    flow: bool,
}

#[derive(Clone, Debug)]
enum Images {
    Absent,
    /// `images:` followed by one of "", " ~", " null", "  # none".
    Null(usize),
    EmptyFlow,
    Block {
        indent: usize,
        gap: usize,
        items: Vec<Img>,
    },
    Flow {
        items: Vec<Img>,
        multiline: bool,
    },
}

#[derive(Clone, Debug)]
struct Doc {
    trailer: bool,
    crlf: bool,
    bom: bool,
    final_newline: bool,
    header: bool,
    images_first: bool,
    images: Images,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Tag {
    Other,
    ImagesKey,
    Item(usize),
}

#[derive(Clone, Debug)]
struct FieldStyle {
    value: usize,
    quote: u8,
    comment: bool,
    key_style: u8,
    comment_above: bool,
    empty: Option<bool>,
}

fn field() -> impl Strategy<Value = FieldStyle> {
    (
        0..3usize,
        0..3u8,
        any::<bool>(),
        prop::sample::select(vec![0u8, 0, 0, 1, 2]),
        prop::bool::weighted(0.2),
        prop::option::weighted(0.1, any::<bool>()),
    )
        .prop_map(
            |(value, quote, comment, key_style, comment_above, empty)| FieldStyle {
                value,
                quote,
                comment,
                key_style,
                comment_above,
                empty,
            },
        )
}

fn img() -> impl Strategy<Value = Img> {
    (
        0..NAMES.len(),
        prop::option::of(field()),
        prop::option::of(field()),
        prop::option::of(field()),
        0..4usize,
        (0..3u8, any::<bool>()),
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(n, new_name, tag, dig, name_at, (nq, nc), comment_before, blank_before, flow)| {
                let mk = |key: &'static str, value: String, st: FieldStyle| Field {
                    key,
                    value,
                    quote: st.quote,
                    comment: st.comment,
                    key_style: st.key_style,
                    comment_above: st.comment_above,
                    empty: st.empty,
                };
                let mut fields = Vec::new();
                if let Some(st) = new_name {
                    fields.push(mk("newName", NEW_NAMES[st.value].into(), st));
                }
                if let Some(st) = tag {
                    fields.push(mk("newTag", TAGS[st.value].into(), st));
                }
                if let Some(st) = dig {
                    let st = FieldStyle { empty: None, ..st };
                    fields.push(mk("digest", digest(['e', 'f', '0'][st.value]), st));
                }
                let name = Field {
                    key: "name",
                    value: NAMES[n].into(),
                    quote: nq,
                    comment: nc,
                    key_style: 0,
                    comment_above: false,
                    empty: None,
                };
                fields.insert(name_at.min(fields.len()), name);
                Img {
                    fields,
                    comment_before,
                    blank_before,
                    flow,
                }
            },
        )
}

fn doc() -> impl Strategy<Value = Doc> {
    let images = prop_oneof![
        1 => Just(Images::Absent),
        1 => (0..4usize).prop_map(Images::Null),
        1 => Just(Images::EmptyFlow),
        5 => (prop::sample::select(vec![0usize, 2, 4]), prop::sample::select(vec![1usize, 3]),
              prop::collection::vec(img(), 1..6))
            .prop_map(|(indent, gap, items)| Images::Block { indent, gap, items }),
        2 => (prop::collection::vec(img(), 1..5), any::<bool>())
            .prop_map(|(items, multiline)| Images::Flow { items, multiline }),
    ];
    (
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.7),
        any::<bool>(),
        any::<bool>(),
        images,
    )
        .prop_map(
            |(trailer, crlf, bom, final_newline, header, images_first, images)| Doc {
                trailer,
                crlf,
                bom,
                final_newline,
                header,
                images_first,
                images,
            },
        )
}

fn scalar(value: &str, quote: u8) -> String {
    match quote {
        1 => format!("'{value}'"),
        2 => format!("\"{value}\""),
        _ => value.to_owned(),
    }
}

fn flow_map(img: &Img) -> String {
    let fields: Vec<String> = img.fields.iter().map(Field::text).collect();
    if img.comment_before {
        format!("{{ {} }}", fields.join(", "))
    } else {
        format!("{{{}}}", fields.join(", "))
    }
}

impl Doc {
    /// The text and, for each line, what it belongs to.
    fn render(&self) -> (String, Vec<Tag>) {
        let mut lines: Vec<(String, Tag)> = Vec::new();
        if self.header {
            lines.push(("# generated overlay".into(), Tag::Other));
        }
        let resources = [
            ("resources:".to_owned(), Tag::Other),
            ("- ../../base # base".to_owned(), Tag::Other),
        ];
        if !self.images_first {
            lines.extend(resources.clone());
        }
        match &self.images {
            Images::Absent => {}
            Images::Null(i) => {
                lines.push((
                    format!("images:{}", ["", " ~", " null", "  # none"][*i]),
                    Tag::ImagesKey,
                ));
            }
            Images::EmptyFlow => lines.push(("images: []".into(), Tag::ImagesKey)),
            Images::Flow {
                items,
                multiline: false,
            } => {
                let items: Vec<String> = items.iter().map(flow_map).collect();
                lines.push((format!("images: [{}]", items.join(", ")), Tag::ImagesKey));
            }
            Images::Flow {
                items,
                multiline: true,
            } => {
                lines.push(("images: [".into(), Tag::ImagesKey));
                let last = items.len().saturating_sub(1);
                for (i, img) in items.iter().enumerate() {
                    let comma = if i == last { "" } else { "," };
                    lines.push((
                        format!("  {}{comma} # item {i}", flow_map(img)),
                        Tag::Item(i),
                    ));
                }
                lines.push(("]".into(), Tag::Other));
            }
            Images::Block { indent, gap, items } => {
                lines.push(("images: # pinned".into(), Tag::ImagesKey));
                let pad = " ".repeat(*indent);
                let gap = " ".repeat(*gap);
                for (i, img) in items.iter().enumerate() {
                    if img.comment_before {
                        lines.push((format!("{pad}# entry {i}"), Tag::Other));
                    }
                    if img.blank_before {
                        lines.push((String::new(), Tag::Other));
                    }
                    if img.flow {
                        lines.push((format!("{pad}-{gap}{} # flow", flow_map(img)), Tag::Item(i)));
                        continue;
                    }
                    for (j, f) in img.fields.iter().enumerate() {
                        let lead = if j == 0 {
                            format!("{pad}-{gap}")
                        } else {
                            format!("{pad} {gap}")
                        };
                        if j > 0 && f.comment_above {
                            lines.push((format!("{lead}# about {}", f.key), Tag::Item(i)));
                        }
                        let comment = if f.comment { " # note" } else { "" };
                        lines.push((format!("{lead}{}{comment}", f.text()), Tag::Item(i)));
                    }
                }
            }
        }
        if self.images_first {
            lines.extend(resources);
        }
        if self.trailer {
            lines.push(("namePrefix: prod-".into(), Tag::Other));
        }
        let nl = if self.crlf { "\r\n" } else { "\n" };
        let mut text: String = lines.iter().map(|(l, _)| format!("{l}{nl}")).collect();
        if !self.final_newline {
            text.truncate(text.len() - nl.len());
        }
        if self.bom {
            text.insert(0, '\u{feff}');
        }
        (text, lines.into_iter().map(|(_, t)| t).collect())
    }

    fn items(&self) -> Vec<Img> {
        match &self.images {
            Images::Block { items, .. } | Images::Flow { items, .. } => items.clone(),
            _ => Vec::new(),
        }
    }

    fn entries(&self) -> Vec<ImageEntry> {
        self.items()
            .iter()
            .map(|img| {
                let get = |k: &str| {
                    img.fields
                        .iter()
                        .find(|f| f.key == k && f.empty.is_none())
                        .map(|f| f.value.clone())
                };
                ImageEntry {
                    name: get("name").unwrap(),
                    new_name: get("newName"),
                    new_tag: get("newTag"),
                    digest: get("digest"),
                }
            })
            .collect()
    }
}

/// `name` without a tag or digest is "bare": a new name equal to it means no new name.
fn is_bare(name: &str) -> bool {
    !name.contains('@')
        && name
            .rfind(':')
            .is_none_or(|c| name.rfind('/').is_some_and(|s| s > c))
}

/// What kustomize's `edit set image` means for the entries (without its sorting and collapsing
/// of other names, which we do not do).
fn expected(
    entries: &[ImageEntry],
    name: &str,
    new_name: Option<&str>,
    d: &str,
) -> Vec<ImageEntry> {
    let want_new = new_name.filter(|n| !(*n == name && is_bare(name)));
    let matches: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.name == name)
        .map(|(i, _)| i)
        .collect();
    let promoted = |old: Option<&ImageEntry>| ImageEntry {
        name: name.into(),
        new_name: want_new.map(str::to_owned).or_else(|| {
            old.and_then(|o| o.new_name.clone())
                .filter(|n| n == name && is_bare(name))
        }),
        new_tag: None,
        digest: Some(d.into()),
    };
    let mut out: Vec<ImageEntry> = Vec::new();
    match matches.first() {
        Some(&first) => {
            for (i, e) in entries.iter().enumerate() {
                if i == first {
                    out.push(promoted(Some(e)));
                } else if !matches.contains(&i) {
                    out.push(e.clone());
                }
            }
        }
        None => {
            let at = entries
                .iter()
                .position(|e| e.name.as_str() > name)
                .unwrap_or(entries.len());
            out.extend_from_slice(&entries[..at]);
            out.push(promoted(None));
            out.extend_from_slice(&entries[at..]);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, ..ProptestConfig::default() })]

    #[test]
    fn generated_kustomizations_are_edited_with_kustomizes_meaning_once_and_only_where_promoted(
        doc in doc(),
        name in prop::sample::select(NAMES.to_vec()),
        new_name in prop::option::of(prop::sample::select(NEW_NAMES.to_vec())),
    ) {
        let (text, tags) = doc.render();
        let d = digest('d');
        let entries = kustomize::parse_images("k", &text).unwrap();
        prop_assert_eq!(&entries, &doc.entries());

        let edited = kustomize::set_image("k", &text, name, new_name, &d)
            .unwrap_or_else(|e| panic!("{e}\n{text}"));
        let want = expected(&entries, name, new_name, &d);
        prop_assert_eq!(kustomize::parse_images("k", &edited.text).unwrap(), want.clone());
        prop_assert_eq!(edited.changed, want != entries);
        if !edited.changed {
            prop_assert_eq!(&edited.text, &text);
        }

        // Editing twice is editing once.
        let again = kustomize::set_image("k", &edited.text, name, new_name, &d).unwrap();
        prop_assert!(!again.changed);
        prop_assert_eq!(&again.text, &edited.text);

        // Untouched bytes: every original line that is not part of an entry named `name` (nor
        // the `images:` line of a null, empty or one-line flow list, nor a line of a flow list)
        // is still there, in order, byte for byte.
        let promoted: Vec<usize> = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.name == name)
            .map(|(i, _)| i)
            .collect();
        let may_change = |tag: Tag| match tag {
            Tag::Item(i) => promoted.contains(&i) || matches!(doc.images, Images::Flow { .. }),
            Tag::ImagesKey => !matches!(doc.images, Images::Block { .. }),
            Tag::Other => false,
        };
        // Lines as separated by line breaks: a file without a final line break ends with a
        // non-empty line, one with a final line break ends with an empty one.
        let split = |t: &str| -> Vec<String> {
            t.split('\n').map(|l| l.trim_end_matches('\r').to_owned()).collect()
        };
        let before_lines = split(&text);
        let after_lines = split(&edited.text);
        let mut rest = after_lines.iter();
        for (line, tag) in before_lines.iter().zip(&tags) {
            if !may_change(*tag) {
                prop_assert!(
                    rest.any(|l| l == line),
                    "line {:?} ({:?}) was changed or moved\n--- before\n{}\n--- after\n{}",
                    line,
                    tag,
                    text,
                    edited.text
                );
            }
        }
        // Line breaks stay the file's, and a file without a final one still has none (unless
        // its last remaining line is an empty one, which then has no break of its own).
        let nl = if doc.crlf { "\r\n" } else { "\n" };
        let breaks = edited.text.matches('\n').count();
        prop_assert_eq!(edited.text.matches(nl).count(), breaks);
        prop_assert_eq!(edited.text.contains('\r'), doc.crlf);
        if doc.final_newline {
            prop_assert!(edited.text.ends_with('\n'));
        } else if edited.text.ends_with('\n') {
            let last_kept = before_lines
                .iter()
                .zip(&tags)
                .rev()
                .find(|(_, tag)| !may_change(**tag))
                .map(|(line, _)| line.as_str());
            prop_assert_eq!(last_kept, Some(""), "a final line break appeared");
        }
        prop_assert_eq!(kustomize::pinned_digest("k", &edited.text, name).unwrap().digest, d);
    }
}
