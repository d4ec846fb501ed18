//! `_erlang` for the worker: the built-in module behind the `erlang` Python package, with
//! the functions of `py_nif`'s (call, cast, send, self, write, log), here as packets to
//! the VM; and the SIGINT handler that turns a cancel into `erlang.Cancelled`.
use crate::ctx::{self, ctx, ready};
use crate::state::{shared, try_shared, Msg};
use crate::table::TableHandles;
use crate::wire::{out, to_vm, Packet};
use py_core::etf::terms::{Fun, Pid};
use py_core::etf::{EtfError, Reader, Writer};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::type_object::PyTypeInfo;

#[pymodule]
pub mod _erlang {
    #[pymodule_export]
    use py_core::etf::terms::{Fun, Pid, Port, Ref};

    #[pymodule_export]
    use super::{call, cast, log, self_pid, send, write};
}

/// A conversion error raised in Python (the arguments of `erlang.call`, say).
pub fn to_pyerr(e: EtfError) -> PyErr {
    match e {
        EtfError::Python(e) => e,
        EtfError::Unsupported { .. } => {
            PyTypeError::new_err("value cannot be converted to an Erlang term")
        }
        EtfError::TooDeep { .. } => {
            PyValueError::new_err("value nested too deeply for an Erlang term")
        }
        EtfError::Cycle { .. } => PyValueError::new_err("value contains a cycle"),
        other => PyRuntimeError::new_err(format!("conversion failed: {other}")),
    }
}

/// A module or function name for apply/3: an `erlang.Atom` as the atom, a `str` as a
/// binary (the VM takes the existing atom, if there is one: Python never makes atoms).
fn callable_name(w: &mut Writer, name: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = name.py();
    let s: String = name.extract().map_err(|_| {
        PyTypeError::new_err("module and function names must be str or erlang.Atom")
    })?;
    if name.is_instance(ready()?.types.atom.bind(py).as_any())? {
        w.atom(&s);
    } else {
        w.binary(s.as_bytes());
    }
    Ok(())
}

/// Appends the request of a callback or a cast: `{M, F, Args}` or `{Fun, Args}`.
fn request(
    w: &mut Writer,
    target: &Bound<'_, PyAny>,
    function: Option<&Bound<'_, PyAny>>,
    args: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let py = target.py();
    let args = pyo3::types::PyList::type_object(py).call1((args,))?;
    let codec = ready()?.codec(false);
    let function = function.filter(|f| !f.is_none());
    if let Ok(fun) = target.cast::<Fun>() {
        if function.is_some() {
            return Err(PyTypeError::new_err(
                "erlang.call(fun, args) takes no function name",
            ));
        }
        w.tuple(2).raw(fun.get().raw());
    } else {
        let Some(function) = function else {
            return Err(PyTypeError::new_err(
                "erlang.call(module, function, args) needs a function name",
            ));
        };
        w.tuple(3);
        callable_name(w, target)?;
        callable_name(w, function)?;
    }
    codec
        .encode(py, &args, &mut w.buf, &mut TableHandles)
        .map_err(to_pyerr)?;
    Ok(())
}

/// `erlang.call(Module, Function, Args)` / `erlang.call(Fun, Args)`: a `callback` packet;
/// the main thread waits for the reply (GIL released), running the nested jobs of the
/// caller meanwhile (a call the callback makes back into this worker).
#[pyfunction]
#[pyo3(signature = (target, function, args))]
pub fn call(
    py: Python<'_>,
    target: &Bound<'_, PyAny>,
    function: Option<&Bound<'_, PyAny>>,
    args: &Bound<'_, PyAny>,
) -> PyResult<Py<PyAny>> {
    let frame = ctx::current().ok_or_else(|| {
        PyRuntimeError::new_err(
            "erlang.call needs a calling Erlang process: it works only inside a py call",
        )
    })?;
    let mut p = Packet::new(to_vm::CALLBACK);
    p.u64(frame.id);
    let mut w = Writer { buf: p.into_buf() };
    w.version();
    request(&mut w, target, function, args)?;
    let mut p = Packet::from_buf(w.buf);

    // Waiting from now on, unless cancelled already (under the lock a cancel takes).
    {
        let mut st = shared().lock();
        if st.is_marked(frame.id) {
            return Err(ctx().cancelled_err(py));
        }
        if let Some(top) = st.stack.last_mut().filter(|r| r.id == frame.id) {
            top.waiting = true;
        }
    }
    {
        let mut o = out().lock();
        crate::output::flush(&mut o, frame.id, &frame.output);
        o.send(&mut p);
    }
    let id = frame.id;
    let reply = py.detach(move || wait_reply(id));
    {
        let mut st = shared().lock();
        if let Some(top) = st.stack.last_mut().filter(|r| r.id == frame.id) {
            top.waiting = false;
        }
    }
    match reply {
        Some(body) => callback_result(py, &body),
        None => Err(ctx().cancelled_err(py)),
    }
}

/// Waits (without the GIL) for the reply to job `id`'s callback, running meanwhile the
/// jobs nested in the stack and the releases; `None` if the job is cancelled.
fn wait_reply(id: u64) -> Option<Vec<u8>> {
    loop {
        let msg = shared().next(|st, m| match m {
            Msg::Reply { id: r, .. } => *r == id,
            Msg::Cancel(c) => *c == id,
            Msg::Job(j) => st.on_stack(j.parent).is_some(),
            Msg::Release(_) => true,
        });
        match msg {
            Msg::Reply { body, .. } => return Some(body),
            Msg::Cancel(_) => return None,
            Msg::Job(job) => Python::attach(|py| crate::jobs::run_job(py, job)),
            Msg::Release(ids) => Python::attach(|py| crate::jobs::release(py, &ids)),
        }
    }
}

