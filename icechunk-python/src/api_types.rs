//! Small classes of Icechunk 2.x's API: the enums `RepoAvailability` and `SpecVersion`
//! (`ChunkType` and `SessionMode` are the session's, in `session.rs`), and the value classes
//! `RepoStatus`, `Attribution`, `FeatureFlag`, `ManifestFileInfo`, `Update`, `UpdateType` and
//! `AncestryGraph`.
//!
//! The value classes that the repository hands out (`FeatureFlag`, `ManifestFileInfo`,
//! `Update`, `AncestryGraph`) have no Python constructor, as in Icechunk 2.x; Rust code builds
//! them through their public fields.

use chrono::{DateTime, SubsecRound, Utc};
use icechunk::storage::Attribution;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use crate::cloud::credentials::to_utc;
use crate::errors::CoreResultExt;

/// What `__reduce__` of a simple enum member returns: `(getattr, (cls, name))`.
pub type ReducedMember<'py> = PyResult<(Bound<'py, PyAny>, (Bound<'py, PyAny>, String))>;

/// `__reduce__` of a simple enum member: `getattr(cls, name)`.
pub fn reduce_member<'py, T: pyo3::PyClass>(slf: &Bound<'py, T>, name: &str) -> ReducedMember<'py> {
    let getattr = slf.py().import("builtins")?.getattr("getattr")?;
    Ok((getattr, (slf.as_any().get_type().into_any(), name.to_string())))
}

/// Whether a repository takes writes.
#[pyclass(name = "RepoAvailability", module = "icechunk._icechunk", eq, eq_int, hash, frozen, from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PyRepoAvailability {
    #[pyo3(name = "online")]
    Online = 0,
    #[pyo3(name = "read_only")]
    ReadOnly = 1,
}

#[pymethods]
impl PyRepoAvailability {
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> ReducedMember<'py> {
        let name = match *slf.get() {
            PyRepoAvailability::Online => "online",
            PyRepoAvailability::ReadOnly => "read_only",
        };
        reduce_member(slf, name)
    }
}

/// The versions of the on-storage format (spec/format.md). There is one: version 1.
#[pyclass(name = "SpecVersion", module = "icechunk._icechunk", eq, eq_int, ord, hash, frozen, from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum PySpecVersion {
    #[pyo3(name = "v1")]
    V1 = 1,
}

#[pymethods]
impl PySpecVersion {
    /// The version this library writes.
    #[staticmethod]
    pub fn current() -> Self {
        PySpecVersion::V1
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> ReducedMember<'py> {
        reduce_member(slf, "v1")
    }
}

/// The format version this library writes.
#[pyfunction]
pub fn spec_version() -> PySpecVersion {
    PySpecVersion::current()
}

/// The `User-Agent` of this library's requests to object stores.
#[pyfunction]
pub fn user_agent() -> &'static str {
    icechunk::storage::USER_AGENT
}

/// Whether a repository takes writes, since when, and why not.
#[pyclass(name = "RepoStatus", module = "icechunk._icechunk", eq, get_all, from_py_object)]
#[derive(Clone, PartialEq)]
pub struct PyRepoStatus {
    pub availability: PyRepoAvailability,
    pub set_at: DateTime<Utc>,
    pub limited_availability_reason: Option<String>,
}

#[pymethods]
impl PyRepoStatus {
    #[new]
    #[pyo3(signature = (availability, set_at=None, limited_availability_reason=None))]
    fn new(
        availability: PyRepoAvailability,
        set_at: Option<&Bound<'_, PyAny>>,
        limited_availability_reason: Option<String>,
    ) -> PyResult<Self> {
        let set_at = match set_at.filter(|s| !s.is_none()) {
            Some(when) => to_utc(when)?,
            // Python's datetimes stop at microseconds: so does this one, to pickle exactly.
            None => Utc::now().trunc_subsecs(6),
        };
        Ok(PyRepoStatus { availability, set_at, limited_availability_reason })
    }

