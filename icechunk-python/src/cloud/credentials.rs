//! Credential classes with Icechunk 2.x's names and shapes: `S3StaticCredentials`,
//! `S3Credentials.{FromEnv, Anonymous, Static, Refreshable}`, `GcsBearerCredential`,
//! `GcsStaticCredentials.*`, `GcsCredentials.*`, `AzureRefreshableCredential.*`,
//! `AzureStaticCredentials.*`, `AzureCredentials.*` and `Credentials.*`.
//!
//! Refreshable credentials carry a pickled Python callable. The engine keeps it as opaque
//! bytes in the storage's spec (so it travels with a pickled storage or session) and asks
//! [`load_fetcher`], installed at import, for a fetcher; the fetcher unpickles the callable
//! on first use and calls it, on a blocking thread of the runtime with the GIL taken, each
//! time the credentials it returned expire.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use icechunk::storage::{
    AzureCredentials, CredentialFetcher, Expiring, FetchedCredential, GcsCredentials, RefreshableCredentials,
    S3Auth, Secret,
};
use icechunk::IcechunkError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyTuple, PyTzInfo};

use crate::errors::invalid_input;

/// A datetime as UTC; a naive one is taken as local time, as Python's `astimezone` does.
pub fn to_utc(when: &Bound<'_, PyAny>) -> PyResult<DateTime<Utc>> {
    let utc = PyTzInfo::utc(when.py())?;
    when.call_method1("astimezone", (utc,))?.extract()
}

fn opt_utc(when: Option<&Bound<'_, PyAny>>) -> PyResult<Option<DateTime<Utc>>> {
    when.filter(|w| !w.is_none()).map(to_utc).transpose()
}

/// `'AKIA…'`: enough of a key id to tell keys apart, never a secret.
fn hint(key: &str) -> String {
    let shown: String = key.chars().take(4).collect();
    format!("'{shown}…'")
}

fn expiry_repr(when: &Option<DateTime<Utc>>) -> String {
    when.map_or_else(|| "None".to_string(), |w| format!("'{}'", w.to_rfc3339()))
}

fn system_time(when: Option<DateTime<Utc>>) -> Option<SystemTime> {
    when.map(SystemTime::from)
}

// ---- S3 --------------------------------------------------------------------------------------

/// An S3 key pair (with a session token for temporary credentials) and when it expires.
#[pyclass(name = "S3StaticCredentials", module = "icechunk._icechunk", eq, from_py_object)]
#[derive(Clone, PartialEq)]
pub struct PyS3StaticCredentials {
    #[pyo3(get, set)]
    pub access_key_id: String,
    #[pyo3(get, set)]
    pub secret_access_key: String,
    #[pyo3(get, set)]
    pub session_token: Option<String>,
    #[pyo3(get)]
    pub expires_after: Option<DateTime<Utc>>,
}

#[pymethods]
impl PyS3StaticCredentials {
    #[new]
    #[pyo3(signature = (access_key_id, secret_access_key, session_token=None, expires_after=None))]
    fn new(
        access_key_id: String,
        secret_access_key: String,
        session_token: Option<String>,
        expires_after: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        Ok(PyS3StaticCredentials {
            access_key_id,
            secret_access_key,
            session_token,
            expires_after: opt_utc(expires_after)?,
        })
    }

    #[setter]
    fn set_expires_after(&mut self, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.expires_after = opt_utc(value)?;
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!(
            "S3StaticCredentials(access_key_id={}, secret_access_key='***', session_token={}, expires_after={})",
            hint(&self.access_key_id),
            if self.session_token.is_some() { "'***'" } else { "None" },
            expiry_repr(&self.expires_after)
        )
    }

    #[allow(clippy::type_complexity)]
    fn __getnewargs__(&self) -> (String, String, Option<String>, Option<DateTime<Utc>>) {
        (
            self.access_key_id.clone(),
            self.secret_access_key.clone(),
            self.session_token.clone(),
            self.expires_after,
        )
    }
}

impl PyS3StaticCredentials {
    fn expiring(&self) -> Expiring {
        Expiring {
            credential: FetchedCredential::S3 {
                access_key_id: Secret::new(&*self.access_key_id),
                secret_access_key: Secret::new(&*self.secret_access_key),
                session_token: self.session_token.as_deref().map(Secret::new),
            },
            expires_after: system_time(self.expires_after),
        }
    }
}

