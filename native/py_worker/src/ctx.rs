//! What every job needs, set up once after start-up: the codec's classes and settings,
//! `erlang.Cancelled` and `erlang.Error`; and the frames of the jobs on the main
//! thread's stack (who called, where output goes).
use crate::hello::Hello;
use py_core::etf::{Codec, Limits, Types};
use py_core::output::Sink;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, OnceLock};

pub struct Ctx {
    pub types: Types,
    /// The raw ETF bytes of the marker reference (no 131).
    pub marker: Vec<u8>,
    pub limits: Limits,
    /// `max_memory` was given: a `MemoryError` is announced (`memory` packet).
    pub max_memory: bool,
    pub cancelled: Py<PyType>,
    pub error: Py<PyType>,
}

static CTX: OnceLock<Ctx> = OnceLock::new();

/// The context; set before the first job, so jobs take it as it is.
pub fn ctx() -> &'static Ctx {
    CTX.get().expect("set up at start-up")
}

/// The context for code Python calls (`_erlang`'s functions), which may run before it
/// is set: a `.pth` file or `sitecustomize` that imports `_erlang` during start-up.
pub fn ready() -> PyResult<&'static Ctx> {
    CTX.get().ok_or_else(|| {
        pyo3::exceptions::PyRuntimeError::new_err(
            "the py worker is still starting: _erlang works once it has started",
        )
    })
}

impl Ctx {
    pub fn codec(&self, none_as_nil: bool) -> Codec<'_> {
        Codec {
            types: &self.types,
            limits: self.limits,
            marker: Some(self.marker.clone()),
            none_as_nil,
        }
    }

    pub fn cancelled_err(&self, py: Python<'_>) -> PyErr {
        PyErr::from_type(self.cancelled.bind(py).clone(), "the py call was cancelled")
    }
}

/// Runs with the GIL once the interpreter runs and `sys.path` is set: imports the
/// `erlang` package (which imports `_erlang`), lets it install its stdout/stderr writers
/// and logging handler, and installs the SIGINT handler.
pub fn setup(py: Python<'_>, hello: &Hello) -> PyResult<()> {
    let types = Types::load(py)?;
    let erlang = py.import("erlang")?;
    let cancelled = erlang.getattr("Cancelled")?.cast_into::<PyType>()?.unbind();
    let error = erlang.getattr("Error")?.cast_into::<PyType>()?.unbind();
    erlang.call_method1("_setup", (PyDict::new(py),))?;
    crate::pymod::install_sigint(py)?;
    let _ = CTX.set(Ctx {
        types,
        marker: hello.marker.clone(),
        limits: hello.limits,
        max_memory: hello.max_memory.is_some(),
        cancelled,
        error,
    });
    Ok(())
}

/// A job on the main thread's stack, as the Python it runs sees it.
pub struct Frame {
    pub id: u64,
    /// The raw ETF bytes of the caller's pid (no 131).
    pub caller: Box<[u8]>,
    pub output: Arc<Sink>,
}

thread_local! {
    /// The main thread's frames, innermost last; other threads have none.
    static FRAMES: RefCell<Vec<Rc<Frame>>> = const { RefCell::new(Vec::new()) };
}

/// The innermost job of this thread (only the main thread has any).
pub fn current() -> Option<Rc<Frame>> {
    FRAMES.with(|f| f.borrow().last().cloned())
}

pub fn push(frame: Frame) {
    FRAMES.with(|f| f.borrow_mut().push(Rc::new(frame)));
}

pub fn pop() {
    FRAMES.with(|f| f.borrow_mut().pop());
}