    fn __repr__(&self) -> String {
        format!(
            "RepoStatus(availability=RepoAvailability.{}, set_at='{}', limited_availability_reason={})",
            match self.availability {
                PyRepoAvailability::Online => "online",
                PyRepoAvailability::ReadOnly => "read_only",
            },
            self.set_at.to_rfc3339(),
            self.limited_availability_reason
                .as_ref()
                .map_or_else(|| "None".to_string(), |r| format!("{r:?}"))
        )
    }

    fn __getnewargs__(&self) -> (PyRepoAvailability, DateTime<Utc>, Option<String>) {
        (self.availability, self.set_at, self.limited_availability_reason.clone())
    }
}

/// Labels for the `User-Agent` of a repository's requests: which software (`client`), doing
/// what (`workload`), for whom (`principal`), so that a bucket's access logs can tell them
/// apart. The engine's `Attribution` checks them (as Icechunk 2.3 documents) and lays out the
/// header.
#[pyclass(name = "Attribution", module = "icechunk._icechunk", eq, get_all, frozen, from_py_object)]
#[derive(Clone, PartialEq, Debug)]
pub struct PyAttribution {
    pub client: Option<String>,
    pub workload: Option<String>,
    pub principal: Option<String>,
}

impl PyAttribution {
    /// The engine's attribution, which checks the labels and makes the `User-Agent`.
    pub fn to_core(&self) -> Attribution {
        Attribution {
            client: self.client.clone(),
            workload: self.workload.clone(),
            principal: self.principal.clone(),
        }
    }
}

#[pymethods]
impl PyAttribution {
    #[new]
    #[pyo3(signature = (*, client=None, workload=None, principal=None))]
    fn new(client: Option<String>, workload: Option<String>, principal: Option<String>) -> PyResult<Self> {
        let this = PyAttribution { client, workload, principal };
        this.to_core().validate().py()?;
        Ok(this)
    }

    fn __repr__(&self) -> String {
        let show = |v: &Option<String>| v.as_ref().map_or_else(|| "None".to_string(), |s| format!("{s:?}"));
        format!(
            "Attribution(client={}, workload={}, principal={})",
            show(&self.client),
            show(&self.workload),
            show(&self.principal)
        )
    }

    fn __getnewargs_ex__<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyTuple>, Bound<'py, PyDict>)> {
        let kwargs = PyDict::new(py);
        kwargs.set_item("client", self.client.clone())?;
        kwargs.set_item("workload", self.workload.clone())?;
        kwargs.set_item("principal", self.principal.clone())?;
        Ok((PyTuple::empty(py), kwargs))
    }
}

/// A repository feature that can be switched on or off.
#[pyclass(name = "FeatureFlag", module = "icechunk._icechunk", eq, get_all, frozen)]
#[derive(Clone, PartialEq, Debug)]
pub struct PyFeatureFlag {
    pub id: u32,
    pub name: String,
    pub default_enabled: bool,
    /// The repository's explicit setting, if any.
    pub setting: Option<bool>,
}

#[pymethods]
impl PyFeatureFlag {
    /// The setting, or the default without one.
    #[getter]
    fn enabled(&self) -> bool {
        self.setting.unwrap_or(self.default_enabled)
    }

    fn __repr__(&self) -> String {
        format!(
            "FeatureFlag(id={}, name={:?}, default_enabled={}, setting={}, enabled={})",
            self.id,
            self.name,
            py_bool(self.default_enabled),
            self.setting.map_or("None", py_bool),
            py_bool(self.enabled())
        )
    }
}

fn py_bool(b: bool) -> &'static str {
    if b {
        "True"
    } else {
        "False"
    }
}

/// One manifest object of a snapshot.
#[pyclass(name = "ManifestFileInfo", module = "icechunk._icechunk", eq, get_all, frozen)]
#[derive(Clone, PartialEq, Debug)]
pub struct PyManifestFileInfo {
    pub id: String,
    pub size_bytes: u64,
    pub num_chunk_refs: u64,
}

#[pymethods]
impl PyManifestFileInfo {
    fn __repr__(&self) -> String {
        format!(
            "ManifestFileInfo(id={:?}, size_bytes={}, num_chunk_refs={})",
            self.id, self.size_bytes, self.num_chunk_refs
        )
    }
}