/// How to authenticate to S3: from the environment, anonymously, with static keys, or with
/// keys a Python callable supplies again whenever they expire.
#[pyclass(name = "S3Credentials", module = "icechunk._icechunk", eq, from_py_object)]
#[derive(Clone, PartialEq)]
pub enum PyS3Credentials {
    FromEnv(),
    Anonymous(),
    Static(PyS3StaticCredentials),
    Refreshable { pickled_function: Vec<u8>, current: Option<PyS3StaticCredentials> },
}

#[pymethods]
impl PyS3Credentials {
    fn __repr__(&self) -> String {
        match self {
            PyS3Credentials::FromEnv() => "S3Credentials.FromEnv()".into(),
            PyS3Credentials::Anonymous() => "S3Credentials.Anonymous()".into(),
            PyS3Credentials::Static(c) => format!("S3Credentials.Static({})", c.__repr__()),
            PyS3Credentials::Refreshable { current, .. } => format!(
                "S3Credentials.Refreshable(<function>, current={})",
                current.as_ref().map_or_else(|| "None".to_string(), |c| c.__repr__())
            ),
        }
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let py = slf.py();
        let args = match &*slf.borrow() {
            PyS3Credentials::FromEnv() | PyS3Credentials::Anonymous() => PyTuple::empty(py),
            PyS3Credentials::Static(c) => PyTuple::new(py, [c.clone().into_pyobject(py)?.into_any()])?,
            PyS3Credentials::Refreshable { pickled_function, current } => PyTuple::new(
                py,
                [
                    PyBytes::new(py, pickled_function).into_any(),
                    current.clone().into_pyobject(py)?.into_any(),
                ],
            )?,
        };
        Ok((slf.as_any().get_type().into_any(), args))
    }
}

impl PyS3Credentials {
    /// No credentials at all: the environment's, as in Icechunk 2.x.
    pub fn to_auth(credentials: Option<&Self>) -> S3Auth {
        let mut auth = S3Auth::default();
        match credentials {
            None | Some(PyS3Credentials::FromEnv()) => auth.from_env = true,
            Some(PyS3Credentials::Anonymous()) => auth.anonymous = true,
            Some(PyS3Credentials::Static(c)) => {
                auth.access_key_id = Some(Secret::new(&*c.access_key_id));
                auth.secret_access_key = Some(Secret::new(&*c.secret_access_key));
                auth.session_token = c.session_token.as_deref().map(Secret::new);
                auth.expires_after = system_time(c.expires_after);
            }
            Some(PyS3Credentials::Refreshable { pickled_function, current }) => {
                auth.refreshable = Some(RefreshableCredentials {
                    fetcher: pickled_function.clone(),
                    initial: current.as_ref().map(PyS3StaticCredentials::expiring),
                });
            }
        }
        auth
    }
}

// ---- GCS -------------------------------------------------------------------------------------

/// A Google Cloud Storage bearer token and when it expires.
#[pyclass(name = "GcsBearerCredential", module = "icechunk._icechunk", eq, from_py_object)]
#[derive(Clone, PartialEq)]
pub struct PyGcsBearerCredential {
    #[pyo3(get, set)]
    pub bearer: String,
    #[pyo3(get)]
    pub expires_after: Option<DateTime<Utc>>,
}

#[pymethods]
impl PyGcsBearerCredential {
    #[new]
    #[pyo3(signature = (bearer, *, expires_after=None))]
    fn new(bearer: String, expires_after: Option<&Bound<'_, PyAny>>) -> PyResult<Self> {
        Ok(PyGcsBearerCredential { bearer, expires_after: opt_utc(expires_after)? })
    }

    #[setter]
    fn set_expires_after(&mut self, value: Option<&Bound<'_, PyAny>>) -> PyResult<()> {
        self.expires_after = opt_utc(value)?;
        Ok(())
    }

    fn __repr__(&self) -> String {
        format!("GcsBearerCredential(bearer='***', expires_after={})", expiry_repr(&self.expires_after))
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        // `expires_after` is keyword-only: rebuild through a helper that takes it positionally.
        let py = slf.py();
        let this = slf.borrow();
        let ctor = py.import("icechunk._icechunk")?.getattr("_gcs_bearer_credential")?;
        let args = (this.bearer.clone(), this.expires_after).into_pyobject(py)?;
        Ok((ctor, args))
    }
}

#[pyfunction]
#[pyo3(signature = (bearer, expires_after=None))]
fn _gcs_bearer_credential(bearer: String, expires_after: Option<DateTime<Utc>>) -> PyGcsBearerCredential {
    PyGcsBearerCredential { bearer, expires_after }
}

