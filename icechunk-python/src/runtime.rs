//! The tokio runtime behind every call, and its glue to Python's asyncio.
//!
//! Fork safety: a tokio runtime's worker threads do not survive `fork()`. A child that
//! used the parent's runtime would queue work that no thread ever runs, and hang. So the
//! runtime is kept together with the id of the process that built it; a call from a
//! process with another id (a forked child) builds a fresh runtime and leaks the old
//! one (dropping it would wait for threads that do not exist in the child).

use std::cell::OnceCell;
use std::future::Future;
use std::pin::Pin;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::task::{Context, Poll, Waker};

use pyo3::exceptions::PyStopIteration;
use pyo3::prelude::*;
use pyo3::IntoPyObjectExt;
use pyo3_async_runtimes::generic::{ContextExt, Runtime as GenericRuntime};
use pyo3_async_runtimes::TaskLocals;
use tokio::runtime::{Builder, Runtime};

struct PidRuntime {
    pid: u32,
    runtime: Runtime,
}

/// The runtime of the current process; never freed (see the module docs).
static CURRENT: AtomicPtr<PidRuntime> = AtomicPtr::new(null_mut());

/// The tokio runtime of this process, built on first use (and again after a fork).
pub fn runtime() -> &'static Runtime {
    let pid = std::process::id();
    let current = CURRENT.load(Ordering::Acquire);
    // SAFETY: pointers stored in CURRENT come from Box::into_raw and are never freed.
    if let Some(entry) = unsafe { current.as_ref() } {
        if entry.pid == pid {
            return &entry.runtime;
        }
    }
    let runtime = Builder::new_multi_thread()
        .enable_all()
        .thread_name("icechunk-worker")
        .build()
        .expect("cannot start the tokio runtime");
    let fresh = Box::into_raw(Box::new(PidRuntime { pid, runtime }));
    match CURRENT.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
        // The previous entry (if any) belongs to the parent process: leaked on purpose.
        // SAFETY: `fresh` was just stored and is never freed.
        Ok(_) => unsafe { &(*fresh).runtime },
        Err(winner) => {
            // Another thread of this process installed a runtime first: use that one.
            // SAFETY: `fresh` was never shared; `winner` is never freed.
            let ours = unsafe { Box::from_raw(fresh) };
            ours.runtime.shutdown_background();
            unsafe { &(*winner).runtime }
        }
    }
}

/// Run `fut` to completion on the runtime with the GIL released.
pub fn block_on<F>(py: Python<'_>, fut: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    py.detach(|| runtime().block_on(fut))
}

/// Turn a Rust future into a Python awaitable bound to the running asyncio loop.
///
/// Fast path: the future is polled once right here (inside the runtime's context). Most
/// store reads are answered from memory (cached manifests, inline chunks) and finish on
/// that poll; they come back as an already-finished awaitable, without the round trip
/// through a runtime thread and the event loop's wake-up (about 200 us against 2 us).
/// A future that is not finished goes on to the runtime like any other.
pub fn future_into_py<F, T>(py: Python<'_>, fut: F) -> PyResult<Bound<'_, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    let mut fut = Box::pin(fut);
    let first_poll = {
        let _context = runtime().enter();
        fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    };
    match first_poll {
        Poll::Ready(result) => {
            let result = result.and_then(|value| value.into_py_any(py));
            Ok(Bound::new(py, Finished { result: Some(result) })?.into_any())
        }
        Poll::Pending => pyo3_async_runtimes::generic::future_into_py::<IcechunkRuntime, _, T>(py, fut),
    }
}

/// An awaitable whose result is already known: `await` returns it (or raises) at once.
#[pyclass(module = "icechunk._icechunk")]
pub struct Finished {
    result: Option<PyResult<Py<PyAny>>>,
}

#[pymethods]
impl Finished {
    fn __await__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&mut self) -> PyResult<()> {
        match self.result.take() {
            Some(Ok(value)) => Err(PyStopIteration::new_err((value,))),
            Some(Err(err)) => Err(err),
            None => Err(PyStopIteration::new_err(())),
        }
    }
}

/// pyo3-async-runtimes' view of our pid-aware runtime.
pub struct IcechunkRuntime;

tokio::task_local! {
    static TASK_LOCALS: OnceCell<TaskLocals>;
}

impl GenericRuntime for IcechunkRuntime {
    type JoinError = tokio::task::JoinError;
    type JoinHandle = tokio::task::JoinHandle<()>;

    fn spawn<F>(fut: F) -> Self::JoinHandle
    where
        F: Future<Output = ()> + Send + 'static,
    {
        runtime().spawn(fut)
    }

    fn spawn_blocking<F>(f: F) -> Self::JoinHandle
    where
        F: FnOnce() + Send + 'static,
    {
        runtime().spawn_blocking(f)
    }
}

impl ContextExt for IcechunkRuntime {
    fn scope<F, R>(locals: TaskLocals, fut: F) -> Pin<Box<dyn Future<Output = R> + Send>>
    where
        F: Future<Output = R> + Send + 'static,
    {
        let cell = OnceCell::new();
        let _ = cell.set(locals);
        Box::pin(TASK_LOCALS.scope(cell, fut))
    }

    fn get_task_locals() -> Option<TaskLocals> {
        TASK_LOCALS.try_with(|cell| cell.get().cloned()).unwrap_or_default()
    }
}
