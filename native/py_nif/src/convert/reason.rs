//! Errors rendered to the Erlang reason: the one place that knows their terms
//! (docs/api.md, "Errors", lists them for users).
use crate::base::atoms;
use crate::base::env::{binary, copy};
use crate::base::error::{ArrayKey, Culprit, DownReason, Error, PathElem};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use rustler::{Encoder, Env, Term};

impl Error {
    /// The reason term (without the `error` tag). Raw terms held by the error belong to
    /// the conversion's source environment, which must still be alive: they are copied.
    pub fn encode<'a>(&self, env: Env<'a>) -> Term<'a> {
        match self {
            Error::Python { ty, msg, tb } => {
                let tb: Vec<Term<'a>> = tb.iter().map(|l| binary(env, l.as_bytes())).collect();
                (
                    atoms::python(),
                    binary(env, ty.as_bytes()),
                    binary(env, msg.as_bytes()),
                    tb,
                )
                    .encode(env)
            }
            Error::Unsupported { path, culprit } => {
                let culprit = match culprit {
                    Culprit::Erl(t) => copy(env, *t),
                    Culprit::Py(obj) => {
                        Python::attach(|py| super::handle::make_handle(env, obj.clone_ref(py)))
                    }
                };
                (atoms::unsupported(), encode_path(env, path), culprit).encode(env)
            }
            Error::TooDeep { path } => (atoms::too_deep(), encode_path(env, path)).encode(env),
            Error::Cycle { path } => (atoms::cycle(), encode_path(env, path)).encode(env),
            Error::ContextDown(r) => (atoms::context_down(), r.encode(env)).encode(env),
            Error::BadJob(t) => (atoms::bad_job(), copy(env, *t)).encode(env),
            Error::NotAHandle(t) => (atoms::not_a_handle(), copy(env, *t)).encode(env),
            Error::InitFailed(m) => {
                (atoms::python_init_failed(), binary(env, m.as_bytes())).encode(env)
            }
            Error::Timeout => atoms::timeout().encode(env),
            Error::BadKwargs(t) => (atoms::bad_kwargs(), copy(env, *t)).encode(env),
            Error::KeyCollision { path, key } => (
                atoms::key_collision(),
                encode_path(env, path),
                copy(env, *key),
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
            Error::Panic(m) => (atoms::panic(), binary(env, m.as_bytes())).encode(env),
            Error::WrongPlace(t) => (atoms::wrong_place(), copy(env, *t)).encode(env),
            Error::BadArray { key, why } => {
                let key = match key {
                    ArrayKey::Shape => atoms::shape(),
                    ArrayKey::DType => atoms::dtype(),
                    ArrayKey::Data => atoms::data(),
                };
                (atoms::bad_array(), key, binary(env, why.as_bytes())).encode(env)
            }
        }
    }

    /// `{error, Reason}`
    pub fn encode_tagged<'a>(&self, env: Env<'a>) -> Term<'a> {
        (atoms::error(), self.encode(env)).encode(env)
    }
}

impl DownReason {
    pub fn encode<'a>(&self, env: Env<'a>) -> Term<'a> {
        match self {
            DownReason::OwnerDown => atoms::owner_down().encode(env),
            DownReason::Stopped => atoms::stopped().encode(env),
            DownReason::Panic(m) => (atoms::panic(), binary(env, m.as_bytes())).encode(env),
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
            PathElem::ErlKey(t) => copy(env, *t),
            PathElem::Name(n) => binary(env, n.as_bytes()),
            PathElem::PyKey(k) => Python::attach(|py| {
                let k = k.bind(py);
                super::to_erlang::encode_key_for_error(env, k)
            }),
        })
        .collect();
    elems.encode(env)
}

impl Error {
    /// The error raised in Python instead (a conversion inside `erlang.call`, say).
    pub fn into_pyerr(self) -> PyErr {
        match self {
            Error::Python { ty, msg, .. } => PyValueError::new_err(format!("{ty}: {msg}")),
            Error::Unsupported { .. } => {
                PyTypeError::new_err("value cannot be converted to an Erlang term")
            }
            Error::TooDeep { .. } => {
                PyValueError::new_err("value nested too deeply for an Erlang term")
            }
            Error::Cycle { .. } => PyValueError::new_err("value contains a cycle"),
            _ => PyRuntimeError::new_err("conversion failed"),
        }
    }
}
