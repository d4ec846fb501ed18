//! Erlang's external term format (ETF) straight to Python objects and back, for the worker
//! process (`native/py_worker`), which gets terms as bytes instead of through the NIF API.
//! The mapping is docs/types.md's, the same as `py_nif`'s `convert::to_python` and
//! `convert::to_erlang`; errors are those of `py_nif`'s `base::error`, as data.
//!
//! The files, and what each owns:
//! - `mod.rs`: the shared pieces: [`Types`], [`Limits`], [`Handles`], [`Codec`], the tags.
//! - `error.rs`: [`EtfError`], [`PathElem`], [`Unsupported`]: conversion failures as data.
//! - `cursor.rs`: the bounds-checked cursor under every reader, and the skipper that
//!   finds where a term ends without making anything.
//! - `reader.rs`: [`Reader`], walking ETF by hand (the worker's job decoder).
//! - `call.rs`: a call's arguments, keyword arguments and bindings, read from a job.
//! - `writer.rs`: [`Writer`], building ETF by hand, and errors rendered as Erlang reasons.
//! - `decode/`: ETF -> Python: the iterative walk (`mod.rs`) and each term (`leaves.rs`).
//! - `encode/`: Python -> ETF: the iterative walk (`mod.rs`) and each object (`leaves.rs`).
//! - `terms.rs`: `erlang.Pid`, `Ref`, `Port`, `Fun`: opaque terms held by Python as bytes.
//!
//! Nothing here panics on input: malformed or truncated ETF is [`EtfError::Malformed`],
//! and neither direction recurses, so no depth of data can overflow the stack.
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};
use std::collections::HashMap;
use std::sync::Mutex;

mod call;
mod cursor;
mod decode;
mod encode;
mod error;
mod reader;
pub mod terms;
mod writer;

pub use error::{EtfError, PathElem, Unsupported};
pub use reader::Reader;
pub use writer::Writer;

/// The tags of the external term format that this codec reads or writes.
pub mod tag {
    pub const VERSION: u8 = 131;
    pub const NEW_FLOAT: u8 = 70;
    pub const BIT_BINARY: u8 = 77;
    pub const ATOM_CACHE_REF: u8 = 82;
    pub const NEW_PID: u8 = 88;
    pub const NEW_PORT: u8 = 89;
    pub const NEWER_REFERENCE: u8 = 90;
    pub const SMALL_INTEGER: u8 = 97;
    pub const INTEGER: u8 = 98;
    pub const FLOAT: u8 = 99;
    pub const ATOM: u8 = 100;
    pub const REFERENCE: u8 = 101;
    pub const PORT: u8 = 102;
    pub const PID: u8 = 103;
    pub const SMALL_TUPLE: u8 = 104;
    pub const LARGE_TUPLE: u8 = 105;
    pub const NIL: u8 = 106;
    pub const STRING: u8 = 107;
    pub const LIST: u8 = 108;
    pub const BINARY: u8 = 109;
    pub const SMALL_BIG: u8 = 110;
    pub const LARGE_BIG: u8 = 111;
    pub const NEW_FUN: u8 = 112;
    pub const EXPORT: u8 = 113;
    pub const NEW_REFERENCE: u8 = 114;
    pub const SMALL_ATOM: u8 = 115;
    pub const MAP: u8 = 116;
    pub const ATOM_UTF8: u8 = 118;
    pub const SMALL_ATOM_UTF8: u8 = 119;
    pub const V4_PORT: u8 = 120;
}

/// Past this depth, each container being encoded is checked against the ones that lead
/// to it (a cycle); below it a cycle cannot hide for long (as `py_nif`'s tuning says).
pub const CYCLE_CHECK_DEPTH: usize = 64;
/// Terms converted between two looks at pending signals (`PyErr_CheckSignals`: the
/// worker's SIGINT handler raises `erlang.Cancelled` there).
pub const INTERRUPT_EVERY: usize = 1 << 16;
/// Atoms remembered by [`Types`] (the cache is emptied when full).
const ATOM_CACHE_MAX: usize = 1 << 16;

/// Classes from the `erlang` Python package and `_erlang`, looked up once after start-up.
pub struct Types {
    /// `erlang.Atom`.
    pub atom: Py<PyType>,
    /// `erlang.Pid`, ..., this module's [`terms`] classes.
    pub pid: Py<PyType>,
    pub reference: Py<PyType>,
    pub port: Py<PyType>,
    pub fun: Py<PyType>,
    /// `erlang._encoders`: the registry of `erlang.register_encoder` (type -> function).
    pub encoders: Py<PyDict>,
    /// `numpy.generic`, once numpy has been imported by someone (never imported here).
    numpy_generic: PyOnceLock<Py<PyType>>,
    /// `erlang.Atom` objects by name: atoms are few, and made again for every message.
    atoms: Mutex<HashMap<Box<str>, Py<PyAny>>>,
}

