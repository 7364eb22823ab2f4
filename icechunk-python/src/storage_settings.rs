//! Icechunk 2.x's storage settings: `StorageSettings`, with `StorageConcurrencySettings`,
//! `StorageRetriesSettings` and `StorageTimeoutSettings`. Every field is optional (`None`:
//! the storage's own value), as in Icechunk 2.x.
//!
//! This engine's storages take their network settings when they are built
//! (`NetworkOptions`); [`PyStorageSettings::apply`] maps these settings onto them:
//!
//! | Icechunk 2.x | `NetworkOptions` |
//! |---|---|
//! | `concurrency.max_concurrent_requests_for_object` | `read_concurrency` |
//! | `concurrency.ideal_concurrent_request_size` | `read_part_size` and `large_read_threshold` |
//! | `retries.max_tries` | `max_retries` + 1 |
//! | `retries.initial_backoff_ms`, `max_backoff_ms` | `initial_backoff`, `max_backoff` |
//! | `timeouts.connect_timeout_ms` | `connect_timeout` |
//! | `timeouts.read_timeout_ms` | `stream_timeout` |
//! | `timeouts.operation_timeout_ms` | `retry_timeout` (all attempts) |
//! | `timeouts.operation_attempt_timeout_ms` | `request_timeout` (one attempt) |
//!
//! Refused (`InvalidInputError`) when applied rather than ignored: storage classes and
//! `minimum_size_for_multipart_upload` (every object is one PUT), `unsafe_use_metadata=True`
//! (no object metadata is written), and `unsafe_use_conditional_create=False` or
//! `unsafe_use_conditional_update=False` (commits need conditional writes; see
//! `s3_storage(unsafe_single_writer=True)` for a server without them).

use std::time::Duration;

use icechunk::storage::NetworkOptions;
use pyo3::prelude::*;

use crate::config_class::py_repr;
use crate::errors::invalid_input;

fn millis(d: Duration) -> Option<u32> {
    u32::try_from(d.as_millis()).ok()
}

