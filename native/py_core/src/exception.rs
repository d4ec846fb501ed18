//! A Python exception as data: qualified type name, message, traceback lines.
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyList;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyErrorData {
    /// `module.qualname`, e.g. `builtins.ValueError`.
    pub ty: String,
    /// `str(exc)`.
    pub msg: String,
    /// `traceback.format_exception(type, value, tb)`, one line each.
    pub tb: Vec<String>,
}

static FORMAT_EXCEPTION: PyOnceLock<Py<PyAny>> = PyOnceLock::new();

pub fn describe(py: Python<'_>, err: &PyErr) -> PyErrorData {
    let ty = err.get_type(py);
    let module: String = ty
        .getattr("__module__")
        .and_then(|m| m.extract())
        .unwrap_or_else(|_| "builtins".into());
    let qualname: String = ty
        .getattr("__qualname__")
        .and_then(|m| m.extract())
        .unwrap_or_else(|_| "?".into());
    let msg = err
        .value(py)
        .str()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "<unprintable>".into());
    PyErrorData {
        ty: format!("{module}.{qualname}"),
        msg,
        tb: traceback(py, err),
    }
}

/// The type, value and traceback all go to `traceback.format_exception`: on 3.11 the
/// value alone yields no frames.
fn traceback(py: Python<'_>, err: &PyErr) -> Vec<String> {
    let format = FORMAT_EXCEPTION.get_or_try_init(py, || -> PyResult<Py<PyAny>> {
        Ok(py
            .import("traceback")?
            .getattr("format_exception")?
            .unbind())
    });
    let Ok(format) = format else {
        return Vec::new();
    };
    let tb = err
        .traceback(py)
        .map(|t| t.into_any())
        .unwrap_or_else(|| py.None().into_bound(py));
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

impl std::fmt::Display for PyErrorData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.ty, self.msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exceptions_become_type_message_and_traceback_lines() {
        Python::initialize();
        Python::attach(|py| {
            let code =
                c"def inner():\n    raise ValueError('bad value')\ndef outer():\n    inner()\n";
            let m = pyo3::types::PyModule::from_code(py, code, c"tb_test.py", c"tb_test").unwrap();
            let err = m.getattr("outer").unwrap().call0().unwrap_err();
            let d = describe(py, &err);
            assert_eq!(d.ty, "builtins.ValueError");
            assert_eq!(d.msg, "bad value");
            assert_eq!(
                d.tb.first().map(String::as_str),
                Some("Traceback (most recent call last):")
            );
            assert!(d.tb.iter().any(|l| l.contains("in inner")), "{:?}", d.tb);
            assert!(d.tb.iter().any(|l| l.contains("in outer")), "{:?}", d.tb);
            assert_eq!(
                d.tb.last().map(String::as_str),
                Some("ValueError: bad value")
            );
            assert!(d.tb.iter().all(|l| !l.contains('\n')), "one line each");
        });
    }

    #[test]
    fn qualified_names_and_display() {
        Python::initialize();
        Python::attach(|py| {
            let err = py
                .import("json")
                .unwrap()
                .getattr("loads")
                .unwrap()
                .call1(("{",))
                .unwrap_err();
            assert_eq!(describe(py, &err).ty, "json.decoder.JSONDecodeError");
            let k = describe(py, &pyo3::exceptions::PyKeyError::new_err("k"));
            assert_eq!(k.to_string(), "builtins.KeyError: 'k'");
            assert_eq!(
                k.tb,
                vec!["KeyError: 'k'".to_string()],
                "no frames: no Traceback header"
            );
        });
    }
}