/// Long-lived Google Cloud Storage credentials.
#[pyclass(name = "GcsStaticCredentials", module = "icechunk._icechunk", eq, from_py_object)]
#[derive(Clone, PartialEq)]
pub enum PyGcsStaticCredentials {
    /// The path of a service account key file (JSON).
    ServiceAccount(String),
    /// A service account key (its JSON).
    ServiceAccountKey(String),
    /// The path of an application default credentials file.
    ApplicationCredentials(String),
    /// A bearer token, used as it is (never refreshed).
    BearerToken(String),
}

#[pymethods]
impl PyGcsStaticCredentials {
    fn __repr__(&self) -> String {
        match self {
            PyGcsStaticCredentials::ServiceAccount(path) => {
                format!("GcsStaticCredentials.ServiceAccount({path:?})")
            }
            PyGcsStaticCredentials::ServiceAccountKey(_) => {
                "GcsStaticCredentials.ServiceAccountKey('***')".into()
            }
            PyGcsStaticCredentials::ApplicationCredentials(path) => {
                format!("GcsStaticCredentials.ApplicationCredentials({path:?})")
            }
            PyGcsStaticCredentials::BearerToken(_) => "GcsStaticCredentials.BearerToken('***')".into(),
        }
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let value = match &*slf.borrow() {
            PyGcsStaticCredentials::ServiceAccount(s)
            | PyGcsStaticCredentials::ServiceAccountKey(s)
            | PyGcsStaticCredentials::ApplicationCredentials(s)
            | PyGcsStaticCredentials::BearerToken(s) => s.clone(),
        };
        Ok((slf.as_any().get_type().into_any(), (value,)))
    }
}

/// How to authenticate to Google Cloud Storage.
#[pyclass(name = "GcsCredentials", module = "icechunk._icechunk", eq, from_py_object)]
#[derive(Clone, PartialEq)]
pub enum PyGcsCredentials {
    Anonymous(),
    FromEnv(),
    Static(PyGcsStaticCredentials),
    Refreshable { pickled_function: Vec<u8>, current: Option<PyGcsBearerCredential> },
}

#[pymethods]
impl PyGcsCredentials {
    fn __repr__(&self) -> String {
        match self {
            PyGcsCredentials::Anonymous() => "GcsCredentials.Anonymous()".into(),
            PyGcsCredentials::FromEnv() => "GcsCredentials.FromEnv()".into(),
            PyGcsCredentials::Static(c) => format!("GcsCredentials.Static({})", c.__repr__()),
            PyGcsCredentials::Refreshable { current, .. } => format!(
                "GcsCredentials.Refreshable(<function>, current={})",
                current.as_ref().map_or_else(|| "None".to_string(), |c| c.__repr__())
            ),
        }
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let py = slf.py();
        let args = match &*slf.borrow() {
            PyGcsCredentials::Anonymous() | PyGcsCredentials::FromEnv() => PyTuple::empty(py),
            PyGcsCredentials::Static(c) => PyTuple::new(py, [c.clone().into_pyobject(py)?.into_any()])?,
            PyGcsCredentials::Refreshable { pickled_function, current } => PyTuple::new(
                py,
                [
                    PyBytes::new(py, pickled_function).into_any(),
                    current.clone().into_pyobject(py)?.into_any(),
                ],
            )?,
        };
        Ok((slf.as_any().get_type().into_any(), args))
    }
}

impl PyGcsCredentials {
    /// No credentials at all: the environment's.
    pub fn to_core(credentials: Option<&Self>) -> GcsCredentials {
        match credentials {
            None | Some(PyGcsCredentials::FromEnv()) => GcsCredentials::FromEnv,
            Some(PyGcsCredentials::Anonymous()) => GcsCredentials::Anonymous,
            Some(PyGcsCredentials::Static(s)) => match s {
                PyGcsStaticCredentials::ServiceAccount(path) => {
                    GcsCredentials::ServiceAccountPath(path.into())
                }
                PyGcsStaticCredentials::ServiceAccountKey(key) => {
                    GcsCredentials::ServiceAccountKey(Secret::new(&**key))
                }
                PyGcsStaticCredentials::ApplicationCredentials(path) => {
                    GcsCredentials::ApplicationDefault(Some(path.into()))
                }
                PyGcsStaticCredentials::BearerToken(token) => {
                    GcsCredentials::BearerToken(Secret::new(&**token))
                }
            },
            Some(PyGcsCredentials::Refreshable { pickled_function, current }) => {
                GcsCredentials::Refreshable(RefreshableCredentials {
                    fetcher: pickled_function.clone(),
                    initial: current.as_ref().map(|c| Expiring {
                        credential: FetchedCredential::GcsBearer(Secret::new(&*c.bearer)),
                        expires_after: system_time(c.expires_after),
                    }),
                })
            }
        }
    }
}

