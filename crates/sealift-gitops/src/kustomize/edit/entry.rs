//! Changing the promoted entry in place: its values, its keys, the fields that go.

use super::{Planner, Want, style_of};
use crate::kustomize::ImageEntry;
use crate::kustomize::cst::{Kind, Mapping, Node, Sequence};
use crate::kustomize::error::KustomizeError;
use crate::kustomize::scalar::{Style, fold_key, render};

impl Planner<'_> {
    pub(super) fn edit_entry(
        &mut self,
        seq: &Sequence,
        index: usize,
        current: &ImageEntry,
        want: &Want<'_>,
    ) -> Result<(), KustomizeError> {
        let item = seq
            .items
            .get(index)
            .ok_or_else(|| self.unsupported("lost an item"))?;
        let Some(Node {
            kind: Kind::Mapping(m),
            ..
        }) = &item.node
        else {
            return Err(self.unsupported(format!("images[{index}] is not written as a mapping")));
        };
        let field = |name: &str| {
            m.entries
                .iter()
                .position(|e| e.key_text.as_deref().map(fold_key).as_deref() == Some(name))
        };
        let (Some(i_name), i_new_name, i_new_tag, i_digest) = (
            field("name"),
            field("newname"),
            field("newtag"),
            field("digest"),
        ) else {
            return Err(self.unsupported(format!(
                "images[{index}] has no `name` key the editor can locate"
            )));
        };
        let name_style = style_of(m.entries.get(i_name));
        let delete_new_name = i_new_name
            .filter(|_| want.new_name.is_none() && !want.new_name_ok(current.new_name.as_deref()));
        let mut deleted: Vec<usize> = delete_new_name.into_iter().collect();
        let mut renamed_tag = false;

        // newName first: it goes right after `name`, before a digest appended at the end.
        match (want.new_name, i_new_name) {
            (Some(new_name), Some(j)) if current.new_name.as_deref() != Some(new_name) => {
                self.set_value(m, j, new_name)?;
            }
            (Some(new_name), None) => {
                self.insert_field(m, i_name, "newName", new_name, name_style)?
            }
            _ => {}
        }
        match (i_digest, i_new_tag) {
            (Some(j), _) => {
                if current.digest.as_deref() != Some(want.digest) {
                    self.set_value(m, j, want.digest)?;
                }
            }
            (None, Some(j)) => {
                // `newTag: v1` becomes `digest: sha256:…` in place: one line changes.
                self.rename_key(m, j, "digest")?;
                self.set_value(m, j, want.digest)?;
                renamed_tag = true;
            }
            (None, None) => {
                let last_kept = (0..m.entries.len())
                    .rev()
                    .find(|j| !deleted.contains(j))
                    .unwrap_or(i_name);
                self.insert_field(m, last_kept, "digest", want.digest, name_style)?;
            }
        }
        if let (Some(j), false) = (i_new_tag, renamed_tag) {
            deleted.push(j);
        }
        deleted.sort_unstable();
        self.delete_fields(m, &deleted)
    }

    fn set_value(&mut self, m: &Mapping, j: usize, value: &str) -> Result<(), KustomizeError> {
        let entry = m
            .entries
            .get(j)
            .ok_or_else(|| self.unsupported("lost a field"))?;
        match &entry.value {
            Some(
                node @ Node {
                    kind: Kind::Scalar(s),
                    ..
                },
            ) => {
                let style = if s.is_null { Style::Plain } else { s.style };
                self.push(node.content_start, node.end, render(value, style, m.flow));
            }
            None => {
                let at = entry
                    .colon_end
                    .ok_or_else(|| self.unsupported("a field without `:`"))?;
                self.push(at, at, format!(" {}", render(value, Style::Plain, m.flow)));
            }
            Some(_) => {
                return Err(self.unsupported("a field holds a collection where a string belongs"));
            }
        }
        Ok(())
    }

    fn rename_key(&mut self, m: &Mapping, j: usize, key: &str) -> Result<(), KustomizeError> {
        let entry = m
            .entries
            .get(j)
            .ok_or_else(|| self.unsupported("lost a field"))?;
        let Some(
            node @ Node {
                kind: Kind::Scalar(s),
                ..
            },
        ) = &entry.key
        else {
            return Err(self.unsupported("a key is not a plain or quoted scalar"));
        };
        self.push(node.content_start, node.end, render(key, s.style, m.flow));
        Ok(())
    }

    fn insert_field(
        &mut self,
        m: &Mapping,
        after: usize,
        key: &str,
        value: &str,
        style: Style,
    ) -> Result<(), KustomizeError> {
        let entry = m
            .entries
            .get(after)
            .ok_or_else(|| self.unsupported("lost a field"))?;
        let value = render(value, style, m.flow);
        if m.flow {
            self.push(entry.end, entry.end, format!(", {key}: {value}"));
        } else {
            let first = m
                .entries
                .first()
                .ok_or_else(|| self.unsupported("an empty entry"))?;
            let indent = self.indent_at(first.start)?;
            self.insert_lines_after(entry.end, &[format!("{indent}{key}: {value}")]);
        }
        Ok(())
    }

    /// Deletes the fields at `indices` (sorted), run by run of neighbouring fields so that the
    /// deletions never overlap.
    fn delete_fields(&mut self, m: &Mapping, indices: &[usize]) -> Result<(), KustomizeError> {
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for &j in indices {
            match runs.last_mut() {
                Some((_, last)) if *last + 1 == j => *last = j,
                _ => runs.push((j, j)),
            }
        }
        for (first, last) in runs {
            self.delete_run(m, first, last)?;
        }
        Ok(())
    }

    fn delete_run(&mut self, m: &Mapping, first: usize, last: usize) -> Result<(), KustomizeError> {
        let lost = || KustomizeError::unsupported(self.file, "lost a field");
        let a = m.entries.get(first).ok_or_else(lost)?;
        let b = m.entries.get(last).ok_or_else(lost)?;
        // The field after the run is kept (runs are maximal).
        let next = m.entries.get(last + 1);
        if m.flow {
            let prev = first.checked_sub(1).and_then(|p| m.entries.get(p));
            match (next, prev) {
                (Some(next), _) => self.push(a.start, next.start, ""),
                (None, Some(prev)) => self.push(prev.end, b.end, ""),
                (None, None) => return Err(self.unsupported("cannot empty an entry")),
            }
            return Ok(());
        }
        if self.starts_line(a.start) {
            for j in first..=last {
                let entry = m.entries.get(j).ok_or_else(lost)?;
                self.delete_lines(entry.start, entry.end);
            }
            return Ok(());
        }
        // The run starts on the `- ` line: pull the next kept field up when only the run's own
        // lines and white space are between them, else leave a bare `-` (the item's fields then
        // start on the next lines, which YAML allows).
        let Some(next) = next else {
            return Err(self.unsupported("cannot remove every field of an entry"));
        };
        let run_lines: Vec<(usize, usize)> = (first..=last)
            .filter_map(|j| m.entries.get(j))
            .map(|e| {
                (
                    self.line_start(e.start),
                    self.after_line(e.end).unwrap_or(self.text.len()),
                )
            })
            .collect();
        let mut pos = self.after_line(a.end).unwrap_or(self.text.len());
        let mut clean = true;
        while pos < self.line_start(next.start) {
            let end = self.after_line(pos).unwrap_or(self.text.len());
            let blank = self.text.get(pos..end).is_some_and(|l| l.trim().is_empty());
            let in_run = run_lines.iter().any(|&(from, to)| from <= pos && end <= to);
            if !(blank || in_run) {
                clean = false;
                break;
            }
            pos = end;
        }
        if clean {
            self.push(a.start, next.start, "");
        } else {
            let from = self
                .text
                .get(..a.start)
                .map_or(a.start, |t| t.trim_end_matches(' ').len());
            let to = self.line_end(a.end);
            self.push(from, to, "");
            for j in first + 1..=last {
                let entry = m.entries.get(j).ok_or_else(lost)?;
                self.delete_lines(entry.start, entry.end);
            }
        }
        Ok(())
    }

    /// Deletes the whole lines from the one holding `start` to the one holding `end`. (When the
    /// last line goes and the file had no final line break, [`apply`] drops the one left.)
    fn delete_lines(&mut self, start: usize, end: usize) {
        let from = self.line_start(start);
        let to = self.after_line(end).unwrap_or(self.text.len());
        self.push(from, to, "");
    }

    /// Deletes the items at `indices` (sorted, never the first item), run by run of
    /// neighbouring items so that the deletions never overlap.
    pub(super) fn delete_items(
        &mut self,
        seq: &Sequence,
        indices: &[usize],
    ) -> Result<(), KustomizeError> {
        let lost = || KustomizeError::unsupported(self.file, "lost an item");
        let mut runs: Vec<(usize, usize)> = Vec::new();
        for &i in indices {
            match runs.last_mut() {
                Some((_, last)) if *last + 1 == i => *last = i,
                _ => runs.push((i, i)),
            }
        }
        for (first, last) in runs {
            let a = seq.items.get(first).ok_or_else(lost)?;
            let b = seq.items.get(last).ok_or_else(lost)?;
            if seq.flow {
                let next = seq.items.get(last + 1);
                let prev = first.checked_sub(1).and_then(|p| seq.items.get(p));
                match (next, prev) {
                    (Some(next), _) => self.push(a.start, next.start, ""),
                    (None, Some(prev)) => self.push(prev.end, b.end, ""),
                    (None, None) => return Err(self.unsupported("cannot remove every item")),
                }
                continue;
            }
            for item in seq.items.get(first..=last).ok_or_else(lost)? {
                let dash = item
                    .dash
                    .ok_or_else(|| self.unsupported("an item without `-`"))?;
                if !self.starts_line(dash) {
                    return Err(self.unsupported("an `images:` item does not start its line"));
                }
                self.delete_lines(dash, item.end);
            }
        }
        Ok(())
    }
}
