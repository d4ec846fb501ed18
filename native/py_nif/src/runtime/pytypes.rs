//! The objects of the `erlang` Python package the NIF uses (looked up once, after
//! start-up): `erlang.Atom`, `erlang.Error`, `erlang.Cancelled`, the registered
//! encoders, numpy's scalar base type once numpy is imported, and numpy itself for
//! `py:array/1` and `py:ndarray/1,2`.
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

static ATOM_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static ERROR_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static CANCELLED_TYPE: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static ENCODERS: PyOnceLock<Py<PyDict>> = PyOnceLock::new();
static NUMPY_GENERIC: PyOnceLock<Py<PyType>> = PyOnceLock::new();

pub fn atom_type(py: Python<'_>) -> &Bound<'_, PyType> {
    ATOM_TYPE
        .get(py)
        .expect("erlang package loaded at start-up")
        .bind(py)
}
pub fn error_type(py: Python<'_>) -> &Bound<'_, PyType> {
    ERROR_TYPE
        .get(py)
        .expect("erlang package loaded at start-up")
        .bind(py)
}
pub fn cancelled_type(py: Python<'_>) -> &Bound<'_, PyType> {
    CANCELLED_TYPE
        .get(py)
        .expect("erlang package loaded at start-up")
        .bind(py)
}
pub fn encoders(py: Python<'_>) -> &Bound<'_, PyDict> {
    ENCODERS
        .get(py)
        .expect("erlang package loaded at start-up")
        .bind(py)
}

/// `numpy.generic`, once numpy has been imported by someone (never imported by us).
pub fn numpy_generic(py: Python<'_>) -> Option<&Bound<'_, PyType>> {
    if let Some(t) = NUMPY_GENERIC.get(py) {
        return Some(t.bind(py));
    }
    let modules = py.import("sys").ok()?.getattr("modules").ok()?;
    let numpy = modules.get_item("numpy").ok()?;
    let generic = numpy.getattr("generic").ok()?.cast_into::<PyType>().ok()?;
    let _ = NUMPY_GENERIC.set(py, generic.unbind());
    NUMPY_GENERIC.get(py).map(|t| t.bind(py))
}

pub use py_core::array::numpy;

/// Called once after start-up, with the GIL: imports the `erlang` package and lets it
/// install its stdout/stderr writers and logging handler.
pub fn setup(py: Python<'_>) -> PyResult<()> {
    let erlang = py.import("erlang")?;
    let _ = ATOM_TYPE.set(py, erlang.getattr("Atom")?.cast_into::<PyType>()?.unbind());
    let _ = ERROR_TYPE.set(py, erlang.getattr("Error")?.cast_into::<PyType>()?.unbind());
    let _ = CANCELLED_TYPE.set(
        py,
        erlang.getattr("Cancelled")?.cast_into::<PyType>()?.unbind(),
    );
    let _ = ENCODERS.set(
        py,
        erlang.getattr("_encoders")?.cast_into::<PyDict>()?.unbind(),
    );
    let config = PyDict::new(py);
    erlang.call_method1("_setup", (config,))?;
    Ok(())
}
