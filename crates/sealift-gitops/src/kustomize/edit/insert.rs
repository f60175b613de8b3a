//! Adding an entry: where kustomize's order puts it, in the layout and quoting of its
//! neighbours; creating the `images:` list when there is none.

use super::{Planner, Want, style_of};
use crate::kustomize::cst::{Entry, Item, Kind, Mapping, Node, Sequence};
use crate::kustomize::error::KustomizeError;
use crate::kustomize::scalar::{Style, fold_key, render};

/// Quote styles and layout copied from a neighbouring entry for a new one.
#[derive(Clone, Copy, Debug)]
struct Template {
    flow_item: bool,
    brace_pad: bool,
    gap: usize,
    name: Style,
    new_name: Style,
    digest: Style,
}

impl Default for Template {
    fn default() -> Self {
        Template {
            flow_item: false,
            brace_pad: false,
            gap: 1,
            name: Style::Plain,
            new_name: Style::Plain,
            digest: Style::Plain,
        }
    }
}

impl Planner<'_> {
    fn template(&self, item: Option<&Item>) -> Template {
        let mut t = Template::default();
        let Some(Item {
            dash,
            node:
                Some(Node {
                    kind: Kind::Mapping(m),
                    ..
                }),
            ..
        }) = item
        else {
            return t;
        };
        t.flow_item = m.flow;
        if let (Some(open), Some(first)) = (m.open, m.entries.first()) {
            t.brace_pad = first.start > open + 1;
        }
        if let (Some(dash), Some(first)) = (dash, m.entries.first()) {
            let between = self
                .text
                .get(dash + 1..m.open.unwrap_or(first.start))
                .unwrap_or("");
            if !between.is_empty() && between.chars().all(|c| c == ' ') {
                t.gap = between.len();
            }
        }
        let style = |key: &str| {
            style_of(
                m.entries
                    .iter()
                    .find(|e| e.key_text.as_deref().map(fold_key).as_deref() == Some(key)),
            )
        };
        t.name = style("name");
        t.new_name = if m
            .entries
            .iter()
            .any(|e| e.key_text.as_deref().map(fold_key).as_deref() == Some("newname"))
        {
            style("newname")
        } else {
            t.name
        };
        t.digest = if m
            .entries
            .iter()
            .any(|e| e.key_text.as_deref().map(fold_key).as_deref() == Some("digest"))
        {
            style("digest")
        } else {
            t.name
        };
        t
    }

    fn fields(want: &Want<'_>, t: &Template, flow: bool) -> Vec<String> {
        let mut fields = vec![format!("name: {}", render(want.name, t.name, flow))];
        if let Some(new_name) = want.new_name {
            fields.push(format!("newName: {}", render(new_name, t.new_name, flow)));
        }
        fields.push(format!("digest: {}", render(want.digest, t.digest, flow)));
        fields
    }

    fn flow_item(want: &Want<'_>, t: &Template) -> String {
        let pad = if t.brace_pad { " " } else { "" };
        format!("{{{pad}{}{pad}}}", Self::fields(want, t, true).join(", "))
    }

    /// The lines of a new block item whose `-` is at `dash_indent`.
    fn block_item(want: &Want<'_>, t: &Template, dash_indent: &str) -> Vec<String> {
        let gap = " ".repeat(t.gap);
        if t.flow_item {
            return vec![format!("{dash_indent}-{gap}{}", Self::flow_item(want, t))];
        }
        let key_indent = format!("{dash_indent} {gap}");
        Self::fields(want, t, false)
            .into_iter()
            .enumerate()
            .map(|(i, field)| {
                if i == 0 {
                    format!("{dash_indent}-{gap}{field}")
                } else {
                    format!("{key_indent}{field}")
                }
            })
            .collect()
    }

    pub(super) fn insert_item(
        &mut self,
        images: &Entry,
        seq: &Sequence,
        at: usize,
        want: &Want<'_>,
    ) -> Result<(), KustomizeError> {
        let neighbour = seq.items.get(at).or_else(|| seq.items.last());
        let t = self.template(neighbour);
        if seq.flow {
            let item = Self::flow_item(want, &t);
            let sep = match (seq.items.first(), seq.items.get(1)) {
                (Some(a), Some(b)) => self
                    .text
                    .get(a.end..b.start)
                    .filter(|s| s.contains(',') && !s.contains('#'))
                    .unwrap_or(", ")
                    .to_owned(),
                _ => ", ".to_owned(),
            };
            match (seq.items.get(at), seq.items.last(), seq.open) {
                (Some(before), _, _) => {
                    self.push(before.start, before.start, format!("{item}{sep}"))
                }
                (None, Some(last), _) => self.push(last.end, last.end, format!("{sep}{item}")),
                (None, None, Some(open)) => self.push(open + 1, open + 1, item),
                (None, None, None) => return Err(self.unsupported("an empty list without `[`")),
            }
            return Ok(());
        }
        match seq.items.get(at) {
            Some(before) => {
                let dash = before
                    .dash
                    .ok_or_else(|| self.unsupported("an item without `-`"))?;
                if !self.starts_line(dash) {
                    return Err(self.unsupported("an `images:` item does not start its line"));
                }
                let dash_indent = self.indent_at(dash)?;
                // Comment lines right above the next item describe it: go above them.
                let floor = match at.checked_sub(1).and_then(|p| seq.items.get(p)) {
                    Some(prev) => self.after_line(prev.end),
                    None => self.after_line(images.colon_end.unwrap_or(images.start)),
                }
                .unwrap_or(dash);
                let mut pos = self.line_start(dash);
                while pos > floor {
                    let prev = self.line_start(pos - 1);
                    let line = self.text.get(prev..pos).unwrap_or("").trim();
                    if line.starts_with('#') {
                        pos = prev;
                    } else {
                        break;
                    }
                }
                let nl = self.nl;
                let lines: String = Self::block_item(want, &t, &dash_indent)
                    .into_iter()
                    .map(|l| format!("{l}{nl}"))
                    .collect();
                self.push(pos, pos, lines);
            }
            None => {
                let last = seq
                    .items
                    .last()
                    .ok_or_else(|| self.unsupported("an empty block list"))?;
                let dash = last
                    .dash
                    .ok_or_else(|| self.unsupported("an item without `-`"))?;
                if !self.starts_line(dash) {
                    return Err(self.unsupported("an `images:` item does not start its line"));
                }
                let dash_indent = self.indent_at(dash)?;
                let lines = Self::block_item(want, &t, &dash_indent);
                self.insert_lines_after(last.end, &lines);
            }
        }
        Ok(())
    }

    /// How far this file indents a block list under its key (`0` for kustomize's own
    /// `key:\n- item` style).
    fn list_offset(&self, root: Option<&Mapping>) -> usize {
        root.into_iter()
            .flat_map(|m| &m.entries)
            .find_map(|e| match &e.value {
                Some(Node {
                    kind: Kind::Sequence(s),
                    ..
                }) if !s.flow => {
                    let dash = s.items.first()?.dash?;
                    if !self.starts_line(dash) || !self.starts_line(e.start) {
                        return None;
                    }
                    self.prefix(dash)
                        .len()
                        .checked_sub(self.prefix(e.start).len())
                }
                _ => None,
            })
            .unwrap_or(0)
    }

    fn new_block_list(
        &self,
        want: &Want<'_>,
        key_indent: &str,
        root: Option<&Mapping>,
    ) -> Vec<String> {
        let dash_indent = format!("{key_indent}{}", " ".repeat(self.list_offset(root)));
        Self::block_item(want, &Template::default(), &dash_indent)
    }

    /// `images:` with a null value (`images:`, `images: ~`, `images: null`) gets a list.
    pub(super) fn fill_null_images(
        &mut self,
        entry: &Entry,
        root: Option<&Mapping>,
        want: &Want<'_>,
    ) -> Result<(), KustomizeError> {
        let colon_end = entry
            .colon_end
            .ok_or_else(|| self.unsupported("`images` without `:`"))?;
        let mut end_of_value = colon_end;
        if let Some(node) = &entry.value {
            if !node.props.is_empty() {
                return Err(self.unsupported("`images:` carries an anchor or tag"));
            }
            let from = self
                .text
                .get(..node.content_start)
                .map_or(node.content_start, |t| {
                    t.trim_end_matches([' ', '\t']).len().max(colon_end)
                });
            self.push(from, node.end, "");
            end_of_value = node.end;
        }
        let flow = root.is_some_and(|m| m.flow);
        if flow {
            let item = Self::flow_item(want, &Template::default());
            self.push(end_of_value, end_of_value, format!(" [{item}]"));
            return Ok(());
        }
        if !self.starts_line(entry.start) {
            return Err(self.unsupported("the `images` key does not start its line"));
        }
        let key_indent = self.indent_at(entry.start)?;
        let lines = self.new_block_list(want, &key_indent, root);
        self.insert_lines_after(end_of_value, &lines);
        Ok(())
    }

    /// No `images` key: add one at the end of the top-level mapping.
    pub(super) fn add_images_key(
        &mut self,
        root: Option<&Mapping>,
        want: &Want<'_>,
    ) -> Result<(), KustomizeError> {
        if let Some(m) = root.filter(|m| m.flow) {
            let item = Self::flow_item(want, &Template::default());
            match (m.entries.last(), m.open) {
                (Some(last), _) => self.push(last.end, last.end, format!(", images: [{item}]")),
                (None, Some(open)) => self.push(open + 1, open + 1, format!("images: [{item}]")),
                (None, None) => return Err(self.unsupported("an empty mapping without `{`")),
            }
            return Ok(());
        }
        let key_indent = match root.and_then(|m| m.entries.first()) {
            Some(first) => {
                if !self.starts_line(first.start) {
                    return Err(self.unsupported("the first top-level key does not start its line"));
                }
                self.indent_at(first.start)?
            }
            None => String::new(),
        };
        let mut lines = vec![format!("{key_indent}images:")];
        lines.extend(self.new_block_list(want, &key_indent, root));
        let nl = self.nl;
        let at = match self.located.doc_end {
            Some(doc_end) => self.line_start(doc_end),
            None => self.text.len(),
        };
        // A file that does not end with a line break keeps not ending with one.
        let needs_break =
            at == self.text.len() && !self.text.is_empty() && !self.text.ends_with('\n');
        let text: String = if needs_break {
            lines.iter().map(|l| format!("{nl}{l}")).collect()
        } else {
            lines.iter().map(|l| format!("{l}{nl}")).collect()
        };
        self.push(at, at, text);
        Ok(())
    }
}
