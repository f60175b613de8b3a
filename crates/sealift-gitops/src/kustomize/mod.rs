//! Reading and editing the `images:` of a kustomize overlay.
//!
//! - Reading ([`parse_images`], [`pinned_digest`], [`pinned_images`]) follows kustomize 4.5.4:
//!   field names match case-insensitively, values must be strings, aliases and merge keys are
//!   resolved. A source image pinned only by tag is an error: promotions move digests, never tags.
//! - Editing ([`set_image`]) gives the target overlay exactly the meaning of
//!   `kustomize edit set image NAME=NEWNAME@sha256:…` (or `NAME@sha256:…`) while every byte
//!   outside the promoted entry stays as it was: comments, blank lines, key order, quoting,
//!   indentation, flow or block style, CRLF line breaks, a missing final line break, a BOM.
//!
//! How the editor stays honest: a lossless parser (yaml-edit's CST) locates the `images` key,
//! the items and their fields; the edit is a handful of byte splices computed from those
//! offsets; the result is read back by an independent parser (serde-saphyr) and compared with
//! what kustomize's edit means — every other top-level field and every other entry identical,
//! the promoted entry exactly `name` + `newName` (when given) + `digest` at kustomize's
//! position. If that check fails nothing is returned but an error. The semantics, what is kept
//! and what is refused are in `docs/kustomize-edit.md`; `tests/kustomize_oracle.rs` compares
//! every rule with the real kustomize binary.

mod cst;
mod edit;
mod error;
mod model;
mod scalar;
mod verify;

pub use error::KustomizeError;

/// The file names kustomize accepts for a kustomization, in the order it looks for them.
pub const FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// Picks the kustomization file of an overlay directory given the names of the files in it,
/// as kustomize does: exactly one of [`FILE_NAMES`] must be present (kustomize 4.5.4 refuses a
/// directory with several: "Found multiple kustomization files").
pub fn kustomization_file_name<'a>(
    dir: &str,
    present: impl IntoIterator<Item = &'a str>,
) -> Result<&'static str, KustomizeError> {
    let present: Vec<&str> = present.into_iter().collect();
    let found: Vec<&'static str> = FILE_NAMES
        .into_iter()
        .filter(|name| present.contains(name))
        .collect();
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(KustomizeError::NotFound {
            dir: dir.to_owned(),
        }),
        _ => Err(KustomizeError::MultipleFiles {
            dir: dir.to_owned(),
            names: found,
        }),
    }
}

/// One entry of a kustomization's `images:` list, as kustomize reads it. Empty strings and
/// nulls are `None` (kustomize does not tell them apart from a missing field).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageEntry {
    /// The image name the entry applies to (`name`); empty when the entry has none.
    pub name: String,
    /// The replacement repository (`newName`).
    pub new_name: Option<String>,
    /// The replacement tag (`newTag`).
    pub new_tag: Option<String>,
    /// The pinned digest (`digest`).
    pub digest: Option<String>,
}

/// An image a source overlay pins by digest: what a promotion moves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PinnedImage {
    /// The kustomize image name (the entry's `name`).
    pub name: String,
    /// The repository the digest lives in: the entry's `newName`, else its `name`, without any
    /// tag or digest suffix (kustomize renders `reference@digest`, so this is what runs).
    pub reference: String,
    /// The pinned digest, `sha256:` + 64 lower-case hex digits.
    pub digest: String,
}

/// The result of [`set_image`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edited {
    /// The new file content (the input itself when nothing changed).
    pub text: String,
    /// False when the entry already meant exactly what the edit would write.
    pub changed: bool,
}

/// Lists the `images:` entries of a kustomization. `file` is only used in error messages.
///
/// Fails when the text is not a single YAML document with a mapping at the top, or when
/// `images:` holds something kustomize 4.5.4 would refuse (a field other than `name`, `newName`,
/// `newTag`, `digest`; a number or boolean where a string belongs). Also refused, although
/// kustomize would pick one silently: a key given twice (including `images` and `Images`).
pub fn parse_images(file: &str, text: &str) -> Result<Vec<ImageEntry>, KustomizeError> {
    Ok(model::read(file, text)?.entries)
}

/// The digest a source overlay pins for the image `name` (matched exactly, as kustomize
/// matches entry names).
///
/// Errors: the file is malformed; `name` is not listed; it is listed more than once (which
/// image runs then depends on every entry); it is pinned only by tag (promotions move digests,
/// never tags: the error names the file and the entry); it pins a digest that is not
/// `sha256:` + 64 lower-case hex digits.
pub fn pinned_digest(file: &str, text: &str, name: &str) -> Result<PinnedImage, KustomizeError> {
    scalar::check_name(name).map_err(|reason| KustomizeError::InvalidImageName {
        what: "name",
        value: name.to_owned(),
        reason,
    })?;
    let entries = parse_images(file, text)?;
    let indices: Vec<usize> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| e.name == name)
        .map(|(i, _)| i)
        .collect();
    match indices.as_slice() {
        [] => Err(KustomizeError::ImageNotListed {
            file: file.to_owned(),
            name: name.to_owned(),
        }),
        [index] => match entries.get(*index) {
            Some(entry) => pinned(file, *index, entry),
            None => Err(KustomizeError::ImageNotListed {
                file: file.to_owned(),
                name: name.to_owned(),
            }),
        },
        _ => Err(KustomizeError::DuplicateImage {
            file: file.to_owned(),
            name: name.to_owned(),
            indices,
        }),
    }
}

