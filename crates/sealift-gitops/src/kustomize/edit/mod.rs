//! Planning an `images:` edit as byte splices of the original text.
//!
//! Every change is a splice computed from the located offsets; all other bytes are copied. The
//! rules (which entry changes, where a new one goes, which fields go) are kustomize 4.5.4's, as
//! pinned by `tests/kustomize_oracle.rs` and described in `docs/kustomize-edit.md`.

mod entry;
mod insert;

use super::ImageEntry;
use super::cst::{self, Entry, Kind, Located, Node, Sequence};
use super::error::KustomizeError;
use super::model::{ImagesField, Kustomization, Value};
use super::scalar::{Style, fold_key, repository, shown};

/// What the promoted entry must mean after the edit.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Want<'a> {
    pub name: &'a str,
    /// The new name to write; `None` when no new name was given or when it equals a bare name
    /// (kustomize renders `newName: app` on entry `app` exactly like no `newName`).
    pub new_name: Option<&'a str>,
    pub digest: &'a str,
}

impl<'a> Want<'a> {
    pub(crate) fn new(name: &'a str, new_name: Option<&'a str>, digest: &'a str) -> Self {
        let bare = repository(name) == name;
        Want {
            name,
            new_name: new_name.filter(|n| !(bare && *n == name)),
            digest,
        }
    }

    /// Whether an existing `newName` can stay as it is.
    pub(crate) fn new_name_ok(&self, existing: Option<&str>) -> bool {
        match self.new_name {
            Some(wanted) => existing == Some(wanted),
            None => {
                existing.is_none()
                    || (existing == Some(self.name) && repository(self.name) == self.name)
            }
        }
    }

    /// Whether an entry already means exactly what the edit would write.
    pub(crate) fn satisfied_by(&self, entry: &ImageEntry) -> bool {
        entry.name == self.name
            && entry.digest.as_deref() == Some(self.digest)
            && entry.new_tag.is_none()
            && self.new_name_ok(entry.new_name.as_deref())
    }
}

/// One replacement of `start..end` by `text`.
#[derive(Clone, Debug)]
pub(crate) struct Splice {
    start: usize,
    end: usize,
    text: String,
}

/// Applies splices to `text`; they must not overlap.
pub(crate) fn apply(text: &str, mut splices: Vec<Splice>) -> Result<String, String> {
    // Stable sort: insertions at one offset keep the order they were planned in, and go before a
    // deletion starting there.
    splices.sort_by_key(|s| (s.start, s.end));
    let mut out = String::with_capacity(text.len() + 256);
    let mut at = 0;
    for s in &splices {
        if s.start < at || s.end < s.start {
            return Err(format!("overlapping edits at byte {}", s.start));
        }
        out.push_str(
            text.get(at..s.start)
                .ok_or("an edit is not on a character boundary")?,
        );
        out.push_str(&s.text);
        at = s.end;
    }
    out.push_str(
        text.get(at..)
            .ok_or("an edit is not on a character boundary")?,
    );
    // A file that did not end with a line break still does not (its last line was deleted).
    if !text.is_empty() && !text.ends_with('\n') {
        let trimmed = out
            .strip_suffix("\r\n")
            .or_else(|| out.strip_suffix('\n'))
            .map(str::len);
        if let Some(len) = trimmed {
            out.truncate(len);
        }
    }
    Ok(out)
}

/// Plans the splices that make `want` true, or explains why the file cannot be edited safely.
pub(crate) fn plan(
    file: &str,
    text: &str,
    k: &Kustomization,
    located: &Located,
    want: &Want<'_>,
) -> Result<Vec<Splice>, KustomizeError> {
    let p = Planner {
        file,
        text,
        // New lines end like the file's first line does.
        nl: match text.find('\n') {
            Some(i) if i > 0 && text.as_bytes().get(i - 1) == Some(&b'\r') => "\r\n",
            _ => "\n",
        },
        located,
        splices: Vec::new(),
    };
    p.run(k, want)
}

struct Planner<'a> {
    file: &'a str,
    text: &'a str,
    nl: &'static str,
    located: &'a Located,
    splices: Vec<Splice>,
}

impl<'a> Planner<'a> {
    fn unsupported(&self, reason: impl Into<String>) -> KustomizeError {
        KustomizeError::unsupported(self.file, reason)
    }

