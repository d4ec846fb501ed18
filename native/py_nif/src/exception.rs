//! A Python exception as the NIF's error: `{python, Type, Message, Traceback}`. The
//! formatting itself is py_core's (tested there).
use crate::error::Error;
use py_core::exception::PyErrorData;
use pyo3::prelude::*;

pub fn describe(py: Python<'_>, err: PyErr) -> Error {
    let PyErrorData { ty, msg, tb } = py_core::exception::describe(py, &err);
    Error::Python { ty, msg, tb }
}

/// One line of text, for start-up failures reported through the log.
pub fn describe_text(py: Python<'_>, err: PyErr) -> String {
    py_core::exception::describe(py, &err).to_string()
}
