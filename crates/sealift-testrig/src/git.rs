//! Direct manipulation of bare repositories for test set-up and inspection (no network).

use anyhow::{Context, Result};
use git2::{Index, IndexEntry, IndexTime, Oid, Repository, Signature};
use std::path::Path;

/// Commits `files` (path, content) on top of `branch` in the bare repository at `repo_path`,
/// creating the branch when it does not exist. Returns the new commit id.
pub fn commit_files(
    repo_path: &Path,
    branch: &str,
    files: &[(&str, &[u8])],
    message: &str,
) -> Result<Oid> {
    let repo = Repository::open_bare(repo_path)
        .with_context(|| format!("opening {}", repo_path.display()))?;
    let refname = format!("refs/heads/{branch}");
    let parent = match repo.find_reference(&refname) {
        Ok(r) => Some(r.peel_to_commit()?),
        Err(e) if e.code() == git2::ErrorCode::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let mut index = Index::new()?;
    if let Some(parent) = &parent {
        index.read_tree(&parent.tree()?)?;
    }
    for (path, content) in files {
        let blob = repo.blob(content)?;
        index.add(&IndexEntry {
            ctime: IndexTime::new(0, 0),
            mtime: IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode: 0o100644,
            uid: 0,
            gid: 0,
            file_size: u32::try_from(content.len()).unwrap_or(u32::MAX),
            id: blob,
            flags: u16::try_from(path.len().min(0xfff)).unwrap_or(0xfff),
            flags_extended: 0,
            path: path.as_bytes().to_vec(),
        })?;
    }
    let tree = repo.find_tree(index.write_tree_to(&repo)?)?;
    let sig = Signature::now("Sealift Test", "test@sealift.dev")?;
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    Ok(repo.commit(Some(&refname), &sig, &sig, message, &tree, &parents)?)
}

/// The commit `branch` points at, if the branch exists.
pub fn branch_head(repo_path: &Path, branch: &str) -> Result<Option<Oid>> {
    let repo = Repository::open_bare(repo_path)?;
    match repo.find_reference(&format!("refs/heads/{branch}")) {
        Ok(r) => Ok(Some(r.peel_to_commit()?.id())),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The content of `path` at the head of `branch`, if both exist.
pub fn read_file(repo_path: &Path, branch: &str, path: &str) -> Result<Option<Vec<u8>>> {
    let repo = Repository::open_bare(repo_path)?;
    let Some(head) = branch_head(repo_path, branch)? else {
        return Ok(None);
    };
    let tree = repo.find_commit(head)?.tree()?;
    match tree.get_path(Path::new(path)) {
        Ok(entry) => Ok(Some(repo.find_blob(entry.id())?.content().to_vec())),
        Err(e) if e.code() == git2::ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}
