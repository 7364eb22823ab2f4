//! Core errors to Python exceptions.
//!
//! The exception classes live in the pure-Python module `icechunk.errors` (so that
//! `NotFoundError` can also be a `KeyError` and `InvalidInputError` a `ValueError`);
//! `import_exception!` gives Rust types that look them up lazily, so a `PyErr` can be
//! built on a runtime thread without holding the GIL.

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

/// The Python exception for a core error, chosen by the error's kind.
pub fn to_py_err(err: CoreError) -> PyErr {
    let msg = err.to_string();
    if let CoreError::Conflict { expected_parent, actual_parent, .. } = &err {
        let expected = expected_parent.as_ref().map(|id| id.to_string());
        let actual = actual_parent.as_ref().map(|id| id.to_string());
        return ConflictError::new_err((msg, expected, actual));
    }
    if let CoreError::RebaseFailed { snapshot, conflicts } = &err {
        // (kind, path, chunk coordinates) per conflict; icechunk.errors builds the objects.
        let conflicts: Vec<(String, String, Vec<Vec<u32>>)> = conflicts
            .iter()
            .map(|c| (c.kind().to_string(), c.path().to_string(), c.chunk_coordinates()))
            .collect();
        return RebaseFailedError::new_err((msg, snapshot.to_string(), conflicts));
    }
    match err.kind() {
        ErrorKind::RepositoryNotFound => RepositoryNotFoundError::new_err(msg),
        ErrorKind::RefNotFound => RefNotFoundError::new_err(msg),
        ErrorKind::SnapshotNotFound => SnapshotNotFoundError::new_err(msg),
        ErrorKind::NodeNotFound => NodeNotFoundError::new_err(msg),
        ErrorKind::AlreadyExists => AlreadyExistsError::new_err(msg),
        ErrorKind::Conflict => ConflictError::new_err((msg, None::<String>, None::<String>)),
        ErrorKind::RebaseFailed => RebaseFailedError::new_err((msg, None::<String>, Vec::<String>::new())),
        ErrorKind::ReadOnly => ReadOnlyError::new_err(msg),
        // Asking for a diff or reset between unrelated snapshots is a bad argument.
        ErrorKind::InvalidInput | ErrorKind::NotAncestor => InvalidInputError::new_err(msg),
        ErrorKind::SessionState => SessionStateError::new_err(msg),
        ErrorKind::Storage => StorageError::new_err(msg),
        ErrorKind::Format => FormatError::new_err(msg),
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
    InvalidInputError::new_err(msg.into())
}
