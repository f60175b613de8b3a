//! The bare repository behind a stand-in (the one the rig's git server serves): branch tips and
//! real merges with libgit2, so a "merged" pull request has a real merge commit on its base branch.

use git2::{ErrorCode, Oid, Repository, Signature, Time};
use std::fmt;
use std::path::Path;

/// How to merge, as GitHub's `merge_method`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MergeMethod {
    /// A merge commit with two parents: the base tip and the head tip.
    #[default]
    Merge,
    /// One commit on the base tip with the merged tree.
    Squash,
}

/// What to merge.
#[derive(Clone, Debug)]
pub struct MergeSpec<'a> {
    /// The branch that receives the merge.
    pub base: &'a str,
    /// The branch merged in.
    pub head: &'a str,
    /// When set, the head tip must be this commit (GitHub's `sha` parameter).
    pub expected_head: Option<&'a str>,
    /// Merge commit or squash.
    pub method: MergeMethod,
    /// The commit message.
    pub message: &'a str,
    /// Author and committer name.
    pub author: &'a str,
    /// Author and committer email.
    pub email: &'a str,
    /// Commit time, Unix seconds.
    pub when: i64,
}

/// Why a merge did not happen.
#[derive(Debug)]
pub enum MergeFailure {
    /// The named branch does not exist.
    BranchMissing(String),
    /// The head tip is not the expected commit.
    HeadModified,
    /// The base branch moved while merging.
    BaseModified,
    /// Both sides changed these paths.
    Conflict(Vec<String>),
    /// libgit2 failed.
    Git(git2::Error),
}

impl fmt::Display for MergeFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BranchMissing(b) => write!(f, "branch {b} does not exist"),
            Self::HeadModified => f.write_str("head branch was modified"),
            Self::BaseModified => f.write_str("base branch was modified"),
            Self::Conflict(paths) => write!(f, "merge conflict in {}", paths.join(", ")),
            Self::Git(e) => write!(f, "git: {e}"),
        }
    }
}

impl std::error::Error for MergeFailure {}

impl From<git2::Error> for MergeFailure {
    fn from(e: git2::Error) -> Self {
        Self::Git(e)
    }
}

/// The commit `branch` points at, `None` when the branch does not exist.
pub fn branch_tip(repo: &Path, branch: &str) -> Result<Option<String>, git2::Error> {
    let repo = Repository::open_bare(repo)?;
    Ok(tip(&repo, branch)?.map(|c| c.id().to_string()))
}

fn tip<'r>(repo: &'r Repository, branch: &str) -> Result<Option<git2::Commit<'r>>, git2::Error> {
    match repo.find_reference(&format!("refs/heads/{branch}")) {
        Ok(r) => Ok(Some(r.peel_to_commit()?)),
        Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

fn tips<'r>(
    repo: &'r Repository,
    base: &str,
    head: &str,
) -> Result<(git2::Commit<'r>, git2::Commit<'r>), MergeFailure> {
    let base_tip = tip(repo, base)?.ok_or_else(|| MergeFailure::BranchMissing(base.into()))?;
    let head_tip = tip(repo, head)?.ok_or_else(|| MergeFailure::BranchMissing(head.into()))?;
    Ok((base_tip, head_tip))
}

/// Whether `head` has commits `base` does not (GitHub refuses a pull request without any).
pub fn has_commits_beyond(repo: &Path, base: &str, head: &str) -> Result<bool, MergeFailure> {
    let repo = Repository::open_bare(repo)?;
    let (base_tip, head_tip) = tips(&repo, base, head)?;
    Ok(
        base_tip.id() != head_tip.id()
            && !repo.graph_descendant_of(base_tip.id(), head_tip.id())?,
    )
}

/// Whether merging `head` into `base` would succeed without conflicts.
pub fn mergeable(repo: &Path, base: &str, head: &str) -> Result<bool, MergeFailure> {
    let repo = Repository::open_bare(repo)?;
    let (base_tip, head_tip) = tips(&repo, base, head)?;
    Ok(!repo
        .merge_commits(&base_tip, &head_tip, None)?
        .has_conflicts())
}

/// Merges as GitHub does on the server: a new commit on the base tip (two parents for
/// [`MergeMethod::Merge`]), then the base ref moves — only if nobody pushed to it meanwhile.
/// Returns the new commit and the head tip that was merged.
pub fn merge(repo: &Path, spec: &MergeSpec<'_>) -> Result<(String, String), MergeFailure> {
    let repo = Repository::open_bare(repo)?;
    let (base_tip, head_tip) = tips(&repo, spec.base, spec.head)?;
    if spec
        .expected_head
        .is_some_and(|sha| !head_tip.id().to_string().eq_ignore_ascii_case(sha))
    {
        return Err(MergeFailure::HeadModified);
    }
    let mut index = repo.merge_commits(&base_tip, &head_tip, None)?;
    if index.has_conflicts() {
        let paths = index
            .conflicts()?
            .filter_map(Result::ok)
            .filter_map(|c| c.our.or(c.their).or(c.ancestor))
            .map(|entry| String::from_utf8_lossy(&entry.path).into_owned())
            .collect();
        return Err(MergeFailure::Conflict(paths));
    }
    let tree = repo.find_tree(index.write_tree_to(&repo)?)?;
    let signature = Signature::new(spec.author, spec.email, &Time::new(spec.when, 0))?;
    let parents = match spec.method {
        MergeMethod::Merge => vec![&base_tip, &head_tip],
        MergeMethod::Squash => vec![&base_tip],
    };
    let commit: Oid = repo.commit(None, &signature, &signature, spec.message, &tree, &parents)?;
    let refname = format!("refs/heads/{}", spec.base);
    let log = format!("merge {}: {}", spec.head, spec.message);
    match repo.reference_matching(&refname, commit, true, base_tip.id(), &log) {
        Ok(_) => Ok((commit.to_string(), head_tip.id().to_string())),
        Err(e) if matches!(e.code(), ErrorCode::Modified | ErrorCode::Locked) => {
            Err(MergeFailure::BaseModified)
        }
        Err(e) => Err(e.into()),
    }
}
