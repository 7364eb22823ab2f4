//! `Diff`: what changed between two versions, or in a session.

use icechunk::Diff;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PySet};

/// What changed between two versions (or in a session). Paths are absolute ("/a/b").
#[pyclass(name = "Diff", module = "icechunk._icechunk", frozen)]
pub struct PyDiff(pub Diff);

#[pymethods]
impl PyDiff {
    #[getter]
    fn new_groups<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PySet>> {
        PySet::new(py, &self.0.new_groups)
    }
    #[getter]
    fn new_arrays<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PySet>> {
        PySet::new(py, &self.0.new_arrays)
    }
    #[getter]
    fn deleted_groups<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PySet>> {
        PySet::new(py, &self.0.deleted_groups)
    }
    #[getter]
    fn deleted_arrays<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PySet>> {
        PySet::new(py, &self.0.deleted_arrays)
    }
    #[getter]
    fn updated_groups<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PySet>> {
        PySet::new(py, &self.0.updated_groups)
    }
    #[getter]
    fn updated_arrays<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PySet>> {
        PySet::new(py, &self.0.updated_arrays)
    }
    /// Array path -> sorted list of the chunk coordinates (lists, as Icechunk) written.
    #[getter]
    fn updated_chunks<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let out = PyDict::new(py);
        for (path, coords) in &self.0.updated_chunks {
            let list = PyList::empty(py);
            for c in coords {
                list.append(PyList::new(py, c)?)?;
            }
            out.set_item(path, list)?;
        }
        Ok(out)
    }
    /// (from, to) per moved node, sorted by `to`.
    #[getter]
    fn moved_nodes(&self) -> Vec<(String, String)> {
        self.0.moved_nodes.clone()
    }
    fn is_empty(&self) -> bool {
        let d = &self.0;
        d.new_groups.is_empty()
            && d.new_arrays.is_empty()
            && d.deleted_groups.is_empty()
            && d.deleted_arrays.is_empty()
            && d.updated_groups.is_empty()
            && d.updated_arrays.is_empty()
            && d.updated_chunks.is_empty()
            && d.moved_nodes.is_empty()
    }
    fn __repr__(&self) -> String {
        let d = &self.0;
        let chunks: usize = d.updated_chunks.values().map(|c| c.len()).sum();
        let moved: Vec<String> =
            d.moved_nodes.iter().map(|(from, to)| format!("('{from}', '{to}')")).collect();
        format!(
            "Diff(new_groups={}, new_arrays={}, deleted_groups={}, deleted_arrays={}, \
             updated_groups={}, updated_arrays={}, updated_chunks=<{} chunks in {} arrays>, \
             moved_nodes=[{}])",
            py_set(&d.new_groups),
            py_set(&d.new_arrays),
            py_set(&d.deleted_groups),
            py_set(&d.deleted_arrays),
            py_set(&d.updated_groups),
            py_set(&d.updated_arrays),
            chunks,
            d.updated_chunks.len(),
            moved.join(", ")
        )
    }
}

/// A set of paths as Python shows one.
fn py_set(paths: &std::collections::BTreeSet<String>) -> String {
    if paths.is_empty() {
        return "set()".to_string();
    }
    let items: Vec<String> = paths.iter().map(|p| format!("'{p}'")).collect();
    format!("{{{}}}", items.join(", "))
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDiff>()
}
