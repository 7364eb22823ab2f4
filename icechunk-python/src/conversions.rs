//! Small conversions between Python values and core types.

use chrono::{DateTime, Utc};
use icechunk::{SnapshotId, VersionInfo};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

use crate::errors::invalid_input;

pub type JsonMap = Map<String, Value>;

pub fn parse_snapshot_id(id: &str) -> PyResult<SnapshotId> {
    id.parse::<SnapshotId>().map_err(|_| invalid_input(format!("`{id}` is not a snapshot id")))
}

/// Exactly one of branch / tag / snapshot id; `as_of` only together with a branch.
pub fn version_info(
    branch: Option<String>,
    tag: Option<String>,
    snapshot_id: Option<String>,
    as_of: Option<DateTime<Utc>>,
) -> PyResult<VersionInfo> {
    match (branch, tag, snapshot_id, as_of) {
        (Some(branch), None, None, None) => Ok(VersionInfo::BranchTip(branch)),
        (Some(branch), None, None, Some(at)) => Ok(VersionInfo::AsOf { branch, at }),
        (None, Some(tag), None, None) => Ok(VersionInfo::Tag(tag)),
        (None, None, Some(id), None) => Ok(VersionInfo::Snapshot(parse_snapshot_id(&id)?)),
        (None, None, None, Some(_)) => Err(invalid_input("as_of needs a branch")),
        _ => Err(invalid_input("give exactly one of branch, tag or snapshot_id (as_of goes with branch)")),
    }
}

/// A JSON-like Python value (dict, list, tuple, str, int, float, bool, None) to JSON.
pub fn to_json(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if obj.is_instance_of::<PyInt>() {
        if let Ok(i) = obj.extract::<i64>() {
            return Ok(Value::from(i));
        }
        return Ok(Value::from(obj.extract::<u64>()?));
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        return Number::from_f64(f.value())
            .map(Value::Number)
            .ok_or_else(|| invalid_input("metadata cannot hold NaN or infinity"));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_str()?.to_owned()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        return Ok(Value::Object(dict_to_json(d)?));
    }
    if let Ok(l) = obj.cast::<PyList>() {
        return l.iter().map(|v| to_json(&v)).collect::<PyResult<_>>().map(Value::Array);
    }
    if let Ok(t) = obj.cast::<PyTuple>() {
        return t.iter().map(|v| to_json(&v)).collect::<PyResult<_>>().map(Value::Array);
    }
    Err(PyTypeError::new_err(format!(
        "metadata values must be JSON-like (dict, list, str, int, float, bool, None), got {}",
        obj.get_type().name()?
    )))
}

pub fn dict_to_json(d: &Bound<'_, PyDict>) -> PyResult<JsonMap> {
    let mut map = JsonMap::new();
    for (k, v) in d.iter() {
        let key = k.cast::<PyString>().map_err(|_| PyTypeError::new_err("metadata keys must be str"))?;
        map.insert(key.to_str()?.to_owned(), to_json(&v)?);
    }
    Ok(map)
}

pub fn json_to_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(json_to_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => map_to_py(py, map)?.into_any(),
    })
}

pub fn map_to_py<'py>(py: Python<'py>, map: &JsonMap) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (k, v) in map {
        dict.set_item(k, json_to_py(py, v)?)?;
    }
    Ok(dict)
}

/// A JSON value on its way to Python (as dicts, lists, str, int, float, bool, None): what the
/// async twins return when the result is a JSON document.
pub struct Json(pub Value);

impl<'py> IntoPyObject<'py> for Json {
    type Target = PyAny;
    type Output = Bound<'py, PyAny>;
    type Error = PyErr;

    fn into_pyobject(self, py: Python<'py>) -> PyResult<Self::Output> {
        json_to_py(py, &self.0)
    }
}
