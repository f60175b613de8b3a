//! What can go wrong reading or editing a kustomization, in words a user can act on.

use super::scalar::shown;

/// Why an overlay could not be read or edited. Every variant names the file it is about (except
/// the ones about an argument) and carries a stable [`category`](KustomizeError::category) for
/// metric labels and condition reasons.
///
/// None of these is transient: retrying with the same input gives the same error.
#[derive(Debug, thiserror::Error)]
pub enum KustomizeError {
    /// The file is not YAML, or is YAML that kustomize would not accept as a kustomization.
    #[error("{} is not a valid kustomization: {reason}", shown(file))]
    Malformed {
        /// The kustomization file.
        file: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The file is beyond one of the reader's limits (YAML nodes, nesting depth, aliases…),
    /// which bound the memory and time one overlay can take. The file may be valid (kustomize
    /// has no such limits); the message names the limit and its value.
    #[error(
        "{} has more than {max} {what} (the editor's limit){hint}; Sealift does not read or edit \
         it",
        shown(file),
        hint = if hint.is_empty() { String::new() } else { format!("; {hint}") }
    )]
    LimitExceeded {
        /// The kustomization file.
        file: String,
        /// What is counted, e.g. `YAML nodes (scalars, lists and mappings)`.
        what: &'static str,
        /// The limit: the file has more than this many.
        max: usize,
        /// What the limit is for, or what to do about it (may be empty).
        hint: &'static str,
    },

    /// The overlay does not list the image under `images:`.
    #[error("{} does not list image {} under `images:`", shown(file), shown(name))]
    ImageNotListed {
        /// The kustomization file.
        file: String,
        /// The kustomize image name looked for.
        name: String,
    },

    /// The source overlay pins the image only by tag (or not at all). Promotions move digests,
    /// never tags: what was tested is only known by its digest.
    #[error(
        "{}: images[{index}] ({}) is pinned only by {}; Sealift promotes digests, never tags: \
         pin it in the source overlay with `digest: sha256:…`",
        shown(file),
        shown(name),
        match tag { Some(tag) => format!("tag {}", shown(tag)), None => "name (no tag, no digest)".to_owned() }
    )]
    NotPinnedByDigest {
        /// The kustomization file.
        file: String,
        /// The kustomize image name.
        name: String,
        /// Position of the entry in the `images:` list (0-based).
        index: usize,
        /// The `newTag` of the entry, if it has one.
        tag: Option<String>,
    },

    /// The overlay lists the image more than once. kustomize applies the entries one after the
    /// other, so which image runs depends on all of them and `kustomize edit` would collapse them.
    #[error(
        "{} lists image {} more than once (images{indices:?}); kustomize applies such entries one \
         after the other, so the pinned digest is ambiguous: keep one entry",
        shown(file),
        shown(name)
    )]
    DuplicateImage {
        /// The kustomization file.
        file: String,
        /// The kustomize image name.
        name: String,
        /// Positions of the entries in the `images:` list (0-based).
        indices: Vec<usize>,
    },

    /// The digest given to write is not one Sealift promotes.
    #[error(
        "{} is not a digest Sealift promotes: expected `sha256:` followed by 64 lower-case hex \
         digits",
        shown(digest)
    )]
    InvalidDigest {
        /// The rejected value.
        digest: String,
    },

    /// The source overlay pins a digest Sealift does not promote (another algorithm, upper-case,
    /// truncated…).
    #[error(
        "{}: images[{index}] ({}) pins {}, which is not a digest Sealift promotes: expected \
         `sha256:` followed by 64 lower-case hex digits",
        shown(file),
        shown(name),
        shown(digest)
    )]
    InvalidPinnedDigest {
        /// The kustomization file.
        file: String,
        /// The kustomize image name.
        name: String,
        /// Position of the entry in the `images:` list (0-based).
        index: usize,
        /// The pinned value.
        digest: String,
    },

    /// An image name or new name given as an argument is not a plausible image name.
    #[error("{} is not a valid image {what}: {reason}", shown(value))]
    InvalidImageName {
        /// `name` or `new name`.
        what: &'static str,
        /// The rejected value.
        value: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The file is valid, but the edit would have to go through a construct that cannot be
    /// changed safely without rewriting more than the promoted entry (an anchor or alias, a tag,
    /// a merge key, a multi-line layout the editor does not handle).
    #[error("refusing to edit {}: {reason}", shown(file))]
    Unsupported {
        /// The kustomization file.
        file: String,
        /// What the editor refused to touch and why.
        reason: String,
    },

    /// The edited text did not mean what kustomize's `edit set image` means, or changed something
    /// else: nothing is written. This is a bug in Sealift's editor; the input is kept intact.
    #[error(
        "refusing to write {}: the edited text failed the self-check ({reason}); this is a bug in \
         Sealift, please report it together with the file",
        shown(file)
    )]
    SelfCheckFailed {
        /// The kustomization file.
        file: String,
        /// Which check failed.
        reason: String,
    },

    /// A directory holds more than one of the file names kustomize accepts; kustomize refuses it.
    #[error("{} holds several kustomization files ({}); kustomize refuses such an overlay", shown(dir), names.join(", "))]
    MultipleFiles {
        /// The overlay directory.
        dir: String,
        /// The kustomization file names found.
        names: Vec<&'static str>,
    },

    /// A directory holds none of the file names kustomize accepts.
    #[error(
        "{} is not a kustomize overlay: none of kustomization.yaml, kustomization.yml, \
         Kustomization is there",
        shown(dir)
    )]
    NotFound {
        /// The overlay directory.
        dir: String,
    },
}

impl KustomizeError {
    /// A stable CamelCase name for the kind of error, usable as a metric label value and as a
    /// Kubernetes condition reason. The set of values is closed and never contains user input.
    pub fn category(&self) -> &'static str {
        match self {
            Self::Malformed { .. } => "MalformedKustomization",
            Self::LimitExceeded { .. } => "KustomizationLimitExceeded",
            Self::ImageNotListed { .. } => "ImageNotInOverlay",
            Self::NotPinnedByDigest { .. } => "ImageNotPinnedByDigest",
            Self::DuplicateImage { .. } => "DuplicateImageInOverlay",
            Self::InvalidDigest { .. } => "InvalidDigest",
            Self::InvalidPinnedDigest { .. } => "InvalidPinnedDigest",
            Self::InvalidImageName { .. } => "InvalidImageName",
            Self::Unsupported { .. } => "UnsupportedKustomizationLayout",
            Self::SelfCheckFailed { .. } => "KustomizationEditSelfCheckFailed",
            Self::MultipleFiles { .. } => "MultipleKustomizationFiles",
            Self::NotFound { .. } => "KustomizationNotFound",
        }
    }

    pub(crate) fn malformed(file: &str, reason: impl Into<String>) -> Self {
        Self::Malformed {
            file: file.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn unsupported(file: &str, reason: impl Into<String>) -> Self {
        Self::Unsupported {
            file: file.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn self_check(file: &str, reason: impl Into<String>) -> Self {
        Self::SelfCheckFailed {
            file: file.to_owned(),
            reason: reason.into(),
        }
    }
}
