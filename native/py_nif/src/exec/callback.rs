//! Callbacks into Erlang (`erlang.call`) and what the running Python code belongs to
//! (the frame: a context job or a dirty call).
use super::context::{run_job, ContextInner};
use super::job::{CbMsg, JobRes, JobShared};
use crate::base::atoms;
use crate::base::error::DownReason;
use crate::convert::{handle, to_python};
use crate::runtime::outgoing::Outgoing;
use crate::runtime::pytypes;
use pyo3::prelude::*;
use rustler::{Encoder, Env, LocalPid, Term};
use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// What the running Python code on this thread belongs to.
#[derive(Clone)]
pub enum Frame {
    Context(Arc<JobShared>),
    /// A dirty NIF call: the environment of the calling process.
    Dirty(*mut rustler::sys::ErlNifEnv, LocalPid),
}

thread_local! {
    pub(super) static FRAMES: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
}

pub fn current_frame() -> Option<Frame> {
    FRAMES.with(|f| f.borrow().last().cloned())
}

pub fn current_caller() -> Option<LocalPid> {
    match current_frame()? {
        Frame::Context(job) => job.payload.as_ref().map(|p| p.caller),
        Frame::Dirty(_, pid) => Some(pid),
    }
}

/// `erlang.call`: asks the caller to run the request and waits, GIL released, serving
/// the caller's own nested py calls meanwhile (that is what makes re-entry safe).
pub fn callback(
    py: Python<'_>,
    job: &Arc<JobShared>,
    request: impl for<'a> FnOnce(Env<'a>) -> PyResult<Term<'a>>,
) -> PyResult<Py<PyAny>> {
    if job.payload.is_none() {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(
            "no calling process",
        ));
    }
    let req = Outgoing::build(|e| request(e).map(|r| (atoms::callback(), r).encode(e)))?;
    let (_, rx) = job.chan();
    job.flush_output();
    // Set before the request leaves: the caller may submit a nested call at once.
    job.in_callback.store(true, Ordering::Release);
    job.executing.store(false, Ordering::Release);
    let sent = job.send_if_running(|e| req.load(e));
    let reply = if sent {
        let inner = handle::thread_owner()
            .and_then(|o| o.upgrade())
            .and_then(|o| o.downcast::<ContextInner>().ok());
        py.detach(|| loop {
            match rx.recv() {
                Ok(CbMsg::Reply(out)) => break Some(out),
                Ok(CbMsg::Nested(nested)) => match &inner {
                    Some(inner) => Python::attach(|py| run_job(py, inner, nested)),
                    None => {
                        nested.cancel(Some(&DownReason::Stopped));
                    }
                },
                Ok(CbMsg::Cancel) | Err(_) => break None,
            }
        })
    } else {
        None
    };
    job.in_callback.store(false, Ordering::Release);
    job.executing.store(true, Ordering::Release);
    let Some(out) = reply else {
        return Err(PyErr::from_type(
            pytypes::cancelled_type(py).clone(),
            "the py call was cancelled",
        ));
    };
    out.run(|e, t| callback_result(py, e, t))
}

/// `{ok, Value}` -> Value; `{error, {Class, Reason, Stack}}` -> raise erlang.Error.
fn callback_result(py: Python<'_>, env: Env<'_>, t: Term<'_>) -> PyResult<Py<PyAny>> {
    let parts = rustler::types::tuple::get_tuple(t).unwrap_or_default();
    match parts.as_slice() {
        [tag, v] if atoms::ok() == *tag => to_python::decode(py, *v)
            .map(|b| b.unbind())
            .map_err(|e| e.into_pyerr()),
        [tag, detail] if atoms::error() == *tag => {
            let d = rustler::types::tuple::get_tuple(*detail).unwrap_or_default();
            let conv = |t: Term<'_>| {
                to_python::decode(py, t)
                    .map(|b| b.unbind())
                    .unwrap_or_else(|_| py.None())
            };
            let (class, reason, stack) = match d.as_slice() {
                [c, r, s] => (conv(*c), conv(*r), conv(*s)),
                _ => (py.None(), conv(*detail), py.None()),
            };
            let _ = env;
            Err(PyErr::from_value(
                pytypes::error_type(py).call1((class, reason, stack))?,
            ))
        }
        _ => Err(pyo3::exceptions::PyRuntimeError::new_err(
            "malformed callback reply",
        )),
    }
}

pub fn callback_reply(reply: Term<'_>, job: &JobRes) {
    if let Ok(out) = Outgoing::build(|e| Ok::<_, ()>(crate::base::env::copy(e, reply.as_c_arg()))) {
        let _ = job.0.chan().0.send(CbMsg::Reply(out));
    }
}