// ---- Azure -----------------------------------------------------------------------------------

/// An Azure credential that a refresh function returns, with when it expires.
#[pyclass(name = "AzureRefreshableCredential", module = "icechunk._icechunk", eq, from_py_object)]
#[derive(Clone, PartialEq)]
pub enum PyAzureRefreshableCredential {
    AccessKey { key: String, expires_after: Option<DateTime<Utc>> },
    SasToken { token: String, expires_after: Option<DateTime<Utc>> },
    BearerToken { bearer: String, expires_after: Option<DateTime<Utc>> },
}

#[pymethods]
impl PyAzureRefreshableCredential {
    fn __repr__(&self) -> String {
        let (kind, expires_after) = match self {
            PyAzureRefreshableCredential::AccessKey { expires_after, .. } => ("AccessKey", expires_after),
            PyAzureRefreshableCredential::SasToken { expires_after, .. } => ("SasToken", expires_after),
            PyAzureRefreshableCredential::BearerToken { expires_after, .. } => ("BearerToken", expires_after),
        };
        format!("AzureRefreshableCredential.{kind}('***', expires_after={})", expiry_repr(expires_after))
    }

    #[allow(clippy::type_complexity)]
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> PyResult<(Bound<'py, PyAny>, (String, Option<DateTime<Utc>>))> {
        let args = match &*slf.borrow() {
            PyAzureRefreshableCredential::AccessKey { key: s, expires_after }
            | PyAzureRefreshableCredential::SasToken { token: s, expires_after }
            | PyAzureRefreshableCredential::BearerToken { bearer: s, expires_after } => {
                (s.clone(), *expires_after)
            }
        };
        Ok((slf.as_any().get_type().into_any(), args))
    }
}

impl PyAzureRefreshableCredential {
    fn expiring(&self) -> Expiring {
        let (credential, expires_after) = match self {
            PyAzureRefreshableCredential::AccessKey { key, expires_after } => {
                (FetchedCredential::AzureAccessKey(Secret::new(&**key)), expires_after)
            }
            PyAzureRefreshableCredential::SasToken { token, expires_after } => {
                (FetchedCredential::AzureSasToken(Secret::new(&**token)), expires_after)
            }
            PyAzureRefreshableCredential::BearerToken { bearer, expires_after } => {
                (FetchedCredential::AzureBearer(Secret::new(&**bearer)), expires_after)
            }
        };
        Expiring { credential, expires_after: system_time(*expires_after) }
    }
}

/// Long-lived Azure credentials.
#[pyclass(name = "AzureStaticCredentials", module = "icechunk._icechunk", eq, from_py_object)]
#[derive(Clone, PartialEq)]
pub enum PyAzureStaticCredentials {
    AccessKey(String),
    SasToken(String),
    BearerToken(String),
}

#[pymethods]
impl PyAzureStaticCredentials {
    fn __repr__(&self) -> String {
        let kind = match self {
            PyAzureStaticCredentials::AccessKey(_) => "AccessKey",
            PyAzureStaticCredentials::SasToken(_) => "SasToken",
            PyAzureStaticCredentials::BearerToken(_) => "BearerToken",
        };
        format!("AzureStaticCredentials.{kind}('***')")
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, (String,))> {
        let value = match &*slf.borrow() {
            PyAzureStaticCredentials::AccessKey(s)
            | PyAzureStaticCredentials::SasToken(s)
            | PyAzureStaticCredentials::BearerToken(s) => s.clone(),
        };
        Ok((slf.as_any().get_type().into_any(), (value,)))
    }
}

/// How to authenticate to Azure Blob Storage.
#[pyclass(name = "AzureCredentials", module = "icechunk._icechunk", eq, from_py_object)]
#[derive(Clone, PartialEq)]
pub enum PyAzureCredentials {
    Anonymous(),
    FromEnv(),
    Static(PyAzureStaticCredentials),
    Refreshable { pickled_function: Vec<u8>, current: Option<PyAzureRefreshableCredential> },
}