/// `{ok, Value}` -> Value; `{error, {Class, Reason, Stack}}` -> raise erlang.Error.
fn callback_result(py: Python<'_>, body: &[u8]) -> PyResult<Py<PyAny>> {
    let malformed = || PyRuntimeError::new_err("malformed callback reply");
    let codec = ctx().codec(false);
    let mut r = Reader::new(body).map_err(|_| malformed())?;
    if r.tuple_arity().map_err(|_| malformed())? != 2 {
        return Err(malformed());
    }
    match r.atom().map_err(|_| malformed())?.as_ref() {
        "ok" => Ok(r
            .python(&codec, py, &TableHandles)
            .map_err(to_pyerr)?
            .unbind()),
        "error" => {
            let raw = r.skip().map_err(|_| malformed())?;
            let mut d = Reader::raw(raw);
            let conv = |d: &mut Reader<'_>| {
                d.python(&codec, py, &TableHandles)
                    .map(Bound::unbind)
                    .unwrap_or_else(|_| py.None())
            };
            let (class, reason, stack) = match d.tuple_arity() {
                Ok(3) => (conv(&mut d), conv(&mut d), conv(&mut d)),
                _ => (py.None(), conv(&mut Reader::raw(raw)), py.None()),
            };
            Err(PyErr::from_value(
                ctx().error.bind(py).call1((class, reason, stack))?,
            ))
        }
        _ => Err(malformed()),
    }
}

/// `erlang.cast(...)`: the same shapes as `call`, applied in a new Erlang process.
#[pyfunction]
#[pyo3(signature = (target, function, args))]
pub fn cast(
    target: &Bound<'_, PyAny>,
    function: Option<&Bound<'_, PyAny>>,
    args: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let mut w = Writer {
        buf: Packet::new(to_vm::CAST).into_buf(),
    };
    w.version();
    request(&mut w, target, function, args)?;
    let mut p = Packet::from_buf(w.buf);
    out().send(&mut p);
    Ok(())
}

/// `erlang.send(pid, term)`.
#[pyfunction]
pub fn send(pid: &Bound<'_, PyAny>, term: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = pid.py();
    let pid = pid
        .cast::<Pid>()
        .map_err(|_| PyTypeError::new_err("erlang.send needs an erlang.Pid"))?;
    let mut w = Writer {
        buf: Packet::new(to_vm::SEND).into_buf(),
    };
    w.version();
    w.tuple(2).raw(pid.get().raw());
    ready()?
        .codec(false)
        .encode(py, term, &mut w.buf, &mut TableHandles)
        .map_err(to_pyerr)?;
    let mut p = Packet::from_buf(w.buf);
    out().send(&mut p);
    Ok(())
}

/// `erlang.self()`: the Erlang process that made the current call.
#[pyfunction(name = "self")]
pub fn self_pid(py: Python<'_>) -> PyResult<Py<PyAny>> {
    let frame = ctx::current()
        .ok_or_else(|| PyRuntimeError::new_err("erlang.self() needs a calling Erlang process"))?;
    Ok(Bound::new(py, Pid::new(&frame.caller))?.into_any().unbind())
}

/// `sys.stdout` / `sys.stderr` writes: `output` packets of the running job.
#[pyfunction]
pub fn write(py: Python<'_>, stream: i32, text: &Bound<'_, PyAny>) -> PyResult<usize> {
    let s: String = text.extract()?;
    let n = s.chars().count();
    if !s.is_empty() {
        crate::output::write(py, stream == 2, s.into_bytes());
    }
    Ok(n)
}

/// Python `logging` records: `log` packets `{Level, Logger, Message}`.
#[pyfunction]
pub fn log(levelno: i32, name: String, message: String) {
    let mut w = Writer {
        buf: Packet::new(to_vm::LOG).into_buf(),
    };
    w.version();
    w.tuple(3)
        .int(i64::from(levelno))
        .binary(name.as_bytes())
        .binary(message.as_bytes());
    let mut p = Packet::from_buf(w.buf);
    out().send(&mut p);
}

/// The SIGINT handler (a Python-level one: Python's own C handler records the signal,
/// and the main thread runs this at its next check, or at once when a blocking call
/// returns with EINTR). Raises `erlang.Cancelled` only when the job running now has been
/// cancelled: a late signal (its job already ended) or one from outside is ignored.
#[pyfunction]
fn on_sigint(py: Python<'_>, _signum: i32, _frame: &Bound<'_, PyAny>) -> PyResult<()> {
    // A signal while the worker starts: no job to cancel.
    let Some(sh) = try_shared() else {
        return Ok(());
    };
    let st = sh.lock();
    match st.executing() {
        Some(id) if st.is_marked(id) => {
            drop(st);
            Err(ctx().cancelled_err(py))
        }
        _ => Ok(()),
    }
}

/// Installs [`on_sigint`] as Python's SIGINT handler.
pub fn install_sigint(py: Python<'_>) -> PyResult<()> {
    let signal = py.import("signal")?;
    let handler = pyo3::wrap_pyfunction!(on_sigint, py)?;
    signal.call_method1("signal", (signal.getattr("SIGINT")?, handler))?;
    Ok(())
}
