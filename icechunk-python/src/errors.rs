//! Core errors to Python exceptions.
//!
//! The exception classes live in the pure-Python module `icechunk.errors` (so that
//! `NotFoundError` can also be a `KeyError` and `InvalidInputError` a `ValueError`);
//! `import_exception!` gives Rust types that look them up lazily, so a `PyErr` can be
//! built on a runtime thread without holding the GIL.
//!
//! The class follows the error's family ([`ErrorKind`]); the exception's `kind` attribute is
//! the finer, stable code of Icechunk 2.x's `ErrorKind` ([`kind_code`]).

use icechunk::error::{ErrorKind, IcechunkError as CoreError};
use pyo3::prelude::*;

pyo3::import_exception!(icechunk.errors, IcechunkError);
pyo3::import_exception!(icechunk.errors, ConflictError);
pyo3::import_exception!(icechunk.errors, RebaseFailedError);
pyo3::import_exception!(icechunk.errors, NotFoundError);
pyo3::import_exception!(icechunk.errors, RepositoryNotFoundError);
pyo3::import_exception!(icechunk.errors, RefNotFoundError);
pyo3::import_exception!(icechunk.errors, SnapshotNotFoundError);
pyo3::import_exception!(icechunk.errors, NodeNotFoundError);
pyo3::import_exception!(icechunk.errors, AlreadyExistsError);
pyo3::import_exception!(icechunk.errors, ReadOnlyError);
pyo3::import_exception!(icechunk.errors, InvalidInputError);
pyo3::import_exception!(icechunk.errors, SessionStateError);
pyo3::import_exception!(icechunk.errors, StorageError);
pyo3::import_exception!(icechunk.errors, FormatError);
pyo3::import_exception!(icechunk.errors, InternalError);

/// The `ErrorKind` code (`icechunk.ErrorKind`) of a core error.
pub fn kind_code(err: &CoreError) -> &'static str {
    use CoreError::*;
    match err {
        RepositoryNotFound { .. } => "repository-not-found",
        // Icechunk 2.x refuses a repository where objects exist already with this code.
        RepositoryAlreadyExists { .. } | LocationNotEmpty { .. } => "parent-directory-not-clean",
        RefNotFound { .. } => "ref-not-found",
        SnapshotNotFound { .. } => "snapshot-not-found",
        NodeNotFound { .. } => "node-not-found",
        KeyNotFound { .. } => "key-not-found",
        RefAlreadyExists { kind, .. } => match *kind {
            "tag" => "tag-already-exists",
            _ => "branch-already-exists",
        },
        Conflict { .. } => "commit-conflict",
        RebaseFailed { .. } => "rebase-failed",
        MergeConflict { .. } => "merge-failed",
        ReadOnly(_) => "read-only-session",
        RepositoryReadOnly(_) => "read-only-repository",
        UpdateAttemptsExhausted { .. } => "update-attempts-exhausted",
        ReadOnlyStorage { .. } => "read-only-storage",
        InvalidRefName { .. } => "invalid-ref-name",
        InvalidKey { .. } => "invalid-key",
        InvalidInput(message) => invalid_input_code(message),
        SessionState(message) => session_state_code(message),
        Rearrange(e) => e.code(),
        Corrupt { .. } => "invalid-file-format",
        UnsupportedFormat { .. } => "unsupported-spec-version",
        NotAncestor { .. } => "bad-snapshot-chain-for-diff",
        Storage(e) => match e {
            object_store::Error::NotFound { .. } => "object-not-found",
            object_store::Error::NotSupported { .. } | object_store::Error::NotImplemented { .. } => {
                "storage-config"
            }
            _ => "object-store",
        },
        StorageOther(_) => "storage-other",
        UnsafeStorage { .. } => "storage-config",
        VirtualChunkUnauthorized { .. } => "unauthorized-virtual-chunk-container",
        NoContainerForVirtualChunk { .. } => "no-container-for-virtual-chunk",
        InvalidVirtualRef { .. } => "invalid-virtual-ref",
        VirtualChunkModified { .. } => "virtual-chunk-modified",
        VirtualChunkFetch { .. } => "virtual-chunk-fetch",
        VirtualChunkTooShort { .. } => "invalid-object-size",
    }
}

/// Bad arguments: the code of the few kinds Icechunk 2.x names, else `invalid-input`.
fn invalid_input_code(message: &str) -> &'static str {
    // First: these messages may quote a user's values.
    if message.starts_with("invalid chunk index") {
        return "invalid-chunk-index";
    }
    const BY_PHRASE: [(&str, &str); 7] = [
        ("not an array", "not-an-array"),
        ("is not a node path", "invalid-path"),
        ("snapshot id", "invalid-snapshot-id"),
        ("byte range", "invalid-byte-range"),
        ("range start", "invalid-byte-range"),
        ("prefix", "bad-prefix"),
        ("credentials", "invalid-credentials"),
    ];
    BY_PHRASE.iter().find(|(phrase, _)| message.contains(phrase)).map_or("invalid-input", |(_, code)| code)
}