/// Every image the overlay pins by digest, in file order. Entries pinned only by tag are not
/// promotable and are left out, as are entries without a name (kustomize applies them to no
/// image). Fails when the file is malformed, when a digest-pinned name is
/// listed more than once, or when a pinned digest is not `sha256:` + 64 lower-case hex digits.
pub fn pinned_images(file: &str, text: &str) -> Result<Vec<PinnedImage>, KustomizeError> {
    let entries = parse_images(file, text)?;
    let mut out = Vec::new();
    for (index, entry) in entries.iter().enumerate() {
        // A tag-only entry is not promotable; one without a name applies to no image.
        if entry.digest.is_none() || entry.name.is_empty() {
            continue;
        }
        let indices: Vec<usize> = entries
            .iter()
            .enumerate()
            .filter(|(_, e)| e.name == entry.name)
            .map(|(i, _)| i)
            .collect();
        if indices.len() > 1 {
            return Err(KustomizeError::DuplicateImage {
                file: file.to_owned(),
                name: entry.name.clone(),
                indices,
            });
        }
        out.push(pinned(file, index, entry)?);
    }
    Ok(out)
}

fn pinned(file: &str, index: usize, entry: &ImageEntry) -> Result<PinnedImage, KustomizeError> {
    let Some(digest) = &entry.digest else {
        return Err(KustomizeError::NotPinnedByDigest {
            file: file.to_owned(),
            name: entry.name.clone(),
            index,
            tag: entry.new_tag.clone(),
        });
    };
    if !scalar::is_digest(digest) {
        return Err(KustomizeError::InvalidPinnedDigest {
            file: file.to_owned(),
            name: entry.name.clone(),
            index,
            digest: digest.clone(),
        });
    }
    let reference = scalar::repository(entry.new_name.as_deref().unwrap_or(&entry.name));
    Ok(PinnedImage {
        name: entry.name.clone(),
        reference: reference.to_owned(),
        digest: digest.clone(),
    })
}

/// Sets the digest of image `name` in a kustomization's text with the meaning of
/// `kustomize edit set image NAME=NEW_NAME@DIGEST` (or `NAME@DIGEST` without a new name),
/// changing no byte outside the promoted entry. Pure: no I/O.
///
/// - An entry named `name` becomes exactly `name`, `newName` (when `new_name` is given) and
///   `digest`: `newTag` goes (a `newTag` line becomes the `digest` line when there was no
///   digest), and without a new name an existing `newName` goes. A `new_name` equal to a bare
///   `name` is treated as no new name (kustomize renders both the same), so an existing
///   `newName: <name>` may stay.
/// - Further entries with the same name are removed (kustomize collapses them into one).
/// - Without such an entry, one is added where kustomize's sort by name puts it (before the
///   first entry whose name sorts after `name`), without moving any other entry; an `images:`
///   list is created when there is none, in the file's style.
///
/// `changed` is false (and `text` the input) when the file already means exactly that.
/// Errors: invalid `name`, `new_name` or `digest` (checked first, nothing is read), a malformed
/// file, an entry that could only be changed through an anchor, alias, tag or merge key, and a
/// failed self-check (see the module documentation).
pub fn set_image(
    file: &str,
    text: &str,
    name: &str,
    new_name: Option<&str>,
    digest: &str,
) -> Result<Edited, KustomizeError> {
    scalar::check_name(name).map_err(|reason| KustomizeError::InvalidImageName {
        what: "name",
        value: name.to_owned(),
        reason,
    })?;
    if let Some(new_name) = new_name {
        scalar::check_new_name(new_name).map_err(|reason| KustomizeError::InvalidImageName {
            what: "new name",
            value: new_name.to_owned(),
            reason,
        })?;
    }
    if !scalar::is_digest(digest) {
        return Err(KustomizeError::InvalidDigest {
            digest: digest.to_owned(),
        });
    }
    let before = model::read(file, text)?;
    let want = edit::Want::new(name, new_name, digest);
    let matching: Vec<&ImageEntry> = before.entries.iter().filter(|e| e.name == name).collect();
    if let [only] = matching.as_slice()
        && want.satisfied_by(only)
    {
        return Ok(Edited {
            text: text.to_owned(),
            changed: false,
        });
    }
    let located = cst::locate(text).map_err(|reason| {
        KustomizeError::unsupported(file, format!("cannot locate the entry to edit: {reason}"))
    })?;
    let splices = edit::plan(file, text, &before, &located, &want)?;
    // The CST and the located offsets are done with: free them before the self-check builds a
    // second reading of the file (peak memory is then two readings, not three structures).
    drop(located);
    let edited =
        edit::apply(text, splices).map_err(|reason| KustomizeError::self_check(file, reason))?;
    verify::check(file, &before, &edited, &want)?;
    Ok(Edited {
        text: edited,
        changed: true,
    })
}

#[cfg(test)]
mod tests;