impl Types {
    /// Imports `erlang` and takes its classes; the four opaque term classes are
    /// [`terms::Pid`] and the others (which the worker puts in its `_erlang`).
    pub fn load(py: Python<'_>) -> PyResult<Types> {
        use pyo3::type_object::PyTypeInfo;
        let erlang = py.import("erlang")?;
        Ok(Types {
            atom: erlang.getattr("Atom")?.cast_into::<PyType>()?.unbind(),
            pid: terms::Pid::type_object(py).unbind(),
            reference: terms::Ref::type_object(py).unbind(),
            port: terms::Port::type_object(py).unbind(),
            fun: terms::Fun::type_object(py).unbind(),
            encoders: erlang.getattr("_encoders")?.cast_into::<PyDict>()?.unbind(),
            numpy_generic: PyOnceLock::new(),
            atoms: Mutex::new(HashMap::new()),
        })
    }

    /// `numpy.generic` if numpy has been imported.
    pub(crate) fn numpy_generic<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyType>> {
        if let Some(t) = self.numpy_generic.get(py) {
            return Some(t.bind(py).clone());
        }
        let modules = py.import("sys").ok()?.getattr("modules").ok()?;
        let numpy = modules.get_item("numpy").ok()?;
        let generic = numpy.getattr("generic").ok()?.cast_into::<PyType>().ok()?;
        let _ = self.numpy_generic.set(py, generic.clone().unbind());
        Some(generic)
    }

    /// The `erlang.Atom` for `name`, made once.
    pub(crate) fn atom<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        if let Ok(cache) = self.atoms.lock() {
            if let Some(obj) = cache.get(name) {
                return Ok(obj.bind(py).clone());
            }
        }
        let obj = self.atom.bind(py).call1((name,))?;
        if let Ok(mut cache) = self.atoms.lock() {
            if cache.len() >= ATOM_CACHE_MAX {
                cache.clear();
            }
            cache.insert(name.into(), obj.clone().unbind());
        }
        Ok(obj)
    }
}

/// How much one conversion may do (`max_depth`, `max_terms` of the application).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Containers nested in one another: `max_depth` levels pass, one more is `too_deep`.
    pub max_depth: usize,
    /// Terms read or made (container elements, counted per container): past it, `too_large`.
    pub max_terms: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 10_000,
            max_terms: 10_000_000,
        }
    }
}

/// The worker's handle table: objects by number.
pub trait Handles {
    /// The object numbered `id`, if the table has it.
    fn get(&self, py: Python<'_>, id: u64) -> Option<Py<PyAny>>;
    /// Puts `obj` in the table and gives its number.
    fn put(&mut self, py: Python<'_>, obj: Py<PyAny>) -> u64;
    /// Takes `id` back out: [`Codec::encode`] calls it for the objects it put in the
    /// table during a conversion that then failed (no term refers to them). The default
    /// does nothing.
    fn forget(&mut self, _py: Python<'_>, _id: u64) {}
}

/// One conversion's settings: the classes, the limits, the marker and what `None` is.
pub struct Codec<'t> {
    pub types: &'t Types,
    pub limits: Limits,
    /// The raw ETF bytes of the marker reference `M` (without 131), if there is one:
    /// without it, no marker term is recognized and objects that are not data cannot
    /// be encoded (`unsupported`).
    pub marker: Option<Vec<u8>>,
    /// `None` encodes as `nil` instead of `undefined` (Elixir callers).
    pub none_as_nil: bool,
}

impl<'t> Codec<'t> {
    /// A codec with the default limits, no marker, `None` as `undefined`.
    pub fn new(types: &'t Types) -> Codec<'t> {
        Codec {
            types,
            limits: Limits::default(),
            marker: None,
            none_as_nil: false,
        }
    }

    /// ETF (starting with the 131 version byte) to a Python object. Markers
    /// `{M, handle, Id}` become the table's object (`EtfError::NoHandle(Id)` if absent),
    /// `{M, bytes, Bin}` a `bytes`, `{M, buffer, Bin}` a read-only `memoryview` over a
    /// `bytes` copy. Bytes after the term are `Malformed`.
    pub fn decode<'py>(
        &self,
        py: Python<'py>,
        etf: &[u8],
        handles: &dyn Handles,
    ) -> Result<Bound<'py, PyAny>, EtfError> {
        let mut r = Reader::new(etf)?;
        let obj = r.python(self, py, handles)?;
        if !r.rest().is_empty() {
            return Err(EtfError::Malformed(format!(
                "{} bytes after the term",
                r.rest().len()
            )));
        }
        Ok(obj)
    }

    /// A Python object appended to `out` as ETF (the caller writes 131 first, or uses
    /// [`Codec::encode_term`]). Objects that are not data are put in `handles` and
    /// written as `{M, handle, Id}`; returns whether any handle was written. On an
    /// error, `out` is left as it was.
    pub fn encode(
        &self,
        py: Python<'_>,
        obj: &Bound<'_, PyAny>,
        out: &mut Vec<u8>,
        handles: &mut dyn Handles,
    ) -> Result<bool, EtfError> {
        encode::encode(self, py, obj, out, handles)
    }

    /// A Python object as a whole ETF binary (131 first), and whether it holds a handle.
    pub fn encode_term(
        &self,
        py: Python<'_>,
        obj: &Bound<'_, PyAny>,
        handles: &mut dyn Handles,
    ) -> Result<(Vec<u8>, bool), EtfError> {
        let mut out = vec![tag::VERSION];
        let handle = self.encode(py, obj, &mut out, handles)?;
        Ok((out, handle))
    }
}

#[cfg(test)]
mod tests;