/// What a session cannot do now.
fn session_state_code(message: &str) -> &'static str {
    if message.starts_with("no changes to commit") {
        "no-changes-to-commit"
    } else if message.starts_with("a fork cannot commit") || message.contains("already committed") {
        "commit-not-allowed"
    } else if message.starts_with("only a session on a branch") {
        "not-on-branch"
    } else if message.starts_with("cannot merge") {
        "merge-not-allowed"
    } else if message.contains("disabled by a feature flag") {
        "feature-flag-disabled"
    } else if message.starts_with("a writable session cannot be sent") {
        "uncommitted-changes"
    } else {
        "not-allowed"
    }
}

/// The Python exception for a core error: its class by the error's family, its `kind` code.
pub fn to_py_err(err: CoreError) -> PyErr {
    let msg = err.to_string();
    let code = kind_code(&err);
    if let CoreError::Conflict { expected_parent, actual_parent, .. } = &err {
        let expected = expected_parent.as_ref().map(|id| id.to_string());
        let actual = actual_parent.as_ref().map(|id| id.to_string());
        return ConflictError::new_err((expected, actual, msg, code));
    }
    if let CoreError::RebaseFailed { snapshot, conflicts } = &err {
        // (kind, path, chunk coordinates) per conflict; icechunk.errors builds the objects.
        let conflicts: Vec<(String, String, Vec<Vec<u32>>)> = conflicts
            .iter()
            .map(|c| (c.kind().to_string(), c.path().to_string(), c.chunk_coordinates()))
            .collect();
        return RebaseFailedError::new_err((snapshot.to_string(), conflicts));
    }
    let args = (msg, code);
    match err.kind() {
        ErrorKind::RepositoryNotFound => RepositoryNotFoundError::new_err(args),
        ErrorKind::RefNotFound => RefNotFoundError::new_err(args),
        ErrorKind::SnapshotNotFound => SnapshotNotFoundError::new_err(args),
        ErrorKind::NodeNotFound => NodeNotFoundError::new_err(args),
        ErrorKind::AlreadyExists => AlreadyExistsError::new_err(args),
        ErrorKind::Conflict => ConflictError::new_err((None::<String>, None::<String>, args.0, args.1)),
        ErrorKind::RebaseFailed => RebaseFailedError::new_err((String::new(), Vec::<String>::new())),
        ErrorKind::ReadOnly => ReadOnlyError::new_err(args),
        // Asking for a diff or reset between unrelated snapshots is a bad argument.
        ErrorKind::InvalidInput | ErrorKind::NotAncestor => InvalidInputError::new_err(args),
        ErrorKind::SessionState => SessionStateError::new_err(args),
        ErrorKind::Storage => StorageError::new_err(args),
        ErrorKind::Format => FormatError::new_err(args),
    }
}

/// `?`-friendly conversion of core results.
pub trait CoreResultExt<T> {
    fn py(self) -> PyResult<T>;
}

impl<T> CoreResultExt<T> for Result<T, CoreError> {
    fn py(self) -> PyResult<T> {
        self.map_err(to_py_err)
    }
}

/// An argument the core would reject anyway, caught before any I/O.
pub fn invalid_input(msg: impl Into<String>) -> PyErr {
    let msg = msg.into();
    let code = invalid_input_code(&msg);
    InvalidInputError::new_err((msg, code))
}

/// Every `kind` code this binding raises, for `icechunk.ErrorKind`'s consistency test.
#[pyfunction]
pub fn _all_error_kinds() -> Vec<&'static str> {
    vec![
        "repository-not-found",
        "parent-directory-not-clean",
        "ref-not-found",
        "snapshot-not-found",
        "node-not-found",
        "key-not-found",
        "tag-already-exists",
        "branch-already-exists",
        "commit-conflict",
        "rebase-failed",
        "merge-failed",
        "read-only-session",
        "read-only-repository",
        "update-attempts-exhausted",
        "read-only-storage",
        "invalid-ref-name",
        "invalid-key",
        "invalid-snapshot-id",
        "invalid-byte-range",
        "bad-prefix",
        "invalid-credentials",
        "invalid-input",
        "invalid-chunk-index",
        "not-an-array",
        "invalid-path",
        "unknown",
        "no-changes-to-commit",
        "commit-not-allowed",
        "not-on-branch",
        "merge-not-allowed",
        "uncommitted-changes",
        "feature-flag-disabled",
        "not-allowed",
        "invalid-file-format",
        "unsupported-spec-version",
        "bad-snapshot-chain-for-diff",
        "object-not-found",
        "storage-config",
        "object-store",
        "storage-other",
        "non-rearrange-session",
        "rearrange-session-only",
        "move-wont-overwrite",
        "move-destination-parent-missing",
        "move-destination-parent-not-group",
        "move-into-self-or-descendant",
        "unauthorized-virtual-chunk-container",
        "no-container-for-virtual-chunk",
        "invalid-virtual-ref",
        "virtual-chunk-modified",
        "virtual-chunk-fetch",
        "invalid-object-size",
    ]
}
