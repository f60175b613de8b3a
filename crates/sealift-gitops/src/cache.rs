//! One persistent bare clone per repository URL, fetched incrementally (base branch only).
//!
//! Promotions of the same repository share the clone. An exclusive file lock (`flock`, via
//! `std::fs::File::lock`) serialises every use of one clone, across threads and processes alike.
//! A clone libgit2 cannot open or read is deleted and rebuilt once, automatically.

use crate::credentials::GitCredentials;
use crate::error::GitError;
use crate::remote::{Remote, classify};
use git2::{Oid, Repository};
use sha2::{Digest, Sha256};
use std::fs::{self, File};
use std::path::{Path, PathBuf};

/// The directory holding every cached clone.
#[derive(Clone, Debug)]
pub struct RepoCache {
    root: PathBuf,
}

/// A locked, ready-to-use cached clone. The lock is released on drop.
pub struct CachedRepo {
    pub(crate) repo: Repository,
    pub(crate) url: String,
    path: PathBuf,
    _lock: File,
}

impl std::fmt::Debug for CachedRepo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedRepo")
            .field("url", &self.url)
            .field("path", &self.path)
            .finish()
    }
}

impl RepoCache {
    /// A cache rooted at `root` (created when missing).
    pub fn new(root: impl Into<PathBuf>) -> RepoCache {
        RepoCache { root: root.into() }
    }

    /// The directory of the clone of `url`: a readable name plus a hash of the whole URL, so two
    /// URLs never share a clone and the name says which repository it is.
    pub fn dir_for(&self, url: &str) -> PathBuf {
        let hash = hex::encode(Sha256::digest(url.as_bytes()));
        let tail: String = url
            .trim_end_matches('/')
            .trim_end_matches(".git")
            .rsplit(['/', ':'])
            .next()
            .unwrap_or("repo")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .take(40)
            .collect();
        self.root.join(format!("{tail}-{}.git", &hash[..16]))
    }

    /// Opens (creating when missing, rebuilding when corrupt) and locks the clone of `url`.
    /// Blocks while another promotion of the same repository holds it.
    pub fn open(&self, url: &str) -> Result<CachedRepo, GitError> {
        let path = self.dir_for(url);
        let cache_err = |message: String| GitError::Cache {
            path: path.display().to_string(),
            message,
        };
        fs::create_dir_all(&self.root).map_err(|e| cache_err(e.to_string()))?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.with_extension("lock"))
            .map_err(|e| cache_err(format!("lock file: {e}")))?;
        lock.lock().map_err(|e| cache_err(format!("lock: {e}")))?;
        let repo = match open_checked(&path) {
            Ok(repo) => repo,
            Err(reason) => {
                if path.exists() {
                    tracing::warn!(path = %path.display(), %reason, "rebuilding corrupt repository cache");
                    fs::remove_dir_all(&path).map_err(|e| cache_err(e.to_string()))?;
                }
                Repository::init_bare(&path).map_err(|e| cache_err(e.message().to_owned()))?
            }
        };
        Ok(CachedRepo {
            repo,
            url: url.to_owned(),
            path,
            _lock: lock,
        })
    }
}

/// Opens a bare clone and checks that its object database answers.
fn open_checked(path: &Path) -> Result<Repository, String> {
    if !path.exists() {
        return Err("missing".into());
    }
    let repo = Repository::open_bare(path).map_err(|e| e.message().to_owned())?;
    repo.odb().map_err(|e| e.message().to_owned())?;
    // Every ref must point at a readable commit; a truncated object store fails here.
    let refs: Vec<(String, Option<Oid>)> = repo
        .references()
        .map_err(|e| e.message().to_owned())?
        .flatten()
        .map(|r| (r.name().unwrap_or_default().to_owned(), r.target()))
        .collect();
    for (name, target) in refs {
        if let Some(oid) = target {
            repo.find_commit(oid)
                .map_err(|e| format!("{name}: {}", e.message()))?;
        }
    }
    Ok(repo)
}

impl CachedRepo {
    /// Where the clone lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying repository (for inspection).
    pub fn repository(&self) -> &Repository {
        &self.repo
    }

    /// The head of `branch` the cache last saw on the server (fetched or pushed), if any.
    pub(crate) fn known_base(&self, branch: &str) -> Option<Oid> {
        self.repo
            .refname_to_id(&format!("refs/sealift/base/{branch}"))
            .ok()
    }

    /// Records that the server's `branch` is now `head` (after a push to it), as a fetch would.
    pub(crate) fn remember_base(&self, branch: &str, head: Oid) {
        let refname = format!("refs/sealift/base/{branch}");
        if let Err(e) = self
            .repo
            .reference(&refname, head, true, "sealift: pushed to the base")
        {
            // Only an optimisation: the next promotion fetches instead.
            tracing::warn!(%refname, error = %e, "could not record the pushed base");
        }
    }

    /// Whether the cache holds the commit `sha` (full hex id).
    pub fn has_commit(&self, sha: &str) -> bool {
        git2::Oid::from_str(sha).is_ok_and(|oid| self.repo.find_commit(oid).is_ok())
    }

    /// Fetches `branch` from the server and returns its head. Only that branch is fetched, into
    /// `refs/sealift/base/<branch>`; objects already in the cache are not transferred again.
    pub fn fetch_branch(&mut self, branch: &str, creds: &GitCredentials) -> Result<Oid, GitError> {
        let local = format!("refs/sealift/base/{branch}");
        let refspec = format!("+refs/heads/{branch}:{local}");
        let result = Remote::new(&self.url, creds).fetch(&self.repo, &refspec);
        match result {
            Ok(()) => {}
            Err(e) if is_corruption(&e) => {
                // A damaged object store surfaces during fetch: rebuild once and fetch again.
                tracing::warn!(path = %self.path.display(), error = ?e, "rebuilding repository cache");
                let path = self.path.clone();
                fs::remove_dir_all(&path).map_err(|e| GitError::Cache {
                    path: path.display().to_string(),
                    message: e.to_string(),
                })?;
                self.repo = Repository::init_bare(&path)?;
                Remote::new(&self.url, creds)
                    .fetch(&self.repo, &refspec)
                    .map_err(|e| classify(&self.url, e, Some(branch)))?;
            }
            Err(e) => return Err(classify(&self.url, e, Some(branch))),
        }
        let oid = self
            .repo
            .refname_to_id(&local)
            .map_err(|_| GitError::BranchNotFound {
                url: self.url.clone(),
                branch: branch.to_owned(),
            })?;
        Ok(oid)
    }
}

fn is_corruption(e: &crate::remote::RemoteError) -> bool {
    use git2::ErrorClass::*;
    match e {
        crate::remote::RemoteError::Git(g) => {
            matches!(
                g.class(),
                Odb | Object | Repository | Index | Zlib | Reference
            )
        }
        _ => false,
    }
}
