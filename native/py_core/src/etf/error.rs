//! Conversion failures as data, as `py_nif`'s `base::error` has them: each says where
//! (a [`PathElem`] list, outermost first) and what. [`super::Writer::error`] renders
//! them to the Erlang reason.
use pyo3::prelude::*;

/// One step of the path to a value inside a structure.
#[derive(Debug)]
pub enum PathElem {
    /// A 0-based position in a list or tuple (or a call's argument).
    Index(usize),
    /// A key of an Erlang map: the raw ETF bytes of the key term (no 131).
    Key(Vec<u8>),
    /// A key of a Python dict: rendered as its term (or a handle if it has none).
    PyKey(Py<PyAny>),
    /// A keyword argument's or a binding's name (rendered as a binary).
    Name(String),
}

/// The offending value of an `unsupported` error.
#[derive(Debug)]
pub enum Unsupported {
    /// An Erlang term: its raw ETF bytes (no 131).
    Term(Vec<u8>),
    /// A Python object: rendered as a handle.
    Object(Py<PyAny>),
}

/// Why a conversion failed.
#[derive(Debug)]
pub enum EtfError {
    /// `{unsupported, Path, Term}`
    Unsupported {
        path: Vec<PathElem>,
        what: Unsupported,
    },
    /// `{too_deep, Path}`
    TooDeep { path: Vec<PathElem> },
    /// `{too_large, Path}`
    TooLarge { path: Vec<PathElem> },
    /// `{key_collision, Path, Key}`: the raw ETF of the key term (the later of the two).
    KeyCollision { path: Vec<PathElem>, key: Vec<u8> },
    /// `{cycle, Path}`
    Cycle { path: Vec<PathElem> },
    /// `{no_handle, Id}`: a marker names an object the table does not have.
    NoHandle(u64),
    /// `{bad_kwargs, Kw}`: keyword arguments that are neither a map nor a proper list
    /// of pairs (the raw ETF of `Kw`).
    BadKwargs(Vec<u8>),
    /// `{bad_etf, Msg}`: the bytes are not a term as `term_to_binary/1` writes them.
    Malformed(String),
    /// `{python, Type, Msg, Traceback}`
    Python(PyErr),
}

impl EtfError {
    /// Puts `elem` in front of the path (a conversion's caller adds where the value
    /// was: an argument's position, a keyword's name). Errors without a path are unchanged.
    pub fn at(mut self, elem: PathElem) -> Self {
        if let Some(path) = self.path_mut() {
            path.insert(0, elem);
        }
        self
    }

    /// The path, for the errors that have one.
    pub fn path(&self) -> Option<&[PathElem]> {
        match self {
            EtfError::Unsupported { path, .. }
            | EtfError::TooDeep { path }
            | EtfError::TooLarge { path }
            | EtfError::KeyCollision { path, .. }
            | EtfError::Cycle { path } => Some(path),
            _ => None,
        }
    }

    pub(crate) fn path_mut(&mut self) -> Option<&mut Vec<PathElem>> {
        match self {
            EtfError::Unsupported { path, .. }
            | EtfError::TooDeep { path }
            | EtfError::TooLarge { path }
            | EtfError::KeyCollision { path, .. }
            | EtfError::Cycle { path } => Some(path),
            _ => None,
        }
    }

    pub(crate) fn malformed(what: impl Into<String>) -> Self {
        EtfError::Malformed(what.into())
    }
}

impl From<PyErr> for EtfError {
    fn from(err: PyErr) -> Self {
        EtfError::Python(err)
    }
}

impl std::fmt::Display for EtfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EtfError::Unsupported { path, .. } => write!(f, "unsupported value at {path:?}"),
            EtfError::TooDeep { path } => write!(f, "nested too deeply at {path:?}"),
            EtfError::TooLarge { path } => write!(f, "too many terms at {path:?}"),
            EtfError::KeyCollision { path, .. } => write!(f, "key collision at {path:?}"),
            EtfError::Cycle { path } => write!(f, "cycle at {path:?}"),
            EtfError::NoHandle(id) => write!(f, "no handle {id}"),
            EtfError::BadKwargs(_) => write!(f, "bad keyword arguments"),
            EtfError::Malformed(m) => write!(f, "bad ETF: {m}"),
            EtfError::Python(e) => write!(f, "Python: {e}"),
        }
    }
}

impl std::error::Error for EtfError {}