#[pymethods]
impl PyAzureCredentials {
    fn __repr__(&self) -> String {
        match self {
            PyAzureCredentials::Anonymous() => "AzureCredentials.Anonymous()".into(),
            PyAzureCredentials::FromEnv() => "AzureCredentials.FromEnv()".into(),
            PyAzureCredentials::Static(c) => format!("AzureCredentials.Static({})", c.__repr__()),
            PyAzureCredentials::Refreshable { current, .. } => format!(
                "AzureCredentials.Refreshable(<function>, current={})",
                current.as_ref().map_or_else(|| "None".to_string(), |c| c.__repr__())
            ),
        }
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let py = slf.py();
        let args = match &*slf.borrow() {
            PyAzureCredentials::Anonymous() | PyAzureCredentials::FromEnv() => PyTuple::empty(py),
            PyAzureCredentials::Static(c) => PyTuple::new(py, [c.clone().into_pyobject(py)?.into_any()])?,
            PyAzureCredentials::Refreshable { pickled_function, current } => PyTuple::new(
                py,
                [
                    PyBytes::new(py, pickled_function).into_any(),
                    current.clone().into_pyobject(py)?.into_any(),
                ],
            )?,
        };
        Ok((slf.as_any().get_type().into_any(), args))
    }
}

impl PyAzureCredentials {
    /// No credentials at all: the environment's.
    pub fn to_core(credentials: Option<&Self>) -> AzureCredentials {
        match credentials {
            None | Some(PyAzureCredentials::FromEnv()) => AzureCredentials::FromEnv,
            Some(PyAzureCredentials::Anonymous()) => AzureCredentials::Anonymous,
            Some(PyAzureCredentials::Static(s)) => match s {
                PyAzureStaticCredentials::AccessKey(k) => AzureCredentials::AccessKey(Secret::new(&**k)),
                PyAzureStaticCredentials::SasToken(t) => AzureCredentials::SasToken(Secret::new(&**t)),
                PyAzureStaticCredentials::BearerToken(t) => AzureCredentials::BearerToken(Secret::new(&**t)),
            },
            Some(PyAzureCredentials::Refreshable { pickled_function, current }) => {
                AzureCredentials::Refreshable(RefreshableCredentials {
                    fetcher: pickled_function.clone(),
                    initial: current.as_ref().map(PyAzureRefreshableCredential::expiring),
                })
            }
        }
    }
}

// ---- Any store -------------------------------------------------------------------------------

/// Credentials of any store, as virtual chunk containers take them.
#[pyclass(name = "Credentials", module = "icechunk._icechunk", eq, from_py_object)]
#[derive(Clone, PartialEq)]
pub enum PyCredentials {
    S3(PyS3Credentials),
    Gcs(PyGcsCredentials),
    Azure(PyAzureCredentials),
    LocalFileSystemAccess(),
    HttpAccess(),
}

#[pymethods]
impl PyCredentials {
    fn __repr__(&self) -> String {
        match self {
            PyCredentials::S3(c) => format!("Credentials.S3({})", c.__repr__()),
            PyCredentials::Gcs(c) => format!("Credentials.Gcs({})", c.__repr__()),
            PyCredentials::Azure(c) => format!("Credentials.Azure({})", c.__repr__()),
            PyCredentials::LocalFileSystemAccess() => "Credentials.LocalFileSystemAccess()".into(),
            PyCredentials::HttpAccess() => "Credentials.HttpAccess()".into(),
        }
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        let py = slf.py();
        let inner = match &*slf.borrow() {
            PyCredentials::S3(c) => Some(c.clone().into_pyobject(py)?.into_any()),
            PyCredentials::Gcs(c) => Some(c.clone().into_pyobject(py)?.into_any()),
            PyCredentials::Azure(c) => Some(c.clone().into_pyobject(py)?.into_any()),
            PyCredentials::LocalFileSystemAccess() | PyCredentials::HttpAccess() => None,
        };
        let args = match inner {
            Some(inner) => PyTuple::new(py, [inner])?,
            None => PyTuple::empty(py),
        };
        Ok((slf.as_any().get_type().into_any(), args))
    }
}

// ---- Calling Python for credentials ----------------------------------------------------------

/// Process whose interpreter is exiting (0: none): from then on no runtime thread calls a
/// refresh function (see `runtime`'s module docs for why a foreign thread must not attach
/// to an exiting interpreter).
static EXITING_PID: AtomicU32 = AtomicU32::new(0);
/// Runtime threads inside a refresh function (or about to be); the exit hook waits for them.
static CALLING: AtomicUsize = AtomicUsize::new(0);

