//! Overlays inside a commit: find the kustomization, read the digests the source pins, and plan
//! the target edit. Pure reads of the snapshot; the only output is the list of file changes.

use crate::commit::{FileChange, read_file_in, subtree};
use crate::error::GitError;
use crate::kustomize::{self, PinnedImage};
use crate::push::Snapshot;

/// A kustomization file found in an overlay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Kustomization {
    /// Repository path of the file, e.g. `overlays/prod/kustomization.yaml`.
    pub path: String,
    /// Its text.
    pub text: String,
}

/// Finds the overlay's kustomization file under the names kustomize accepts, in its order.
pub fn find_kustomization(snap: &Snapshot<'_>, overlay: &str) -> Result<Kustomization, GitError> {
    let tree =
        subtree(snap.repo, snap.base, overlay)?.ok_or_else(|| GitError::OverlayNotFound {
            path: overlay.to_owned(),
            branch: snap.branch.to_owned(),
        })?;
    let present: Vec<String> = tree
        .iter()
        .filter_map(|e| e.name().ok().map(str::to_owned))
        .collect();
    let name = match kustomize::kustomization_file_name(overlay, present.iter().map(String::as_str))
    {
        Ok(name) => name,
        Err(kustomize::KustomizeError::NotFound { .. }) => {
            return Err(GitError::KustomizationNotFound {
                path: overlay.to_owned(),
            });
        }
        // Several kustomization files: kustomize refuses the overlay, and so do we.
        Err(e) => return Err(e.into()),
    };
    let path = format!("{overlay}/{name}");
    let bytes = read_file_in(snap.repo, &tree, overlay, name)?.ok_or_else(|| {
        GitError::KustomizationNotFound {
            path: overlay.to_owned(),
        }
    })?;
    let text = String::from_utf8(bytes).map_err(|_| GitError::NotText { path: path.clone() })?;
    Ok(Kustomization { path, text })
}

/// The digests the source overlay pins for `names` (every digest-pinned image when empty).
pub fn resolve_source(
    snap: &Snapshot<'_>,
    overlay: &str,
    names: &[&str],
) -> Result<Vec<PinnedImage>, GitError> {
    let k = find_kustomization(snap, overlay)?;
    if names.is_empty() {
        return Ok(kustomize::pinned_images(&k.path, &k.text)?);
    }
    names
        .iter()
        .map(|name| kustomize::pinned_digest(&k.path, &k.text, name).map_err(GitError::from))
        .collect()
}

/// The change to the target overlay that pins every image exactly as verified: same name, the
/// source's effective reference as `newName`, the verified digest. Empty when already so.
pub fn plan_target(
    snap: &Snapshot<'_>,
    overlay: &str,
    images: &[PinnedImage],
) -> Result<Vec<FileChange>, GitError> {
    let k = find_kustomization(snap, overlay)?;
    let mut text = k.text.clone();
    for image in images {
        text = kustomize::set_image(
            &k.path,
            &text,
            &image.name,
            Some(&image.reference),
            &image.digest,
        )?
        .text;
    }
    if text == k.text {
        return Ok(vec![]);
    }
    Ok(vec![FileChange {
        path: k.path,
        content: text.into_bytes(),
    }])
}

/// The unified diff (`git diff` format, 3 lines of context) of what `commit` changed under
/// `overlay`, against its first parent: what a reviewer reads in the pull request. Empty when
/// the commit changed nothing there.
pub fn overlay_diff(
    repo: &git2::Repository,
    commit: &str,
    overlay: &str,
) -> Result<String, GitError> {
    crate::commit::check_path(overlay)?;
    let commit = repo.find_commit(git2::Oid::from_str(commit)?)?;
    let new = commit.tree()?;
    let old = match commit.parents().next() {
        Some(parent) => Some(parent.tree()?),
        None => None,
    };
    let mut opts = git2::DiffOptions::new();
    opts.pathspec(format!("{overlay}/"))
        .disable_pathspec_match(false)
        .context_lines(3)
        .id_abbrev(40);
    let diff = repo.diff_tree_to_tree(old.as_ref(), Some(&new), Some(&mut opts))?;
    let mut text = String::new();
    diff.print(git2::DiffFormat::Patch, |_, _, line| {
        if matches!(line.origin(), '+' | '-' | ' ') {
            text.push(line.origin());
        }
        text.push_str(&String::from_utf8_lossy(line.content()));
        true
    })?;
    Ok(text)
}
