//! The self-check run on every edited text before it is returned: read it back with the
//! semantic parser and compare with what kustomize's `edit set image` means. If it does not
//! match, nothing is returned but an error.

use super::edit::Want;
use super::error::KustomizeError;
use super::model::{self, ImagesField, Kustomization, Value};
use super::scalar::fold_key;

fn is_images_key(key: &Value) -> bool {
    key.as_str().is_some_and(|k| fold_key(k) == "images")
}

fn without_images(root: &Value) -> Vec<&(Value, Value)> {
    match root {
        Value::Map(pairs) => pairs.iter().filter(|(k, _)| !is_images_key(k)).collect(),
        _ => Vec::new(),
    }
}

/// Checks that `after` is `before` with exactly the promoted entry changed as `want` says:
/// every other top-level field and every other `images:` entry read back identical, the
/// promoted entry holds exactly `name`, the wanted `newName` and `digest` and sits where
/// kustomize's order puts a new entry (or where the first old one was), and the entries
/// kustomize would have collapsed into it are gone.
pub(crate) fn check(
    file: &str,
    before: &Kustomization,
    after_text: &str,
    want: &Want<'_>,
) -> Result<(), KustomizeError> {
    let fail = |reason: String| KustomizeError::self_check(file, reason);
    let after = model::read_edited(file, after_text)
        .map_err(|e| fail(format!("the edited text does not read back: {e}")))?;
    if without_images(&before.root) != without_images(&after.root) {
        return Err(fail("a top-level field other than `images` changed".into()));
    }
    let ImagesField::List(after_items) = after.images() else {
        return Err(fail("the edited text has no `images:` list".into()));
    };
    let before_items: &[Value] = match before.images() {
        ImagesField::List(items) => items,
        ImagesField::Absent | ImagesField::Null => &[],
    };
    let matches: Vec<usize> = before
        .entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.name == want.name)
        .map(|(i, _)| i)
        .collect();
    let at = match matches.first() {
        Some(&first) => first,
        None => before
            .entries
            .iter()
            .position(|e| e.name.as_str() > want.name)
            .unwrap_or(before.entries.len()),
    };
    let others: Vec<&Value> = before_items
        .iter()
        .enumerate()
        .filter(|(i, _)| !matches.contains(i))
        .map(|(_, v)| v)
        .collect();
    if after_items.len() != others.len() + 1 {
        return Err(fail(format!(
            "expected {} `images:` entries, found {}",
            others.len() + 1,
            after_items.len()
        )));
    }
    let Some(promoted) = after_items.get(at) else {
        return Err(fail("the promoted entry is missing".into()));
    };
    let entry = model::entry(file, at, promoted).map_err(|e| fail(e.to_string()))?;
    if !want.satisfied_by(&entry) {
        return Err(fail(format!("the promoted entry reads back as {entry:?}")));
    }
    let Value::Map(pairs) = promoted else {
        return Err(fail("the promoted entry is not a mapping".into()));
    };
    if pairs.iter().any(|(k, _)| {
        k.as_str()
            .is_none_or(|k| !matches!(fold_key(k).as_str(), "name" | "newname" | "digest"))
    }) {
        return Err(fail(
            "the promoted entry kept a field other than name, newName and digest".into(),
        ));
    }
    let rest: Vec<&Value> = after_items
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != at)
        .map(|(_, v)| v)
        .collect();
    if rest != others {
        return Err(fail(
            "an `images:` entry other than the promoted one changed or moved".into(),
        ));
    }
    Ok(())
}
