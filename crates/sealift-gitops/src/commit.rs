//! Reading a commit's files and building a new commit in memory, without a work tree: only the
//! trees on the path to each changed file are rewritten, every other tree and blob is shared with
//! the base, so the cost does not grow with the size of the repository.

use crate::error::GitError;
pub use crate::signing::{OpenPgpSigningKey, SigningKey, SshSigningKey};
use git2::{ObjectType, Oid, Repository, Signature, Time, Tree};

const MODE_TREE: i32 = 0o040000;
const MODE_BLOB: i32 = 0o100644;
const MODE_LINK: i32 = 0o120000;

/// A file's new content at a repository path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileChange {
    /// Repository-relative path.
    pub path: String,
    /// The complete new content.
    pub content: Vec<u8>,
}

/// Author and committer of promotion commits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    /// Display name, e.g. `Sealift`.
    pub name: String,
    /// E-mail address, e.g. `sealift@example.com`.
    pub email: String,
}

/// Everything that makes a commit besides its tree and parent. With a fixed `time`, the same
/// change on the same base always produces the same commit id, which makes re-runs idempotent.
#[derive(Clone, Debug)]
pub struct CommitMeta {
    /// Author and committer.
    pub identity: Identity,
    /// Commit time in seconds since the Unix epoch (UTC).
    pub time: i64,
    /// The full commit message.
    pub message: String,
    /// Sign the commit with this SSH or OpenPGP key, or leave it unsigned.
    pub signing_key: Option<SigningKey>,
}

/// Checks a repository path the way the CRD schema does, and names what is wrong.
pub(crate) fn check_path(path: &str) -> Result<Vec<&str>, GitError> {
    let escape = |reason: &str| GitError::PathEscape {
        path: path.to_owned(),
        reason: reason.into(),
    };
    if path.starts_with('/') {
        return Err(escape("absolute path"));
    }
    if path.split('/').any(|s| s == "..") {
        return Err(escape("`..` segment"));
    }
    if !sealift_api::validation::is_repo_path(path) {
        return Err(escape("not a plain relative path"));
    }
    Ok(path.split('/').collect())
}

/// The directory tree at `path` in `commit`: `Ok(None)` when it does not exist, an error when a
/// component is a symbolic link (which could point outside the overlay) or a file.
pub(crate) fn subtree<'r>(
    repo: &'r Repository,
    commit: Oid,
    path: &str,
) -> Result<Option<Tree<'r>>, GitError> {
    let mut tree = repo.find_commit(commit)?.tree()?;
    for (i, name) in check_path(path)?.iter().enumerate() {
        let (mode, kind, id) = match tree.get_name(name) {
            Some(entry) => (entry.filemode(), entry.kind(), entry.id()),
            None => return Ok(None),
        };
        if mode == MODE_LINK {
            let prefix: Vec<&str> = path.split('/').take(i + 1).collect();
            return Err(GitError::PathEscape {
                path: path.to_owned(),
                reason: format!("{} is a symbolic link", prefix.join("/")),
            });
        }
        if kind != Some(ObjectType::Tree) {
            return Ok(None);
        }
        tree = repo.find_tree(id)?;
    }
    Ok(Some(tree))
}

/// A regular file's content at `dir/name` in `commit`: `Ok(None)` when absent; an error for a
/// symbolic link.
pub(crate) fn read_file_in<'r>(
    repo: &'r Repository,
    tree: &Tree<'r>,
    dir: &str,
    name: &str,
) -> Result<Option<Vec<u8>>, GitError> {
    let Some(entry) = tree.get_name(name) else {
        return Ok(None);
    };
    if entry.filemode() == MODE_LINK {
        return Err(GitError::PathEscape {
            path: format!("{dir}/{name}"),
            reason: "it is a symbolic link".into(),
        });
    }
    if entry.kind() != Some(ObjectType::Blob) {
        return Ok(None);
    }
    Ok(Some(repo.find_blob(entry.id())?.content().to_vec()))
}

/// Builds a commit on top of `base` with `changes` applied, without touching any ref. Returns the
/// new commit id (or `base` itself when the changes leave the tree as it was).
pub fn commit_changes(
    repo: &Repository,
    base: Oid,
    changes: &[FileChange],
    meta: &CommitMeta,
) -> Result<Oid, GitError> {
    Ok(commit_changes_with_objects(repo, base, changes, meta)?.id)
}

/// A commit built by [`commit_changes_with_objects`] and the objects it introduced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCommit {
    /// The commit (`base` itself when nothing changed).
    pub id: Oid,
    /// Every object reachable from the commit but not from `base`: the commit, the trees on the
    /// changed paths that differ from the base's, and the new blobs. Empty when nothing changed.
    /// A server that holds `base` needs exactly these to accept the commit.
    pub objects: Vec<Oid>,
}

