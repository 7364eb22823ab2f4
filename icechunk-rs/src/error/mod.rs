//! One error type for the engine; `kind()` is what bindings map to their exception classes.

mod conflict;
mod rearrange;

pub use conflict::Conflict;
pub use rearrange::RearrangeError;

use crate::ids::{InvalidId, SnapshotId};

pub type Result<T, E = IcechunkError> = std::result::Result<T, E>;

/// The families of errors, stable for bindings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    RepositoryNotFound,
    RefNotFound,
    SnapshotNotFound,
    NodeNotFound,
    AlreadyExists,
    Conflict,
    /// A rebase found conflicts its solver did not settle.
    RebaseFailed,
    ReadOnly,
    InvalidInput,
    SessionState,
    Storage,
    Format,
    NotAncestor,
}

#[derive(Debug, thiserror::Error)]
pub enum IcechunkError {
    #[error("no repository at {location}: create one with Repository.create")]
    RepositoryNotFound { location: String },
    #[error("a repository already exists at {location}")]
    RepositoryAlreadyExists { location: String },
    #[error("the location {location} is not empty; create a repository in an empty location")]
    LocationNotEmpty { location: String },
    #[error("{kind} `{name}` not found")]
    RefNotFound { kind: &'static str, name: String },
    #[error("snapshot {id} not found")]
    SnapshotNotFound { id: String },
    #[error("node `{path}` not found")]
    NodeNotFound { path: String },
    #[error("key `{key}` not found")]
    KeyNotFound { key: String },
    #[error("{kind} `{name}` already exists")]
    RefAlreadyExists { kind: &'static str, name: String },
    #[error(
        "branch `{branch}` moved: this session is based on {} but the tip is now {}; \
         rebase or start a new session from the tip",
        fmt_opt(expected_parent),
        fmt_opt(actual_parent)
    )]
    Conflict { branch: String, expected_parent: Option<SnapshotId>, actual_parent: Option<SnapshotId> },
    #[error(
        "rebase onto {snapshot} failed with {} unsolved conflict(s): {}",
        conflicts.len(),
        conflicts.iter().take(20).map(|c| c.to_string()).collect::<Vec<_>>().join("; ")
    )]
    RebaseFailed { snapshot: SnapshotId, conflicts: Vec<Conflict> },
    #[error("cannot merge the forks: {}", conflicts.join("; "))]
    MergeConflict { conflicts: Vec<String> },
    #[error("the session is read-only: {0}")]
    ReadOnly(String),
    /// The repository's status is read-only (see `repo_info`).
    #[error("{0}")]
    RepositoryReadOnly(String),
    #[error("could not update {what} in {attempts} attempts: other writers kept changing it")]
    UpdateAttemptsExhausted { what: &'static str, attempts: u32 },
    #[error("invalid ref name `{name}`: {reason}")]
    InvalidRefName { name: String, reason: &'static str },
    #[error("invalid key `{key}`: {reason}")]
    InvalidKey { key: String, reason: String },
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("{0}")]
    SessionState(String),
    /// A move refused, or a write refused in a rearrange session.
    #[error("{0}")]
    Rearrange(#[from] RearrangeError),
    #[error("object `{path}` is corrupt: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("object `{path}` has an unsupported format: {reason}")]
    UnsupportedFormat { path: String, reason: String },
    #[error("snapshot {from} is not an ancestor of {to}")]
    NotAncestor { from: String, to: String },
    #[error("storage error: {0}")]
    Storage(#[from] object_store::Error),
    #[error("storage error: {0}")]
    StorageOther(String),
    #[error("the storage at {location} is read-only: it cannot be written to")]
    ReadOnlyStorage { location: String },
    #[error("refusing the object store at {location}: {reason}")]
    UnsafeStorage { location: String, reason: String },
    #[error(
        "the virtual chunk at {location} is in the container `{prefix}`, which this repository \
         was not authorized to read: pass authorize_virtual_chunk_access={{\"{prefix}\": \
         <credentials>}} when opening the repository"
    )]
    VirtualChunkUnauthorized { prefix: String, location: String },
    #[error(
        "no virtual chunk container holds the location {location}: add one for it to the \
         repository's config (set_virtual_chunk_container)"
    )]
    NoContainerForVirtualChunk { location: String },
    #[error("invalid virtual chunk location `{location}`: {reason}")]
    InvalidVirtualRef { location: String, reason: String },
    #[error("the object holding the virtual chunk at {location} changed since the reference was written")]
    VirtualChunkModified { location: String },
    #[error("cannot fetch the virtual chunk at {location}: {reason}")]
    VirtualChunkFetch { location: String, reason: String },
    #[error(
        "the object at {location} is too short for the virtual chunk: expected {expected} bytes, \
         {available} available"
    )]
    VirtualChunkTooShort { location: String, expected: u64, available: u64 },
}

