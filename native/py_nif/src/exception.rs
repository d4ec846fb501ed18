//! A Python exception as data: `{python, Type, Message, Traceback}`.
use crate::error::Error;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyList;

static FORMAT_EXCEPTION: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

pub fn describe(py: Python<'_>, err: PyErr) -> Error {
    let ty = err.get_type(py);
    let module: String = ty.getattr("__module__").and_then(|m| m.extract()).unwrap_or_else(|_| "builtins".into());
    let qualname: String = ty.getattr("__qualname__").and_then(|m| m.extract()).unwrap_or_else(|_| "?".into());
    let value = err.value(py);
    let msg = value.str().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|_| "<unprintable>".into());
    Error::Python { ty: format!("{module}.{qualname}"), msg, tb: traceback(py, &err) }
}

/// The traceback as lines. The type, value and traceback all go to
/// `traceback.format_exception`: on 3.11 the value alone yields no frames.
fn traceback(py: Python<'_>, err: &PyErr) -> Vec<String> {
    let format = FORMAT_EXCEPTION.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py.import("traceback")?.getattr("format_exception")?.unbind())
    });
    let Ok(format) = format else { return Vec::new() };
    let tb = err.traceback(py).map(|t| t.into_any()).unwrap_or_else(|| py.None().into_bound(py));
    let lines = format.bind(py).call1((err.get_type(py), err.value(py), tb));
    match lines.and_then(|l| l.cast_into::<PyList>().map_err(PyErr::from)) {
        Ok(list) => list
            .iter()
            .filter_map(|chunk| chunk.extract::<String>().ok())
            .flat_map(|chunk| chunk.lines().map(str::to_owned).collect::<Vec<_>>())
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// One line of text, for start-up failures reported through the log.
pub fn describe_text(py: Python<'_>, err: PyErr) -> String {
    match describe(py, err) {
        Error::Python { ty, msg, .. } => format!("{ty}: {msg}"),
        _ => "unknown error".into(),
    }
}