/// What an entry of the repository's operations log records.
#[pyclass(name = "UpdateType", module = "icechunk._icechunk", eq, from_py_object)]
#[derive(Clone, PartialEq)]
pub enum PyUpdateType {
    RepoInitialized(),
    RepoMigrated { from_version: u8, to_version: u8 },
    RepoStatusChanged { status: PyRepoStatus },
    ConfigChanged(),
    MetadataChanged(),
    FeatureFlagChanged { id: u32, new_value: Option<bool> },
    TagCreated { name: String },
    TagDeleted { name: String, previous_snap_id: String },
    BranchCreated { name: String },
    BranchDeleted { name: String, previous_snap_id: String },
    BranchReset { name: String, previous_snap_id: String },
    NewCommit { branch: String, new_snap_id: String },
    CommitAmended { branch: String, previous_snap_id: String, new_snap_id: String },
    NewDetachedSnapshot { new_snap_id: String },
    GCRan(),
    ExpirationRan(),
}

#[pymethods]
impl PyUpdateType {
    fn __repr__(&self) -> String {
        use PyUpdateType::*;
        match self {
            RepoInitialized() => "UpdateType.RepoInitialized()".into(),
            RepoMigrated { from_version, to_version } => {
                format!("UpdateType.RepoMigrated(from_version={from_version}, to_version={to_version})")
            }
            RepoStatusChanged { status } => {
                format!("UpdateType.RepoStatusChanged(status={})", status.__repr__())
            }
            ConfigChanged() => "UpdateType.ConfigChanged()".into(),
            MetadataChanged() => "UpdateType.MetadataChanged()".into(),
            FeatureFlagChanged { id, new_value } => {
                format!(
                    "UpdateType.FeatureFlagChanged(id={id}, new_value={})",
                    new_value.map_or("None", py_bool)
                )
            }
            TagCreated { name } => format!("UpdateType.TagCreated(name={name:?})"),
            TagDeleted { name, previous_snap_id } => {
                format!("UpdateType.TagDeleted(name={name:?}, previous_snap_id={previous_snap_id:?})")
            }
            BranchCreated { name } => format!("UpdateType.BranchCreated(name={name:?})"),
            BranchDeleted { name, previous_snap_id } => {
                format!("UpdateType.BranchDeleted(name={name:?}, previous_snap_id={previous_snap_id:?})")
            }
            BranchReset { name, previous_snap_id } => {
                format!("UpdateType.BranchReset(name={name:?}, previous_snap_id={previous_snap_id:?})")
            }
            NewCommit { branch, new_snap_id } => {
                format!("UpdateType.NewCommit(branch={branch:?}, new_snap_id={new_snap_id:?})")
            }
            CommitAmended { branch, previous_snap_id, new_snap_id } => format!(
                "UpdateType.CommitAmended(branch={branch:?}, previous_snap_id={previous_snap_id:?}, \
                 new_snap_id={new_snap_id:?})"
            ),
            NewDetachedSnapshot { new_snap_id } => {
                format!("UpdateType.NewDetachedSnapshot(new_snap_id={new_snap_id:?})")
            }
            GCRan() => "UpdateType.GCRan()".into(),
            ExpirationRan() => "UpdateType.ExpirationRan()".into(),
        }
    }

    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyTuple>)> {
        use PyUpdateType::*;
        let py = slf.py();
        let value = slf.borrow().clone();
        let args: Vec<Bound<'py, PyAny>> = match value {
            RepoInitialized() | ConfigChanged() | MetadataChanged() | GCRan() | ExpirationRan() => vec![],
            RepoMigrated { from_version, to_version } => {
                vec![from_version.into_pyobject(py)?.into_any(), to_version.into_pyobject(py)?.into_any()]
            }
            RepoStatusChanged { status } => vec![status.into_pyobject(py)?.into_any()],
            FeatureFlagChanged { id, new_value } => {
                vec![id.into_pyobject(py)?.into_any(), new_value.into_pyobject(py)?.into_any()]
            }
            TagCreated { name } | BranchCreated { name } => vec![name.into_pyobject(py)?.into_any()],
            TagDeleted { name, previous_snap_id }
            | BranchDeleted { name, previous_snap_id }
            | BranchReset { name, previous_snap_id } => {
                vec![name.into_pyobject(py)?.into_any(), previous_snap_id.into_pyobject(py)?.into_any()]
            }
            NewCommit { branch, new_snap_id } => {
                vec![branch.into_pyobject(py)?.into_any(), new_snap_id.into_pyobject(py)?.into_any()]
            }
            CommitAmended { branch, previous_snap_id, new_snap_id } => vec![
                branch.into_pyobject(py)?.into_any(),
                previous_snap_id.into_pyobject(py)?.into_any(),
                new_snap_id.into_pyobject(py)?.into_any(),
            ],
            NewDetachedSnapshot { new_snap_id } => vec![new_snap_id.into_pyobject(py)?.into_any()],
        };
        Ok((slf.as_any().get_type().into_any(), PyTuple::new(py, args)?))
    }
}

