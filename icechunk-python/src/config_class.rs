//! Configuration classes from one list of fields.
//!
//! `config_class!` declares a Python class mirroring a core settings struct: one attribute per
//! field (readable and writable), a keyword-only constructor whose omitted arguments take the
//! core defaults, `default()`, `__eq__`, `__repr__` and pickling, and the conversions both ways.
//! The field list is written once; a core field missing from it is a compile error (the
//! conversion to the core struct names every field), so the two cannot drift apart. A core
//! field that Python sets some other way is named after the list, in `core_only { ... }`:
//! the conversion gives it its default.
//!
//! A field's Python type may differ from its core type when [`ConfigValue`] converts between
//! them (durations are seconds as floats in Python).

use std::time::Duration;

use pyo3::prelude::*;

use crate::errors::invalid_input;

/// A Python-side value of a config field, and its core-side counterpart `C`.
pub trait ConfigValue<C>: Sized {
    fn from_core(core: &C) -> Self;
    fn to_core(&self, field: &str) -> PyResult<C>;
}

impl<T: Clone> ConfigValue<T> for T {
    fn from_core(core: &T) -> Self {
        core.clone()
    }
    fn to_core(&self, _field: &str) -> PyResult<T> {
        Ok(self.clone())
    }
}

/// Durations: seconds, as a float.
impl ConfigValue<Duration> for f64 {
    fn from_core(core: &Duration) -> Self {
        core.as_secs_f64()
    }
    fn to_core(&self, field: &str) -> PyResult<Duration> {
        Duration::try_from_secs_f64(*self)
            .map_err(|_| invalid_input(format!("{field} must be a finite, non-negative number of seconds")))
    }
}

/// Optional bounds: 0 in Python stands for "not set" (a bound of 0 is refused anyway).
impl ConfigValue<Option<u64>> for u64 {
    fn from_core(core: &Option<u64>) -> Self {
        core.unwrap_or(0)
    }
    fn to_core(&self, _field: &str) -> PyResult<Option<u64>> {
        Ok((*self != 0).then_some(*self))
    }
}

/// `repr` of a field value, as Python would show it.
pub fn py_repr<T: for<'py> IntoPyObject<'py> + Clone>(py: Python<'_>, value: &T) -> String {
    use pyo3::IntoPyObjectExt;
    value
        .clone()
        .into_bound_py_any(py)
        .and_then(|v| v.repr().map(|r| r.to_string()))
        .unwrap_or_else(|_| "?".to_string())
}

macro_rules! config_class {
    (
        $(#[doc = $doc:literal])*
        $py:ident as $name:literal for $core:ident {
            $($(#[doc = $fdoc:literal])* $field:ident: $ty:ty),* $(,)?
        }
        $(core_only { $($core_only:ident),* $(,)? })?
    ) => {
        $(#[doc = $doc])*
        #[pyo3::pyclass(name = $name, module = "icechunk._icechunk", eq, get_all, set_all, from_py_object)]
        #[derive(Clone, PartialEq)]
        pub struct $py {
            $($(#[doc = $fdoc])* pub $field: $ty,)*
        }

        impl From<&$core> for $py {
            fn from(core: &$core) -> Self {
                use $crate::config_class::ConfigValue;
                $py { $($field: <$ty>::from_core(&core.$field),)* }
            }
        }

        impl $py {
            /// The core settings; fails on a value the core type cannot hold.
            pub fn to_core(&self) -> pyo3::PyResult<$core> {
                use $crate::config_class::ConfigValue;
                Ok($core {
                    $($field: self.$field.to_core(stringify!($field))?,)*
                    $($($core_only: Default::default(),)*)?
                })
            }
        }

        #[pyo3::pymethods]
        impl $py {
            #[new]
            #[pyo3(signature = (*, $($field = None),*))]
            #[allow(clippy::too_many_arguments)]
            fn new($($field: Option<$ty>),*) -> pyo3::PyResult<Self> {
                let defaults = $py::from(&$core::default());
                let this = $py { $($field: $field.unwrap_or(defaults.$field),)* };
                this.to_core()?; // refuse bad values now, not where the config is used
                Ok(this)
            }

            /// The defaults.
            #[staticmethod]
            fn default() -> Self {
                $py::from(&$core::default())
            }

            fn __repr__(&self, py: pyo3::Python<'_>) -> String {
                let fields: Vec<String> = vec![
                    $(format!("{}={}", stringify!($field), $crate::config_class::py_repr(py, &self.$field)),)*
                ];
                format!("{}({})", $name, fields.join(", "))
            }

            /// Pickling: rebuilt through `__new__` with these keywords.
            fn __getnewargs_ex__<'py>(
                &self,
                py: pyo3::Python<'py>,
            ) -> pyo3::PyResult<(pyo3::Bound<'py, pyo3::types::PyTuple>, pyo3::Bound<'py, pyo3::types::PyDict>)> {
                use pyo3::types::PyDictMethods;
                let kwargs = pyo3::types::PyDict::new(py);
                $(kwargs.set_item(stringify!($field), self.$field.clone())?;)*
                Ok((pyo3::types::PyTuple::empty(py), kwargs))
            }
        }
    };
}

pub(crate) use config_class;