/// [`commit_changes`], also naming the objects the commit introduced, so that a push can send
/// exactly those instead of discovering them with a walk over the base's whole tree.
pub fn commit_changes_with_objects(
    repo: &Repository,
    base: Oid,
    changes: &[FileChange],
    meta: &CommitMeta,
) -> Result<NewCommit, GitError> {
    let base_commit = repo.find_commit(base)?;
    let mut tree_id = base_commit.tree_id();
    for change in changes {
        let parts = check_path(&change.path)?;
        let blob = repo.blob(&change.content)?;
        let tree = repo.find_tree(tree_id)?;
        tree_id = replace_blob(repo, Some(&tree), &parts, blob, &change.path)?;
    }
    if tree_id == base_commit.tree_id() {
        return Ok(NewCommit {
            id: base,
            objects: vec![],
        });
    }
    let tree = repo.find_tree(tree_id)?;
    let sig = Signature::new(
        &meta.identity.name,
        &meta.identity.email,
        &Time::new(meta.time, 0),
    )?;
    let id = match &meta.signing_key {
        None => repo.commit(None, &sig, &sig, &meta.message, &tree, &[&base_commit])?,
        Some(key) => {
            let buffer =
                repo.commit_create_buffer(&sig, &sig, &meta.message, &tree, &[&base_commit])?;
            let content = std::str::from_utf8(&buffer)
                .map_err(|_| GitError::Git(git2::Error::from_str("commit buffer is not UTF-8")))?;
            let signature = key.sign(content.as_bytes(), meta.time)?;
            repo.commit_signed(content, &signature, None)?
        }
    };
    let mut objects = vec![id];
    introduced(repo, &base_commit.tree()?, &tree, changes, &mut objects)?;
    Ok(NewCommit { id, objects })
}

/// Appends the trees and blobs of `new` that differ from `old` along each changed path. Every
/// entry off those paths was copied from `old` by the tree builder, so nothing else is new.
fn introduced(
    repo: &Repository,
    old: &Tree<'_>,
    new: &Tree<'_>,
    changes: &[FileChange],
    out: &mut Vec<Oid>,
) -> Result<(), GitError> {
    let mut push = |id: Oid| {
        if !out.contains(&id) {
            out.push(id);
        }
    };
    push(new.id());
    for change in changes {
        let mut old_dir = Some(old.clone());
        let mut new_dir = new.clone();
        for name in check_path(&change.path)? {
            let Some((id, is_tree)) = new_dir
                .get_name(name)
                .map(|e| (e.id(), e.kind() == Some(ObjectType::Tree)))
            else {
                break;
            };
            let old_entry = old_dir.as_ref().and_then(|t| {
                t.get_name(name)
                    .map(|e| (e.id(), e.kind() == Some(ObjectType::Tree)))
            });
            if old_entry.map(|(old_id, _)| old_id) == Some(id) {
                break; // Shared with the base from here down.
            }
            push(id);
            if !is_tree {
                break;
            }
            old_dir = match old_entry {
                Some((old_id, true)) => Some(repo.find_tree(old_id)?),
                _ => None,
            };
            new_dir = repo.find_tree(id)?;
        }
    }
    Ok(())
}

/// Rewrites the trees along `parts` so that the last part is `blob`; returns the new root tree.
fn replace_blob(
    repo: &Repository,
    tree: Option<&Tree<'_>>,
    parts: &[&str],
    blob: Oid,
    full: &str,
) -> Result<Oid, GitError> {
    let mut builder = repo.treebuilder(tree)?;
    let (name, rest) = parts.split_first().ok_or_else(|| GitError::PathEscape {
        path: full.to_owned(),
        reason: "empty path".into(),
    })?;
    let existing = tree.and_then(|t| t.get_name(name));
    if let Some(entry) = &existing
        && entry.filemode() == MODE_LINK
    {
        return Err(GitError::PathEscape {
            path: full.to_owned(),
            reason: format!("{name} is a symbolic link"),
        });
    }
    if rest.is_empty() {
        // Keep an executable bit if the file had one.
        let mode = existing
            .map(|e| e.filemode())
            .filter(|m| *m == 0o100755)
            .unwrap_or(MODE_BLOB);
        builder.insert(name, blob, mode)?;
    } else {
        let sub = match existing {
            Some(e) if e.kind() == Some(ObjectType::Tree) => Some(repo.find_tree(e.id())?),
            Some(_) => {
                return Err(GitError::PathEscape {
                    path: full.to_owned(),
                    reason: format!("{name} is a file, not a directory"),
                });
            }
            None => None,
        };
        let new = replace_blob(repo, sub.as_ref(), rest, blob, full)?;
        builder.insert(name, new, MODE_TREE)?;
    }
    Ok(builder.write()?)
}

/// One promoted image, for the commit message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PromotedDigest {
    /// Kustomize image name.
    pub name: String,
    /// The verified digest written to the target overlay.
    pub digest: String,
}

/// The promotion commit message: a short title, one sentence, and machine-readable trailers
/// (`Sealift-Promotion`, one `Sealift-Image: name@digest` per image, `Sealift-Policy`).
pub fn commit_message(
    promotion: &str,
    from: &str,
    to: &str,
    images: &[PromotedDigest],
    policy: &str,
) -> String {
    let title = match images {
        [one] => format!("Promote {} to {to}", one.name),
        many => format!("Promote {} images to {to}", many.len()),
    };
    let mut msg = format!(
        "{title}\n\nCopies the digests that {from} runs, verified by Sealift against {policy}.\n\n\
         Sealift-Promotion: {promotion}\n"
    );
    for image in images {
        msg.push_str(&format!("Sealift-Image: {}@{}\n", image.name, image.digest));
    }
    msg.push_str(&format!("Sealift-Policy: {policy}\n"));
    msg
}
