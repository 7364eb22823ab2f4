//! The tokio runtime behind every call, and its glue to Python's asyncio.
//!
//! Fork safety: a tokio runtime's worker threads do not survive `fork()`. A child that
//! used the parent's runtime would queue work that no thread ever runs, and hang. So the
//! runtime is kept together with the id of the process that built it; a call from a
//! process with another id (a forked child) builds a fresh runtime and leaks the old
//! one (dropping it would wait for threads that do not exist in the child).
//!
//! Exit safety: an awaitable handed to Python is finished by a runtime thread, which
//! attaches to the interpreter to schedule the result on the asyncio loop. Futures that
//! nobody awaits any more (a zarr read that raised while its sibling chunk reads were in
//! flight, a read cancelled by `asyncio.wait_for`) still finish, possibly while Python is
//! shutting down. On CPython up to 3.12 a foreign thread that takes the GIL once
//! finalization has begun is ended with `pthread_exit`, whose unwinding runs Rust
//! destructors (reference decrements, `PyGILState_Release`) without the GIL, against the
//! final garbage collection: a segfault or an abort at exit. So:
//!
//! - an `atexit` hook ([`python_exiting`], registered at import) marks the process as
//!   exiting and waits, with the GIL released, for runtime threads that are already
//!   handing a result back; from then on no runtime thread attaches to Python again (a
//!   result is then dropped; pyo3 defers the reference decrements);
//! - the runtime task holds only a weak reference to the asyncio future: an awaitable
//!   that Python garbage-collected gets no result, and its task is aborted;
//! - cancelling the asyncio future aborts the task.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures::FutureExt;
use icechunk::storage::{with_inline_reads, InlineReads};
use pyo3::exceptions::PyStopIteration;
use pyo3::intern;
use pyo3::panic::PanicException;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyWeakrefReference;
use pyo3::IntoPyObjectExt;
use tokio::runtime::{Builder, Runtime};
use tokio::task::AbortHandle;

struct PidRuntime {
    pid: u32,
    runtime: Runtime,
    /// Runtime threads of this process that are attached to Python (or about to be) to
    /// hand a result back; the exit hook waits for them.
    handing_back: AtomicUsize,
}

/// The runtime of the current process; never freed (see the module docs).
static CURRENT: AtomicPtr<PidRuntime> = AtomicPtr::new(null_mut());

/// Id of the process whose interpreter is exiting (its `atexit` hooks have begun); 0 if
/// none. A process id rather than a flag, so a child forked during exit is not taken for
/// an exiting process.
static EXITING_PID: AtomicU32 = AtomicU32::new(0);

/// How long the exit hook waits for runtime threads still handing a result back.
const EXIT_WAIT: Duration = Duration::from_secs(5);

/// This process's runtime entry, if it has built one.
fn current_entry() -> Option<&'static PidRuntime> {
    // SAFETY: pointers stored in CURRENT come from Box::into_raw and are never freed.
    unsafe { CURRENT.load(Ordering::Acquire).as_ref() }.filter(|entry| entry.pid == std::process::id())
}

/// The runtime entry of this process, built on first use (and again after a fork).
fn entry() -> &'static PidRuntime {
    let pid = std::process::id();
    let current = CURRENT.load(Ordering::Acquire);
    // SAFETY: pointers stored in CURRENT come from Box::into_raw and are never freed.
    if let Some(entry) = unsafe { current.as_ref() } {
        if entry.pid == pid {
            return entry;
        }
    }
    let runtime = Builder::new_multi_thread()
        .enable_all()
        .thread_name("icechunk-worker")
        .build()
        .expect("cannot start the tokio runtime");
    let fresh = Box::into_raw(Box::new(PidRuntime { pid, runtime, handing_back: AtomicUsize::new(0) }));
    match CURRENT.compare_exchange(current, fresh, Ordering::AcqRel, Ordering::Acquire) {
        // The previous entry (if any) belongs to the parent process: leaked on purpose.
        // SAFETY: `fresh` was just stored and is never freed.
        Ok(_) => unsafe { &*fresh },
        Err(winner) => {
            // Another thread of this process installed a runtime first: use that one.
            // SAFETY: `fresh` was never shared; `winner` is never freed.
            let ours = unsafe { Box::from_raw(fresh) };
            ours.runtime.shutdown_background();
            unsafe { &*winner }
        }
    }
}

