//! Conflict solvers for `Session.rebase` and `commit(rebase_with=...)`: Python classes that
//! hold the core's solver, so a rebase hands the core the very object the user built.

use std::sync::Arc;

use icechunk::conflicts::{BasicConflictSolver, ConflictDetector, ConflictSolver, VersionSelection};
use pyo3::prelude::*;

/// Which side wins a chunk both sides wrote.
#[pyclass(name = "VersionSelection", module = "icechunk._icechunk", eq, eq_int, frozen, from_py_object)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum PyVersionSelection {
    Fail = 0,
    UseOurs = 1,
    UseTheirs = 2,
}

/// `name`, `value` and lookup by value (`VersionSelection(1)`), as with a Python `enum.Enum`.
#[pymethods]
impl PyVersionSelection {
    #[new]
    fn new(value: u8) -> PyResult<Self> {
        match value {
            0 => Ok(PyVersionSelection::Fail),
            1 => Ok(PyVersionSelection::UseOurs),
            2 => Ok(PyVersionSelection::UseTheirs),
            other => Err(pyo3::exceptions::PyValueError::new_err(format!(
                "{other} is not a valid VersionSelection (0 Fail, 1 UseOurs, 2 UseTheirs)"
            ))),
        }
    }

    #[getter]
    fn name(&self) -> String {
        format!("{self:?}")
    }

    #[getter]
    fn value(&self) -> u8 {
        *self as u8
    }
}

impl From<PyVersionSelection> for VersionSelection {
    fn from(v: PyVersionSelection) -> Self {
        match v {
            PyVersionSelection::Fail => VersionSelection::Fail,
            PyVersionSelection::UseOurs => VersionSelection::UseOurs,
            PyVersionSelection::UseTheirs => VersionSelection::UseTheirs,
        }
    }
}

/// The base class of conflict solvers; use `ConflictDetector` or `BasicConflictSolver`.
#[pyclass(name = "ConflictSolver", module = "icechunk._icechunk", subclass, frozen)]
pub struct PyConflictSolver {
    pub solver: Arc<dyn ConflictSolver>,
}

/// Fails the rebase on any conflict; disjoint changes rebase cleanly.
#[pyclass(name = "ConflictDetector", module = "icechunk._icechunk", extends = PyConflictSolver, frozen)]
pub struct PyConflictDetector;

#[pymethods]
impl PyConflictDetector {
    #[new]
    fn new() -> PyClassInitializer<Self> {
        PyClassInitializer::from(PyConflictSolver { solver: Arc::new(ConflictDetector) })
            .add_subclass(PyConflictDetector)
    }

    fn __repr__(&self) -> &'static str {
        "ConflictDetector()"
    }
}

/// Settles chunks both sides wrote per `on_chunk_conflict` (`UseOurs` keeps ours, `UseTheirs`
/// drops ours, `Fail` fails); our deletion of a node they updated wins unless
/// `fail_on_delete_of_updated_array` / `..._group`. Other conflicts fail.
#[pyclass(name = "BasicConflictSolver", module = "icechunk._icechunk", extends = PyConflictSolver, frozen)]
pub struct PyBasicConflictSolver {
    #[pyo3(get)]
    on_chunk_conflict: PyVersionSelection,
    #[pyo3(get)]
    fail_on_delete_of_updated_array: bool,
    #[pyo3(get)]
    fail_on_delete_of_updated_group: bool,
}

#[pymethods]
impl PyBasicConflictSolver {
    #[new]
    #[pyo3(signature = (*, on_chunk_conflict=PyVersionSelection::UseOurs,
        fail_on_delete_of_updated_array=false, fail_on_delete_of_updated_group=false))]
    fn new(
        on_chunk_conflict: PyVersionSelection,
        fail_on_delete_of_updated_array: bool,
        fail_on_delete_of_updated_group: bool,
    ) -> PyClassInitializer<Self> {
        let solver = BasicConflictSolver {
            on_chunk_conflict: on_chunk_conflict.into(),
            fail_on_delete_of_updated_array,
            fail_on_delete_of_updated_group,
        };
        let this = PyBasicConflictSolver {
            on_chunk_conflict,
            fail_on_delete_of_updated_array,
            fail_on_delete_of_updated_group,
        };
        PyClassInitializer::from(PyConflictSolver { solver: Arc::new(solver) }).add_subclass(this)
    }

    fn __repr__(&self) -> String {
        let py_bool = |b: bool| if b { "True" } else { "False" };
        format!(
            "BasicConflictSolver(on_chunk_conflict=VersionSelection.{:?}, \
             fail_on_delete_of_updated_array={}, fail_on_delete_of_updated_group={})",
            self.on_chunk_conflict,
            py_bool(self.fail_on_delete_of_updated_array),
            py_bool(self.fail_on_delete_of_updated_group)
        )
    }
}

pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyVersionSelection>()?;
    m.add_class::<PyConflictSolver>()?;
    m.add_class::<PyConflictDetector>()?;
    m.add_class::<PyBasicConflictSolver>()?;
    Ok(())
}
