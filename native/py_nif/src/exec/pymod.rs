//! `_erlang`: the built-in module behind the `erlang` Python package (callbacks, casts,
//! sends, output and logging from Python).
use super::callback::{self, current_frame, Frame};
use super::output;
use crate::base::atoms;
use crate::base::env::send_from;
use crate::convert::{terms, to_erlang, values};
use crate::runtime::logging;
use crate::runtime::outgoing::Outgoing;
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;
use rustler::{Encoder, Env, Term};

#[pymodule]
pub mod _erlang {
    #[pymodule_export]
    use crate::convert::terms::{Fun, Pid, Port, Ref};

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
    let args_term = to_erlang::encode(env, &args_list).map_err(|e| e.into_pyerr())?;
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
        values::callable_name(env, target)?,
        values::callable_name(env, function)?,
        args_term,
    )
        .encode(env))
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
    match current_frame() {
        Some(Frame::Context(job)) => {
            callback::callback(py, &job, |env| request(env, target, function, args))
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
    let out = Outgoing::build(|e| -> PyResult<Term<'_>> {
        let req = request(e, target, function, args)?;
        Ok((atoms::py_cast(), req).encode(e))
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
    if let Some(Frame::Dirty(env, _)) = current_frame() {
        // On a dirty scheduler the message is built in the calling process's environment.
        let env = unsafe { Env::new(&(), env) };
        let msg = to_erlang::encode(env, term).map_err(|e| e.into_pyerr())?;
        send_from(env, &target, msg);
        return Ok(());
    }
    let out = Outgoing::build(|e| to_erlang::encode(e, term)).map_err(|e| e.into_pyerr())?;
    out.send(target);
    Ok(())
}

/// `erlang.self()`: the Erlang process that made the current call.
#[pyfunction(name = "self")]
pub fn self_pid(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let caller = callback::current_caller()
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
    output::output(py, stream == 2, s.into_bytes());
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
