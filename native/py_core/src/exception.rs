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

/// A `str` as UTF-8; lone surrogates (which UTF-8 cannot hold) are written as
/// `\udcff` escapes, as Python's own error output does, rather than lost.
fn text(s: &Bound<'_, PyAny>) -> Option<String> {
    if let Ok(s) = s.extract::<String>() {
        return Some(s);
    }
    let bytes = s
        .call_method1("encode", ("utf-8", "backslashreplace"))
        .ok()?;
    let bytes = bytes.cast::<pyo3::types::PyBytes>().ok()?;
    Some(String::from_utf8_lossy(bytes.as_bytes()).into_owned())
}

pub fn describe(py: Python<'_>, err: &PyErr) -> PyErrorData {
    let ty = err.get_type(py);
    let module = ty
        .getattr("__module__")
        .ok()
        .and_then(|m| text(&m))
        .unwrap_or_else(|| "builtins".into());
    let qualname = ty
        .getattr("__qualname__")
        .ok()
        .and_then(|m| text(&m))
        .unwrap_or_else(|| "?".into());
    let msg = err
        .value(py)
        .str()
        .ok()
        .and_then(|s| text(s.as_any()))
        .unwrap_or_else(|| "<unprintable>".into());
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
            .filter_map(|chunk| text(&chunk))
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
        crate::testing::with_py(|py| {
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
    fn lone_surrogates_in_names_and_messages_are_escaped_not_lost() {
        crate::testing::with_py(|py| {
            let code = c"class E(Exception): pass\nE.__qualname__ = 'E\\udcff'\ndef f():\n    raise E('bad \\ud800 value')\n";
            let m = pyo3::types::PyModule::from_code(py, code, c"sur.py", c"sur").unwrap();
            let err = m.getattr("f").unwrap().call0().unwrap_err();
            let d = describe(py, &err);
            assert_eq!(d.ty, "sur.E\\udcff");
            assert_eq!(d.msg, "bad \\ud800 value");
            assert_eq!(
                d.tb.last().map(String::as_str),
                Some("sur.E\\udcff: bad \\ud800 value"),
                "{:?}",
                d.tb
            );
            assert!(d.tb.iter().any(|l| l.contains("in f")), "{:?}", d.tb);
        });
    }

    #[test]
    fn qualified_names_and_display() {
        crate::testing::with_py(|py| {
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
