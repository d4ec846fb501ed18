//! One error type for the whole NIF. Errors are data here: a Python exception becomes
//! `Error::Python` (type, message, traceback lines), never a crash. They are rendered
//! to the Erlang reason in one place, `convert::reason`, since a Python value in an
//! error (a dict key, an object that does not convert) renders as a term or a handle.
use py_core::exception::PyErrorData;
use pyo3::prelude::*;

/// One step of the path to a value inside a structure: an index in a list or tuple, or a map key.
pub enum PathElem {
    Index(usize),
    /// A key of an Erlang map, a term living in the source environment of the conversion.
    ErlKey(rustler::sys::ErlNifTerm),
    /// A key of a Python dict; encoded as a term (or a handle) when the error is reported.
    PyKey(Py<PyAny>),
    /// A keyword argument's name.
    Name(String),
}

/// The offending value of an `unsupported` error.
pub enum Culprit {
    /// An Erlang term in the source environment.
    Erl(rustler::sys::ErlNifTerm),
    /// A Python object: reported as a handle.
    Py(Py<PyAny>),
}

pub enum Error {
    /// `{python, Type, Message, Traceback}`
    Python {
        ty: String,
        msg: String,
        tb: Vec<String>,
    },
    /// `{unsupported, Path, Term}`
    Unsupported {
        path: Vec<PathElem>,
        culprit: Culprit,
    },
    /// `{too_deep, Path}`
    TooDeep { path: Vec<PathElem> },
    /// `{cycle, Path}`
    Cycle { path: Vec<PathElem> },
    /// `{context_down, Reason}`
    ContextDown(DownReason),
    /// `{bad_job, Term}`
    BadJob(rustler::sys::ErlNifTerm),
    /// `{not_a_handle, Term}`
    NotAHandle(rustler::sys::ErlNifTerm),
    /// `{python_init_failed, Message}`
    InitFailed(String),
    /// `timeout`
    Timeout,
    /// `{bad_kwargs, Term}`: keyword arguments that are neither a map nor a proper list.
    BadKwargs(rustler::sys::ErlNifTerm),
    /// `{key_collision, Path, Key}`: two keys of one Erlang map (or of the keyword
    /// arguments, or of eval bindings) are one key in Python (`1` and `1.0`, `a` and
    /// `<<"a">>`): refused rather than merged, so no value is silently lost.
    KeyCollision {
        path: Vec<PathElem>,
        key: rustler::sys::ErlNifTerm,
    },
    /// `{too_large, Path}`: a conversion would make more than `max_terms` terms (a
    /// structure whose shared parts expand without bound).
    TooLarge { path: Vec<PathElem> },
    /// `{busy, #{gil_stuck_ms => N}}`: a dirty call refused because the GIL has not
    /// been released for that long (C code holds it); entering would block the
    /// scheduler past any deadline.
    Busy { gil_stuck_ms: u64 },
    /// `{panic, Message}`: a bug in the NIF, caught; the context and the VM carry on.
    Panic(String),
    /// `{wrong_place, Handle}`: a proxy handle (an object of a worker or of another
    /// node) inside a job for this interpreter.
    WrongPlace(rustler::sys::ErlNifTerm),
    /// `{bad_array, Key, Why}`: a field of the map given to `py:ndarray/1,2` is wrong
    /// (a dtype numpy does not know, data whose size is not what shape and dtype need).
    BadArray { key: ArrayKey, why: String },
}

/// The field of a `py:ndarray/1,2` map an error is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArrayKey {
    Shape,
    DType,
    Data,
}

#[derive(Clone, Debug)]
pub enum DownReason {
    OwnerDown,
    Stopped,
    Panic(String),
}

impl Error {
    /// Adds one step to the path of a conversion error while it unwinds, so the path
    /// costs nothing unless a conversion fails.
    pub fn at(mut self, elem: PathElem) -> Self {
        match &mut self {
            Error::Unsupported { path, .. }
            | Error::TooDeep { path }
            | Error::Cycle { path }
            | Error::TooLarge { path }
            | Error::KeyCollision { path, .. } => path.push(elem),
            _ => {}
        }
        self
    }

    /// Turns a Python exception into data (the formatting is py_core's, tested there).
    pub fn from_pyerr(py: Python<'_>, err: PyErr) -> Self {
        let PyErrorData { ty, msg, tb } = py_core::exception::describe(py, &err);
        Error::Python { ty, msg, tb }
    }
}

/// Runs `f`, turning a panic (a bug of ours) into `Error::Panic`: the caller gets an
/// error, and the thread, its context and the VM carry on.
pub fn caught<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|p| Err(Error::Panic(crate::base::env::panic_message(&*p))))
}