/// One entry of the repository's operations log.
#[pyclass(name = "Update", module = "icechunk._icechunk", eq, get_all, frozen)]
#[derive(Clone, PartialEq)]
pub struct PyUpdate {
    pub kind: PyUpdateType,
    pub updated_at: DateTime<Utc>,
    pub backup_path: Option<String>,
}

#[pymethods]
impl PyUpdate {
    fn __repr__(&self) -> String {
        format!(
            "Update(kind={}, updated_at='{}', backup_path={})",
            self.kind.__repr__(),
            self.updated_at.to_rfc3339(),
            self.backup_path.as_ref().map_or_else(|| "None".to_string(), |p| format!("{p:?}"))
        )
    }
}

/// A drawing of a repository's history: `print()` it (colors when `ansi`), or let Jupyter
/// show its SVG.
#[pyclass(name = "AncestryGraph", module = "icechunk._icechunk", frozen)]
#[derive(Clone, Debug)]
pub struct PyAncestryGraph {
    /// The drawing as text, possibly with ANSI color codes.
    pub text: String,
    /// The drawing as an SVG document.
    pub svg: String,
}

#[pymethods]
impl PyAncestryGraph {
    fn __str__(&self) -> String {
        self.text.clone()
    }

    fn __repr__(&self) -> String {
        format!("AncestryGraph({} lines)", self.text.lines().count())
    }

    /// The SVG, for Jupyter.
    fn _repr_svg_(&self) -> String {
        self.svg.clone()
    }
}

/// One instance of each value class that has no Python constructor, for tests.
#[pyfunction]
fn _api_samples(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let out = PyDict::new(py);
    out.set_item(
        "FeatureFlag",
        PyFeatureFlag { id: 1, name: "move_node".into(), default_enabled: true, setting: Some(false) },
    )?;
    out.set_item(
        "ManifestFileInfo",
        PyManifestFileInfo { id: "0123456789ABCDEFGHJK".into(), size_bytes: 1024, num_chunk_refs: 8 },
    )?;
    let when = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap_or_default();
    let kind = PyUpdateType::NewCommit { branch: "main".into(), new_snap_id: "0123456789ABCDEFGHJK".into() };
    out.set_item("Update", PyUpdate { kind, updated_at: when, backup_path: None })?;
    out.set_item(
        "AncestryGraph",
        PyAncestryGraph { text: "* 0123456789ABCDEFGHJK first\n".into(), svg: "<svg></svg>".into() },
    )?;
    Ok(out)
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyRepoAvailability>()?;
    m.add_class::<PySpecVersion>()?;
    m.add_class::<PyRepoStatus>()?;
    m.add_class::<PyAttribution>()?;
    m.add_class::<PyFeatureFlag>()?;
    m.add_class::<PyManifestFileInfo>()?;
    m.add_class::<PyUpdateType>()?;
    m.add_class::<PyUpdate>()?;
    m.add_class::<PyAncestryGraph>()?;
    m.add_function(wrap_pyfunction!(spec_version, m)?)?;
    m.add_function(wrap_pyfunction!(user_agent, m)?)?;
    m.add_function(wrap_pyfunction!(_api_samples, m)?)?;
    Ok(())
}
