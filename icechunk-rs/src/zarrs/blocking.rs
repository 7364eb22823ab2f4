//! Running the engine's futures from zarrs's sync traits.
//!
//! The engine's I/O and background work need a tokio runtime that keeps running while the
//! caller waits, so a sync call runs its future on a multi-thread runtime:
//! - on a worker thread of one, inside `block_in_place` (the runtime moves the thread's other
//!   tasks elsewhere while it blocks);
//! - on a thread in no runtime (zarrs's rayon workers, a plain `main`), on the runtime the
//!   storage was made with.
//!
//! Inside a current-thread runtime, blocking would stop the only thread that drives the I/O
//! being waited for: refused with a typed error instead of a deadlock or a panic.

use std::future::Future;

use tokio::runtime::{Handle, RuntimeFlavor};

use crate::error::{IcechunkError, Result};

pub(super) fn block_on<F: Future>(runtime: Option<&Handle>, future: F) -> Result<F::Output> {
    match Handle::try_current() {
        Ok(current) => {
            if current.runtime_flavor() != RuntimeFlavor::MultiThread {
                return Err(IcechunkError::SessionState(
                    "zarrs's sync API cannot run inside a current-thread tokio runtime: use its \
                     async API there, or a multi-thread runtime"
                        .into(),
                ));
            }
            let handle = runtime.unwrap_or(&current);
            Ok(tokio::task::block_in_place(|| handle.block_on(future)))
        }
        Err(_) => {
            let handle =
                runtime.filter(|h| h.runtime_flavor() == RuntimeFlavor::MultiThread).ok_or_else(|| {
                    IcechunkError::SessionState(
                        "zarrs's sync API needs a multi-thread tokio runtime: make the ZarrsStore \
                     inside one, or pass its handle to ZarrsStore::with_runtime"
                            .into(),
                    )
                })?;
            Ok(handle.block_on(future))
        }
    }
}
