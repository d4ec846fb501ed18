//! One error type for the whole NIF, encoded to the Erlang reason in one place
//! (`Error::encode`). Python exceptions are data here, never a crash.
use crate::atoms;
use pyo3::prelude::*;
use rustler::{Encoder, Env, Term};

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

    /// The reason term (without the `error` tag). Raw terms held by the error belong to
    /// the conversion's source environment, which must still be alive: they are copied.
    pub fn encode<'a>(&self, env: Env<'a>) -> Term<'a> {
        match self {
            Error::Python { ty, msg, tb } => {
                let tb: Vec<Term<'a>> = tb
                    .iter()
                    .map(|l| crate::util::binary(env, l.as_bytes()))
                    .collect();
                (
                    atoms::python(),
                    crate::util::binary(env, ty.as_bytes()),
                    crate::util::binary(env, msg.as_bytes()),
                    tb,
                )
                    .encode(env)
            }
            Error::Unsupported { path, culprit } => {
                let culprit = match culprit {
                    Culprit::Erl(t) => crate::util::copy(env, *t),
                    Culprit::Py(obj) => {
                        Python::attach(|py| crate::handle::make_handle(env, obj.clone_ref(py)))
                    }
                };
                (atoms::unsupported(), encode_path(env, path), culprit).encode(env)
            }
            Error::TooDeep { path } => (atoms::too_deep(), encode_path(env, path)).encode(env),
            Error::Cycle { path } => (atoms::cycle(), encode_path(env, path)).encode(env),
            Error::ContextDown(r) => (atoms::context_down(), r.encode(env)).encode(env),
            Error::BadJob(t) => (atoms::bad_job(), crate::util::copy(env, *t)).encode(env),
            Error::NotAHandle(t) => (atoms::not_a_handle(), crate::util::copy(env, *t)).encode(env),
            Error::InitFailed(m) => (
                atoms::python_init_failed(),
                crate::util::binary(env, m.as_bytes()),
            )
                .encode(env),
            Error::Timeout => atoms::timeout().encode(env),
            Error::BadKwargs(t) => (atoms::bad_kwargs(), crate::util::copy(env, *t)).encode(env),
            Error::KeyCollision { path, key } => (
                atoms::key_collision(),
                encode_path(env, path),
                crate::util::copy(env, *key),
            )
                .encode(env),
            Error::TooLarge { path } => (atoms::too_large(), encode_path(env, path)).encode(env),
            Error::Busy { gil_stuck_ms } => {
                let info = Term::map_from_pairs(
                    env,
                    &[(atoms::gil_stuck_ms().encode(env), gil_stuck_ms.encode(env))],
                )
                .unwrap_or_else(|_| gil_stuck_ms.encode(env));
                (atoms::busy(), info).encode(env)
            }
            Error::Panic(m) => (atoms::panic(), crate::util::binary(env, m.as_bytes())).encode(env),
        }
    }

    /// `{error, Reason}`
    pub fn encode_tagged<'a>(&self, env: Env<'a>) -> Term<'a> {
        (atoms::error(), self.encode(env)).encode(env)
    }

    /// Turns the pending Python exception into data.
    pub fn from_pyerr(py: Python<'_>, err: PyErr) -> Self {
        crate::exception::describe(py, err)
    }
}

impl DownReason {
    pub fn encode<'a>(&self, env: Env<'a>) -> Term<'a> {
        match self {
            DownReason::OwnerDown => atoms::owner_down().encode(env),
            DownReason::Stopped => atoms::stopped().encode(env),
            DownReason::Panic(m) => {
                (atoms::panic(), crate::util::binary(env, m.as_bytes())).encode(env)
            }
        }
    }
}

/// Paths are collected innermost first while unwinding; Erlang wants them outermost first.
fn encode_path<'a>(env: Env<'a>, path: &[PathElem]) -> Term<'a> {
    let elems: Vec<Term<'a>> = path
        .iter()
        .rev()
        .map(|e| match e {
            PathElem::Index(i) => i.encode(env),
            PathElem::ErlKey(t) => crate::util::copy(env, *t),
            PathElem::Name(n) => crate::util::binary(env, n.as_bytes()),
            PathElem::PyKey(k) => Python::attach(|py| {
                let k = k.bind(py);
                crate::to_erlang::encode_key_for_error(env, k)
            }),
        })
        .collect();
    elems.encode(env)
}