    fn run(mut self, k: &Kustomization, want: &Want<'_>) -> Result<Vec<Splice>, KustomizeError> {
        let root_map = match (&k.root, self.located.root.as_ref().map(|n| &n.kind)) {
            (Value::Null, None) => None,
            (Value::Map(pairs), Some(Kind::Mapping(m))) => {
                if pairs.len() != m.entries.len() {
                    return Err(self.unsupported(
                        "the top-level mapping uses a merge key or a layout the editor cannot \
                         locate reliably",
                    ));
                }
                Some(m)
            }
            _ => return Err(self.unsupported("the editor could not locate the top-level mapping")),
        };
        let images_index = super::model::images_key_index(self.file, &k.root)?;
        let images_entry = match (images_index, root_map) {
            (Some(i), Some(m)) => {
                let entry = m
                    .entries
                    .get(i)
                    .ok_or_else(|| self.unsupported("lost the images key"))?;
                if entry.key_text.as_deref().map(fold_key).as_deref() != Some("images")
                    || entry.explicit_key
                {
                    return Err(self.unsupported(
                        "the `images` key is written in a way the editor cannot locate",
                    ));
                }
                Some(entry)
            }
            _ => None,
        };
        if let Some(Node { props, .. }) = images_entry.and_then(|e| e.value.as_ref()) {
            for prop in props {
                if let Some(anchor) = prop.strip_prefix('&')
                    && self.located.aliases.iter().any(|a| a == anchor)
                {
                    return Err(self.unsupported(format!(
                        "the `images:` list carries anchor {} that an alias refers to; an edit \
                         would change the alias too",
                        shown(prop)
                    )));
                }
            }
        }

        match (k.images(), images_entry) {
            (ImagesField::List(items), Some(entry)) => {
                let seq = match entry.value.as_ref().map(|n| &n.kind) {
                    Some(Kind::Sequence(seq)) => seq,
                    Some(Kind::Alias) => {
                        return Err(self.unsupported(
                            "`images:` is an alias; Sealift does not edit through aliases: write \
                             the list out in full",
                        ));
                    }
                    _ => {
                        return Err(
                            self.unsupported("the editor could not locate the `images:` list")
                        );
                    }
                };
                self.check_items(items, seq)?;
                let matches: Vec<usize> = k
                    .entries
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.name == want.name)
                    .map(|(i, _)| i)
                    .collect();
                match matches.split_first() {
                    Some((&first, rest)) => {
                        for &i in &matches {
                            self.refuse_indirections(seq, i, want.name)?;
                        }
                        let current = k
                            .entries
                            .get(first)
                            .ok_or_else(|| self.unsupported("lost an entry"))?;
                        self.edit_entry(seq, first, current, want)?;
                        self.delete_items(seq, rest)?;
                    }
                    None => {
                        let at = k
                            .entries
                            .iter()
                            .position(|e| e.name.as_str() > want.name)
                            .unwrap_or(k.entries.len());
                        self.insert_item(entry, seq, at, want)?;
                    }
                }
            }
            (ImagesField::Null, Some(entry)) => self.fill_null_images(entry, root_map, want)?,
            (ImagesField::Absent, None) => self.add_images_key(root_map, want)?,
            _ => return Err(self.unsupported("the editor and the reader disagree about `images:`")),
        }
        Ok(self.splices)
    }

    /// The located items must be the items the reader saw, field by field.
    fn check_items(&self, items: &[Value], seq: &Sequence) -> Result<(), KustomizeError> {
        if items.len() != seq.items.len() {
            return Err(
                self.unsupported("the editor and the reader count different `images:` items")
            );
        }
        for (index, (value, item)) in items.iter().zip(&seq.items).enumerate() {
            let (
                Value::Map(pairs),
                Some(Node {
                    kind: Kind::Mapping(m),
                    props,
                    ..
                }),
            ) = (value, &item.node)
            else {
                continue;
            };
            // Entries built with anchors, aliases or merge keys are never edited (the promoted
            // one is refused); their meaning is checked after the edit instead.
            if !props.is_empty() || !cst::indirections(&item.syntax).is_empty() {
                continue;
            }
            let located: Vec<Option<String>> = m
                .entries
                .iter()
                .map(|e| e.key_text.as_deref().map(fold_key))
                .collect();
            let read: Vec<Option<String>> = pairs
                .iter()
                .map(|(k, _)| k.as_str().map(fold_key))
                .collect();
            if located != read {
                return Err(self.unsupported(format!(
                    "the editor and the reader disagree about the fields of images[{index}]"
                )));
            }
            for (entry, (_, v)) in m.entries.iter().zip(pairs) {
                if let Some(Node {
                    kind: Kind::Scalar(s),
                    ..
                }) = &entry.value
                    && let Some(decoded) = &s.value
                    && Some(decoded.as_str()) != v.as_str()
                    && !(decoded.is_empty() || s.is_null)
                    && matches!(v, Value::Str(_))
                {
                    return Err(self.unsupported(format!(
                        "the editor and the reader disagree about a value in images[{index}]"
                    )));
                }
            }
        }
        Ok(())
    }

    fn refuse_indirections(
        &self,
        seq: &Sequence,
        index: usize,
        name: &str,
    ) -> Result<(), KustomizeError> {
        let item = seq
            .items
            .get(index)
            .ok_or_else(|| self.unsupported("lost an item"))?;
        let found = cst::indirections(&item.syntax);
        if found.is_empty() {
            Ok(())
        } else {
            Err(self.unsupported(format!(
                "images[{index}] ({}) uses {}; Sealift does not edit through anchors, aliases, tags \
                 or merge keys: write the entry out in full",
                shown(name),
                found.join(", ")
            )))
        }
    }

    // ---- text helpers ------------------------------------------------------------------------

    fn line_start(&self, pos: usize) -> usize {
        self.text
            .get(..pos)
            .and_then(|t| t.rfind('\n'))
            .map_or(0, |i| i + 1)
    }

    /// Start of the line after the one holding `pos`; `None` on the last line without a line
    /// break.
    fn after_line(&self, pos: usize) -> Option<usize> {
        self.text
            .get(pos..)
            .and_then(|t| t.find('\n'))
            .map(|i| pos + i + 1)
    }

    /// End of the line holding `pos`, before its line break.
    fn line_end(&self, pos: usize) -> usize {
        match self.after_line(pos) {
            Some(next) if self.text.get(..next).is_some_and(|t| t.ends_with("\r\n")) => next - 2,
            Some(next) => next - 1,
            None => self.text.len(),
        }
    }

    /// The text from the start of the line to `pos`, without a byte order mark.
    fn prefix(&self, pos: usize) -> &'a str {
        let text: &'a str = self.text;
        text.get(self.line_start(pos)..pos)
            .unwrap_or("")
            .trim_start_matches('\u{feff}')
    }

    fn starts_line(&self, pos: usize) -> bool {
        self.prefix(pos).chars().all(|c| c == ' ')
    }

    /// Spaces as wide as the text before `pos` on its line, which must be spaces and dashes only.
    fn indent_at(&self, pos: usize) -> Result<String, KustomizeError> {
        let prefix = self.prefix(pos);
        if prefix.chars().all(|c| c == ' ' || c == '-') {
            Ok(" ".repeat(prefix.chars().count()))
        } else {
            Err(self.unsupported(
                "an entry is indented with something other than spaces and `- ` (a tab or an \
                 explicit key)",
            ))
        }
    }

    fn push(&mut self, start: usize, end: usize, text: impl Into<String>) {
        self.splices.push(Splice {
            start,
            end,
            text: text.into(),
        });
    }

    /// Inserts `lines` (each without a line break) as whole lines after the line holding `pos`.
    fn insert_lines_after(&mut self, pos: usize, lines: &[String]) {
        let nl = self.nl;
        match self.after_line(pos) {
            Some(at) => {
                let text: String = lines.iter().map(|l| format!("{l}{nl}")).collect();
                self.push(at, at, text);
            }
            None => {
                let text: String = lines.iter().map(|l| format!("{nl}{l}")).collect();
                let end = self.text.len();
                self.push(end, end, text);
            }
        }
    }
}

fn style_of(entry: Option<&Entry>) -> Style {
    match entry.and_then(|e| e.value.as_ref()).map(|n| &n.kind) {
        Some(Kind::Scalar(s)) if !s.is_null => match s.style {
            Style::Single => Style::Single,
            Style::Double => Style::Double,
            _ => Style::Plain,
        },
        _ => Style::Plain,
    }
}