impl From<InvalidId> for IcechunkError {
    fn from(e: InvalidId) -> Self {
        IcechunkError::InvalidInput(e.to_string())
    }
}

fn fmt_opt(id: &Option<SnapshotId>) -> String {
    id.as_ref().map_or_else(|| "no snapshot".to_string(), |id| id.to_string())
}

impl IcechunkError {
    /// A virtual chunk's read error naming the chunk too (`key`), not only its source.
    pub fn for_virtual_chunk(self, key: &str) -> Self {
        use IcechunkError::*;
        let named = |location: String| format!("{location} (chunk `{key}`)");
        match self {
            VirtualChunkUnauthorized { prefix, location } => {
                VirtualChunkUnauthorized { prefix, location: named(location) }
            }
            NoContainerForVirtualChunk { location } => {
                NoContainerForVirtualChunk { location: named(location) }
            }
            VirtualChunkModified { location } => VirtualChunkModified { location: named(location) },
            VirtualChunkFetch { location, reason } => VirtualChunkFetch { location: named(location), reason },
            VirtualChunkTooShort { location, expected, available } => {
                VirtualChunkTooShort { location: named(location), expected, available }
            }
            other => other,
        }
    }

    pub fn kind(&self) -> ErrorKind {
        use IcechunkError::*;
        match self {
            RepositoryNotFound { .. } => ErrorKind::RepositoryNotFound,
            RepositoryAlreadyExists { .. } | LocationNotEmpty { .. } | RefAlreadyExists { .. } => {
                ErrorKind::AlreadyExists
            }
            RefNotFound { .. } => ErrorKind::RefNotFound,
            SnapshotNotFound { .. } => ErrorKind::SnapshotNotFound,
            NodeNotFound { .. } | KeyNotFound { .. } => ErrorKind::NodeNotFound,
            Conflict { .. } => ErrorKind::Conflict,
            RebaseFailed { .. } => ErrorKind::RebaseFailed,
            MergeConflict { .. } | UpdateAttemptsExhausted { .. } => ErrorKind::Conflict,
            ReadOnly(_) | ReadOnlyStorage { .. } | RepositoryReadOnly(_) => ErrorKind::ReadOnly,
            InvalidRefName { .. } | InvalidKey { .. } | InvalidInput(_) => ErrorKind::InvalidInput,
            SessionState(_) => ErrorKind::SessionState,
            Rearrange(e) => e.kind(),
            Corrupt { .. } | UnsupportedFormat { .. } => ErrorKind::Format,
            NotAncestor { .. } => ErrorKind::NotAncestor,
            Storage(_) | StorageOther(_) | UnsafeStorage { .. } => ErrorKind::Storage,
            VirtualChunkUnauthorized { .. }
            | NoContainerForVirtualChunk { .. }
            | InvalidVirtualRef { .. } => ErrorKind::InvalidInput,
            VirtualChunkModified { .. } | VirtualChunkFetch { .. } | VirtualChunkTooShort { .. } => {
                ErrorKind::Storage
            }
        }
    }

    pub(crate) fn corrupt(path: impl Into<String>, reason: impl Into<String>) -> Self {
        IcechunkError::Corrupt { path: path.into(), reason: reason.into() }
    }

    pub(crate) fn invalid_key(key: &str, reason: impl Into<String>) -> Self {
        IcechunkError::InvalidKey { key: key.to_string(), reason: reason.into() }
    }
}