/// A class of optional fields: a constructor taking each (positionally or by keyword, `None`
/// by default), attributes, `==`, `repr` and pickling.
macro_rules! settings_class {
    (
        $(#[doc = $doc:literal])*
        $py:ident as $name:literal { $($field:ident: $ty:ty),* $(,)? }
    ) => {
        $(#[doc = $doc])*
        #[pyclass(name = $name, module = "icechunk._icechunk", eq, get_all, set_all, from_py_object)]
        #[derive(Clone, PartialEq, Default)]
        pub struct $py {
            $(pub $field: Option<$ty>,)*
        }

        #[pymethods]
        impl $py {
            #[new]
            #[pyo3(signature = ($($field = None),*))]
            #[allow(clippy::too_many_arguments)]
            fn new($($field: Option<$ty>),*) -> Self {
                $py { $($field,)* }
            }

            fn __repr__(&self, py: Python<'_>) -> String {
                let fields: Vec<String> =
                    vec![$(format!("{}={}", stringify!($field), py_repr(py, &self.$field)),)*];
                format!("{}({})", $name, fields.join(", "))
            }

            #[allow(clippy::type_complexity)]
            fn __getnewargs__(&self) -> ($(Option<$ty>,)*) {
                ($(self.$field.clone(),)*)
            }
        }
    };
}

settings_class! {
    /// How many requests read one object at once, and how large each is.
    PyStorageConcurrencySettings as "StorageConcurrencySettings" {
        max_concurrent_requests_for_object: u16,
        ideal_concurrent_request_size: u64,
    }
}

settings_class! {
    /// How often and how patiently failed requests are retried.
    PyStorageRetriesSettings as "StorageRetriesSettings" {
        max_tries: u16,
        initial_backoff_ms: u32,
        max_backoff_ms: u32,
    }
}

settings_class! {
    /// Timeouts of requests, in milliseconds.
    PyStorageTimeoutSettings as "StorageTimeoutSettings" {
        connect_timeout_ms: u32,
        read_timeout_ms: u32,
        operation_timeout_ms: u32,
        operation_attempt_timeout_ms: u32,
    }
}

settings_class! {
    /// How a repository talks to its storage; `None` fields keep the storage's own values.
    PyStorageSettings as "StorageSettings" {
        concurrency: PyStorageConcurrencySettings,
        retries: PyStorageRetriesSettings,
        unsafe_use_conditional_create: bool,
        unsafe_use_conditional_update: bool,
        unsafe_use_metadata: bool,
        storage_class: String,
        metadata_storage_class: String,
        chunks_storage_class: String,
        minimum_size_for_multipart_upload: u64,
        timeouts: PyStorageTimeoutSettings,
    }
}

impl PyStorageSettings {
    /// A cloud storage's settings, as its network options make them.
    pub fn from_network(net: &NetworkOptions) -> Self {
        PyStorageSettings {
            concurrency: Some(PyStorageConcurrencySettings {
                max_concurrent_requests_for_object: u16::try_from(net.read_concurrency).ok(),
                ideal_concurrent_request_size: Some(net.read_part_size),
            }),
            retries: Some(PyStorageRetriesSettings {
                max_tries: u16::try_from(net.max_retries.saturating_add(1)).ok(),
                initial_backoff_ms: millis(net.initial_backoff),
                max_backoff_ms: millis(net.max_backoff),
            }),
            unsafe_use_conditional_create: Some(true),
            unsafe_use_conditional_update: Some(true),
            unsafe_use_metadata: Some(false),
            timeouts: Some(PyStorageTimeoutSettings {
                connect_timeout_ms: millis(net.connect_timeout),
                read_timeout_ms: millis(net.stream_timeout),
                operation_timeout_ms: millis(net.retry_timeout),
                operation_attempt_timeout_ms: millis(net.request_timeout),
            }),
            ..Default::default()
        }
    }

    /// Refuses the settings this engine cannot honour (module docs).
    pub fn check(&self) -> PyResult<()> {
        let classes = [
            ("storage_class", &self.storage_class),
            ("metadata_storage_class", &self.metadata_storage_class),
            ("chunks_storage_class", &self.chunks_storage_class),
        ];
        if let Some((name, _)) = classes.iter().find(|(_, v)| v.is_some()) {
            return Err(invalid_input(format!(
                "StorageSettings.{name} is not supported: this engine writes objects in the bucket's \
                 default storage class"
            )));
        }
        if self.minimum_size_for_multipart_upload.is_some() {
            return Err(invalid_input(
                "StorageSettings.minimum_size_for_multipart_upload is not supported: this engine \
                 uploads every object with one PUT",
            ));
        }
        if self.unsafe_use_metadata == Some(true) {
            return Err(invalid_input(
                "StorageSettings.unsafe_use_metadata=True is not supported: this engine writes no \
                 object metadata (leave it None or False)",
            ));
        }
        for (name, value) in [
            ("unsafe_use_conditional_create", self.unsafe_use_conditional_create),
            ("unsafe_use_conditional_update", self.unsafe_use_conditional_update),
        ] {
            if value == Some(false) {
                return Err(invalid_input(format!(
                    "StorageSettings.{name}=False is refused: commits need conditional writes \
                     (for a server without them, see s3_storage(unsafe_single_writer=True))"
                )));
            }
        }
        if self.retries.as_ref().and_then(|r| r.max_tries) == Some(0) {
            return Err(invalid_input("StorageRetriesSettings.max_tries must be at least 1"));
        }
        Ok(())
    }

    /// These settings over `net` (module docs for the mapping); refuses what cannot apply.
    pub fn apply(&self, net: &mut NetworkOptions) -> PyResult<()> {
        self.check()?;
        let ms = |v: u32| Duration::from_millis(v.into());
        if let Some(c) = &self.concurrency {
            if let Some(n) = c.max_concurrent_requests_for_object {
                net.read_concurrency = n.into();
            }
            if let Some(size) = c.ideal_concurrent_request_size {
                net.read_part_size = size;
                net.large_read_threshold = size;
            }
        }
        if let Some(r) = &self.retries {
            if let Some(tries) = r.max_tries {
                net.max_retries = usize::from(tries) - 1;
            }
            if let Some(v) = r.initial_backoff_ms {
                net.initial_backoff = ms(v);
            }
            if let Some(v) = r.max_backoff_ms {
                net.max_backoff = ms(v);
            }
        }
        if let Some(t) = &self.timeouts {
            if let Some(v) = t.connect_timeout_ms {
                net.connect_timeout = ms(v);
            }
            if let Some(v) = t.read_timeout_ms {
                net.stream_timeout = ms(v);
            }
            if let Some(v) = t.operation_timeout_ms {
                net.retry_timeout = ms(v);
            }
            if let Some(v) = t.operation_attempt_timeout_ms {
                net.request_timeout = ms(v);
            }
        }
        net.validate().map_err(|e| invalid_input(e.to_string()))
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyStorageConcurrencySettings>()?;
    m.add_class::<PyStorageRetriesSettings>()?;
    m.add_class::<PyStorageTimeoutSettings>()?;
    m.add_class::<PyStorageSettings>()?;
    Ok(())
}
