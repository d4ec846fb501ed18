//! `_erlang`: the built-in module behind the `erlang` Python package, and the objects of
//! that package the NIF uses (looked up once, after start-up).
use crate::context::{self, Frame};
use crate::{logging, terms, to_erlang, util};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};
use rustler::{Encoder, Env, Term};

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

#[pymodule]
pub mod _erlang {
    #[pymodule_export]
    use crate::terms::{Fun, Pid, Port, Ref};

    #[pymodule_export]
    use super::{call, cast, log, self_pid, send, write};
}

/// The request part of a callback: `{M, F, Args}` or `{Fun, Args}`.
fn request<'a>(
    env: Env<'a>,
    target: &Bound<'_, PyAny>,
    function: Option<&Bound<'_, PyAny>>,
    args: &Bound<'_, PyAny>,
) -> PyResult<Term<'a>> {
    let py = target.py();
    let args_list =
        <pyo3::types::PyList as pyo3::type_object::PyTypeInfo>::type_object(py).call1((args,))?;
    let args_term = to_erlang::encode(env, &args_list).map_err(|e| to_pyerr(py, e))?;
    if let Some(fun) = terms::unwrap(env, target) {
        if function.is_some_and(|f| !f.is_none()) {
            return Err(PyTypeError::new_err(
                "erlang.call(fun, args) takes no function name",
            ));
        }
        return Ok((fun, args_term).encode(env));
    }
    let Some(function) = function.filter(|f| !f.is_none()) else {
        return Err(PyTypeError::new_err(
            "erlang.call(module, function, args) needs a function name",
        ));
    };
    Ok((
        name_term(env, target)?,
        name_term(env, function)?,
        args_term,
    )
        .encode(env))
}

/// A module or function name for apply/3. The program names it, so an existing atom is
/// used when there is one; otherwise it goes as a binary and Erlang decides (an
/// `erlang.Atom` always becomes an atom: the program asked for one).
fn name_term<'a>(env: Env<'a>, name: &Bound<'_, PyAny>) -> PyResult<Term<'a>> {
    let py = name.py();
    if name.is_instance(atom_type(py).as_any())? {
        return to_erlang::encode(env, name).map_err(|e| to_pyerr(py, e));
    }
    let s: String = name.extract().map_err(|_| {
        PyTypeError::new_err("module and function names must be str or erlang.Atom")
    })?;
    match rustler::Atom::existing_from_str(env, &s) {
        Ok(a) => Ok(a.encode(env)),
        Err(_) => Ok(util::binary(env, s.as_bytes())),
    }
}

pub fn to_pyerr(py: Python<'_>, e: crate::error::Error) -> PyErr {
    let _ = py;
    match e {
        crate::error::Error::Python { ty, msg, .. } => {
            PyValueError::new_err(format!("{ty}: {msg}"))
        }
        crate::error::Error::Unsupported { .. } => {
            PyTypeError::new_err("value cannot be converted to an Erlang term")
        }
        crate::error::Error::TooDeep { .. } => {
            PyValueError::new_err("value nested too deeply for an Erlang term")
        }
        crate::error::Error::Cycle { .. } => PyValueError::new_err("value contains a cycle"),
        _ => PyRuntimeError::new_err("conversion failed"),
    }
}

/// `erlang.call(Module, Function, Args)` / `erlang.call(Fun, Args)`: runs in the calling
/// Erlang process while this thread waits with the GIL released.
#[pyfunction]
#[pyo3(signature = (target, function, args))]
pub fn call(
    py: Python<'_>,
    target: &Bound<'_, PyAny>,
    function: Option<&Bound<'_, PyAny>>,
    args: &Bound<'_, PyAny>,
) -> PyResult<Py<PyAny>> {
    match context::current_frame() {
        Some(Frame::Context(job)) => {
            context::callback(py, &job, |env| request(env, target, function, args))
        }
        Some(Frame::Dirty(..)) => Err(PyRuntimeError::new_err(
            "erlang.call is not available on the dirty path (on => dirty): use a context",
        )),
        None => Err(PyRuntimeError::new_err(
            "erlang.call needs a calling Erlang process: it works only inside a py call",
        )),
    }
}

/// `erlang.cast(...)`: the same shapes as `call`, applied in a new Erlang process.
#[pyfunction]
#[pyo3(signature = (target, function, args))]
pub fn cast(
    py: Python<'_>,
    target: &Bound<'_, PyAny>,
    function: Option<&Bound<'_, PyAny>>,
    args: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let server = logging::server()
        .ok_or_else(|| PyRuntimeError::new_err("the py application is not running"))?;
    let _ = py;
    let out = util::Outgoing::build(|e| -> PyResult<Term<'_>> {
        let req = request(e, target, function, args)?;
        Ok((crate::atoms::py_cast(), req).encode(e))
    })?;
    out.send(server);
    Ok(())
}

/// `erlang.send(pid, term)`.
#[pyfunction]
pub fn send(py: Python<'_>, pid: &Bound<'_, PyAny>, term: &Bound<'_, PyAny>) -> PyResult<()> {
    let _ = py;
    let target = terms::local_pid(pid)
        .ok_or_else(|| PyTypeError::new_err("erlang.send needs a local erlang.Pid"))?;
    if let Some(Frame::Dirty(env, _)) = context::current_frame() {
        // On a dirty scheduler the message is built in the calling process's environment.
        let env = unsafe { Env::new(&(), env) };
        let msg = to_erlang::encode(env, term).map_err(|e| to_pyerr(term.py(), e))?;
        util::send_from(env, &target, msg);
        return Ok(());
    }
    let out = util::Outgoing::build(|e| to_erlang::encode(e, term))
        .map_err(|e| to_pyerr(term.py(), e))?;
    out.send(target);
    Ok(())
}

/// `erlang.self()`: the Erlang process that made the current call.
#[pyfunction(name = "self")]
pub fn self_pid(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let caller = context::current_caller()
        .ok_or_else(|| PyRuntimeError::new_err("erlang.self() needs a calling Erlang process"))?;
    let env = rustler::OwnedEnv::new();
    env.run(|e| terms::wrap(py, terms::Kind::Pid, caller.encode(e)).map(|b| b.unbind()))
}

/// `sys.stdout` / `sys.stderr` writes: to the caller's group leader during a call, else
/// to the `user` process through the py server.
#[pyfunction]
pub fn write(py: Python<'_>, stream: i32, text: &Bound<'_, PyAny>) -> PyResult<usize> {
    let s: String = text.extract()?;
    let n = s.chars().count();
    if s.is_empty() {
        return Ok(0);
    }
    context::output(py, stream == 2, s.into_bytes());
    Ok(n)
}

/// Python `logging` records, by level number, to the Erlang logger.
#[pyfunction]
pub fn log(levelno: i32, name: String, message: String) {
    let level = match levelno {
        l if l >= 50 => logging::Level::Critical,
        l if l >= 40 => logging::Level::Error,
        l if l >= 30 => logging::Level::Warning,
        l if l >= 25 => logging::Level::Notice,
        l if l >= 20 => logging::Level::Info,
        _ => logging::Level::Debug,
    };
    logging::emit(level, name, message);
}
