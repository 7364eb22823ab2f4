//! The engine's two concurrency patterns, each written once: taking a lock that a panicking
//! thread may have poisoned, and finding the runtime that background tasks run on.

use std::sync::{Mutex, MutexGuard};

use crate::error::{IcechunkError, Result};

/// Locks `mutex`, also when another thread panicked while holding it. Every lock of the
/// engine guards data that stays consistent between statements (no invariant spans a panic
/// point), so the data of a poisoned lock is still good.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The tokio runtime running the caller: background work (chunk uploads, hint writes,
/// prefetches) is spawned there. The engine's I/O (`object_store`) needs tokio anyway; called
/// from anywhere else this is a clear error, never a panic or a silent change of behaviour.
pub(crate) fn current_runtime() -> Result<tokio::runtime::Handle> {
    tokio::runtime::Handle::try_current().map_err(|_| {
        IcechunkError::SessionState("the engine runs on tokio: call it from inside a tokio runtime".into())
    })
}
