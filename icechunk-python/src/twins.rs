//! Sync and async twins from one body.
//!
//! Every call that does I/O exists twice, as Icechunk names them: `lookup_branch` blocks (with
//! the GIL released) and `lookup_branch_async` returns an awaitable for asyncio. `twins!`
//! writes both from one body (the awaitable always runs on the runtime: see
//! `runtime::spawn_into_py`), a block that evaluates to a `Send + 'static` future of
//! `PyResult<T>` (it clones what it needs from `self` first), so the two can never disagree.
//!
//! ```ignore
//! twins! {
//!     impl PyRepository {
//!         fn lookup_branch / lookup_branch_async(&self, name: String) -> String {
//!             let repo = self.repo.clone();
//!             async move { Ok(repo.lookup_branch(&name).await.py()?.to_string()) }
//!         }
//!     }
//! }
//! ```

macro_rules! twins {
    (
        impl $ty:ty {
            $(
                $(#[$attr:meta])*
                fn $name:ident / $async_name:ident (&$self:ident $(, $arg:ident : $argty:ty)* $(,)?) -> $ret:ty
                $body:block
            )*
        }
    ) => {
        #[pyo3::pymethods]
        impl $ty {
            $(
                $(#[$attr])*
                fn $name(&$self, py: pyo3::Python<'_> $(, $arg: $argty)*) -> pyo3::PyResult<$ret> {
                    $crate::runtime::block_on(py, $body)
                }

                $(#[$attr])*
                fn $async_name<'py>(
                    &$self,
                    py: pyo3::Python<'py> $(, $arg: $argty)*
                ) -> pyo3::PyResult<pyo3::Bound<'py, pyo3::PyAny>> {
                    $crate::runtime::spawn_into_py(py, $body)
                }
            )*
        }
    };
}

pub(crate) use twins;