/// The `atexit` hook of this module: stop calling refresh functions, and wait (with the GIL
/// released) for calls in progress.
#[pyfunction]
fn _credentials_exiting(py: Python<'_>) {
    EXITING_PID.store(std::process::id(), Ordering::SeqCst);
    py.detach(|| {
        let deadline = Instant::now() + Duration::from_secs(5);
        while CALLING.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    });
}

/// A pickled Python callable returning `S3StaticCredentials`, `GcsBearerCredential` or an
/// `AzureRefreshableCredential`, unpickled on its first call.
struct PyFunction {
    pickled: Vec<u8>,
    function: OnceLock<Py<PyAny>>,
}

impl PyFunction {
    fn call(&self) -> Result<Expiring, IcechunkError> {
        struct Leave;
        impl Drop for Leave {
            fn drop(&mut self) {
                CALLING.fetch_sub(1, Ordering::SeqCst);
            }
        }
        CALLING.fetch_add(1, Ordering::SeqCst);
        let _leave = Leave;
        if EXITING_PID.load(Ordering::SeqCst) == std::process::id() {
            return Err(IcechunkError::StorageOther(
                "cannot refresh credentials: the Python interpreter is exiting".into(),
            ));
        }
        Python::attach(|py| {
            let function = match self.function.get() {
                Some(f) => f.bind(py).clone(),
                None => {
                    let loads = py.import("pickle")?.getattr("loads")?;
                    let f = loads.call1((PyBytes::new(py, &self.pickled),))?;
                    let _ = self.function.set(f.clone().unbind());
                    f
                }
            };
            let result = function.call0()?;
            expiring_from_py(&result)
        })
        .map_err(|e: PyErr| IcechunkError::StorageOther(format!("the get_credentials function failed: {e}")))
    }
}

fn expiring_from_py(value: &Bound<'_, PyAny>) -> PyResult<Expiring> {
    if let Ok(c) = value.cast::<PyS3StaticCredentials>() {
        return Ok(c.borrow().expiring());
    }
    if let Ok(c) = value.cast::<PyGcsBearerCredential>() {
        let c = c.borrow();
        return Ok(Expiring {
            credential: FetchedCredential::GcsBearer(Secret::new(&*c.bearer)),
            expires_after: system_time(c.expires_after),
        });
    }
    if let Ok(c) = value.cast::<PyAzureRefreshableCredential>() {
        return Ok(c.borrow().expiring());
    }
    Err(invalid_input(format!(
        "get_credentials returned {}, not S3StaticCredentials, GcsBearerCredential or \
         AzureRefreshableCredential",
        value.get_type().name().map(|n| n.to_string()).unwrap_or_default()
    )))
}

/// The engine's view of a [`PyFunction`].
struct PyFetcher(Arc<PyFunction>);

impl std::fmt::Debug for PyFetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PyFetcher")
    }
}

#[async_trait]
impl CredentialFetcher for PyFetcher {
    async fn fetch(&self) -> icechunk::Result<Expiring> {
        // On a blocking thread, so that no runtime worker waits for the GIL.
        let function = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || function.call())
            .await
            .map_err(|e| IcechunkError::StorageOther(format!("the credential refresh did not finish: {e}")))?
    }
}

/// The engine's loader of pickled refresh functions (installed at import).
fn load_fetcher(pickled: &[u8]) -> icechunk::Result<Arc<dyn CredentialFetcher>> {
    if pickled.is_empty() {
        return Err(IcechunkError::InvalidInput("refreshable credentials need a pickled function".into()));
    }
    Ok(Arc::new(PyFetcher(Arc::new(PyFunction { pickled: pickled.to_vec(), function: OnceLock::new() }))))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    icechunk::storage::set_credential_fetcher_loader(load_fetcher);
    m.add_class::<PyS3StaticCredentials>()?;
    m.add_class::<PyS3Credentials>()?;
    m.add_class::<PyGcsBearerCredential>()?;
    m.add_class::<PyGcsStaticCredentials>()?;
    m.add_class::<PyGcsCredentials>()?;
    m.add_class::<PyAzureRefreshableCredential>()?;
    m.add_class::<PyAzureStaticCredentials>()?;
    m.add_class::<PyAzureCredentials>()?;
    m.add_class::<PyCredentials>()?;
    m.add_function(wrap_pyfunction!(_gcs_bearer_credential, m)?)?;
    let exiting = wrap_pyfunction!(_credentials_exiting, m)?;
    m.py().import("atexit")?.call_method1("register", (exiting,))?;
    Ok(())
}