/// The tokio runtime of this process, built on first use (and again after a fork).
pub fn runtime() -> &'static Runtime {
    &entry().runtime
}

/// Whether this process's interpreter has begun to exit.
fn exiting() -> bool {
    EXITING_PID.load(Ordering::SeqCst) == std::process::id()
}

/// The `atexit` hook: from now on no runtime thread attaches to Python. Waits (with the
/// GIL released, so they can finish) for the threads that are attached already.
#[pyfunction]
pub fn python_exiting(py: Python<'_>) {
    // Sessions that committed delete their leases in the background: left behind, a lease
    // holds garbage collection back for a day (spec §13.2). They touch no Python object.
    py.detach(|| {
        let deadline = Instant::now() + EXIT_WAIT;
        while icechunk::session::pending_lease_deletions() > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
    EXITING_PID.store(std::process::id(), Ordering::SeqCst);
    let Some(entry) = current_entry() else { return };
    py.detach(|| {
        let deadline = Instant::now() + EXIT_WAIT;
        while entry.handing_back.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// Runs `f` attached to Python from a runtime thread, unless the interpreter is exiting
/// (then `f` is dropped unrun, with whatever it owns).
///
/// The count goes up before the check and the exit hook sets its mark before reading the
/// count (all sequentially consistent): either this thread sees the mark, or the hook
/// sees the count and waits for `f` to finish.
pub(crate) fn attach_unless_exiting<F>(f: F)
where
    F: for<'py> FnOnce(Python<'py>),
{
    let Some(entry) = current_entry() else { return };
    struct Leave(&'static AtomicUsize);
    impl Drop for Leave {
        fn drop(&mut self) {
            self.0.fetch_sub(1, Ordering::SeqCst);
        }
    }
    entry.handing_back.fetch_add(1, Ordering::SeqCst);
    let _leave = Leave(&entry.handing_back);
    if exiting() {
        return;
    }
    Python::attach(f);
}

/// Run `fut` to completion on the runtime with the GIL released.
pub fn block_on<F>(py: Python<'_>, fut: F) -> F::Output
where
    F: Future + Send,
    F::Output: Send,
{
    py.detach(|| runtime().block_on(fut))
}

/// How many bytes the fast path of [`future_into_py`] reads from local disk on the event loop's
/// thread, in all (a batch's later reads overlap on the runtime's pool): a chunk file of a few hundred KB comes from the page cache in tens of
/// microseconds, a runtime thread's round trip costs about 200 us on a small VM.
const FIRST_POLL_READ: u64 = 1 << 20;

/// Turn a Rust future into a Python awaitable bound to the running asyncio loop.
///
/// Fast path: the future is polled once right here (inside the runtime's context, the
/// interpreter released). Most store reads are answered from memory (cached manifests,
/// inline chunks) or from a chunk file on local disk and finish on that poll; they come back
/// as an already-finished awaitable, without the round trip through a runtime thread and the
/// event loop's wake-up (about 200 us against 2 us from memory, 20 us from local disk).
/// A future that is not finished goes on to the runtime as a task, and the awaitable is an
/// asyncio future of the running loop that the task completes (see the module docs).
pub fn future_into_py<F, T>(py: Python<'_>, fut: F) -> PyResult<Bound<'_, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    let mut fut = Box::pin(fut);
    // The interpreter is released: the poll may read chunks from local disk (FIRST_POLL_READ
    // bytes in all; larger or later reads go to the runtime's pool), cheaper than waking a
    // runtime thread and then the loop, but I/O all the same.
    let first_poll = py.detach(|| {
        let _context = runtime().enter();
        with_inline_reads(InlineReads::UpTo(FIRST_POLL_READ), || {
            fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
        })
    });
    let result = match first_poll {
        Poll::Ready(result) => result,
        // Once exiting, no runtime thread may hand a result back: finish it here.
        Poll::Pending if exiting() => block_on(py, fut),
        Poll::Pending => return spawn_awaitable(py, fut),
    };
    let result = result.and_then(|value| value.into_py_any(py));
    Ok(Bound::new(py, Finished { result: Some(result) })?.into_any())
}

/// Like [`future_into_py`] without the fast path: for calls that do real work (commits,
/// rebases, ref updates). Polled here, a future whose I/O all happens to finish at once (a
/// fast disk, a pool thread quicker than the poll) would run to its end on the event loop's
/// thread, holding the loop for the whole call: it always goes to the runtime instead.
pub fn spawn_into_py<F, T>(py: Python<'_>, fut: F) -> PyResult<Bound<'_, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    if exiting() {
        let result = block_on(py, fut).and_then(|value| value.into_py_any(py));
        return Ok(Bound::new(py, Finished { result: Some(result) })?.into_any());
    }
    spawn_awaitable(py, fut)
}

/// An asyncio future of the running loop, completed by a runtime task that runs `fut`.
fn spawn_awaitable<F, T>(py: Python<'_>, fut: F) -> PyResult<Bound<'_, PyAny>>
where
    F: Future<Output = PyResult<T>> + Send + 'static,
    T: for<'py> IntoPyObject<'py> + Send + 'static,
{
    static GET_RUNNING_LOOP: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    let event_loop = GET_RUNNING_LOOP.import(py, "asyncio", "get_running_loop")?.call0()?;
    let py_fut = event_loop.call_method0(intern!(py, "create_future"))?;
    // Weak: the task must not keep alive an awaitable that Python has abandoned.
    let target = PyWeakrefReference::new(&py_fut)?.unbind();
    let task = runtime().spawn(async move {
        let result = AssertUnwindSafe(fut).catch_unwind().await.unwrap_or_else(|panic| {
            let message = panic
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| panic.downcast_ref::<&str>().copied())
                .unwrap_or("panic in the icechunk engine");
            Err(PanicException::new_err(message.to_string()))
        });
        // Waiting for the GIL must not hold up a worker thread.
        tokio::task::spawn_blocking(move || hand_back(target, result));
    });
    py_fut
        .call_method1(intern!(py, "add_done_callback"), (AbortTask { task: Some(task.abort_handle()) },))?;
    Ok(py_fut)
}

/// Schedules `result` on the awaitable's loop, if the awaitable still exists, is not done
/// (cancelled), its loop is open, and the interpreter is not exiting. Otherwise nobody
/// waits for it, and it is dropped.
fn hand_back<T>(target: Py<PyWeakrefReference>, result: PyResult<T>)
where
    T: for<'py> IntoPyObject<'py>,
{
    attach_unless_exiting(move |py| {
        let Some(py_fut) = target.bind(py).upgrade() else { return };
        let scheduled = (|| -> PyResult<()> {
            if py_fut.call_method0(intern!(py, "done"))?.is_truthy()? {
                return Ok(());
            }
            let (ok, value) = match result.and_then(|value| value.into_py_any(py)) {
                Ok(value) => (true, value),
                Err(err) => (false, err.into_value(py).into_any()),
            };
            let event_loop = py_fut.call_method0(intern!(py, "get_loop"))?;
            event_loop.call_method1(intern!(py, "call_soon_threadsafe"), (Complete, &py_fut, ok, value))?;
            Ok(())
        })();
        // The only expected failure: the loop was closed (its owner is gone), and with it
        // whatever awaited the future.
        drop(scheduled);
    });
}

/// Runs on the awaitable's loop: sets its result or exception unless it is done already.
#[pyclass(module = "icechunk._icechunk", frozen)]
struct Complete;

#[pymethods]
impl Complete {
    fn __call__(&self, py_fut: &Bound<'_, PyAny>, ok: bool, value: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = py_fut.py();
        if py_fut.call_method0(intern!(py, "done"))?.is_truthy()? {
            return Ok(());
        }
        let method = if ok { intern!(py, "set_result") } else { intern!(py, "set_exception") };
        py_fut.call_method1(method, (value,))?;
        Ok(())
    }
}

/// The awaitable's done callback: once it is done (a result, or cancelled), its task has
/// nothing left to deliver and is aborted. Also aborted when the awaitable is garbage
/// collected unfinished, which drops this callback with it.
#[pyclass(module = "icechunk._icechunk")]
struct AbortTask {
    task: Option<AbortHandle>,
}

#[pymethods]
impl AbortTask {
    fn __call__(&mut self, _py_fut: &Bound<'_, PyAny>) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Drop for AbortTask {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
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
