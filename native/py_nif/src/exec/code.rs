//! `eval` and `exec`: source code run in a namespace (a dict of globals). Each calling
//! process has a namespace of its own, which py_exec makes on its first eval or exec
//! and passes with every later one; an explicit one (`py:namespace/0`) can be shared.
//! Either is a handle, so the call runs on the context that holds it. What is done
//! with the code and the bindings is `py_core::code`'s, shared with the worker.
use crate::base::error::Error;
use crate::convert::handle::PyHandle;
use crate::convert::to_python;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rustler::{Env, Term};

pub use py_core::code::{new_namespace, resolve_in};

/// The namespace a job names: a handle to a dict, or `undefined` for one of its own.
pub fn namespace<'py>(
    py: Python<'py>,
    t: Term<'_>,
    job: Term<'_>,
) -> Result<Bound<'py, PyDict>, Error> {
    if let Some(h) = t.try_get_resource::<PyHandle>() {
        return h
            .obj
            .bind(py)
            .clone()
            .cast_into::<PyDict>()
            .map_err(|_| Error::BadJob(job.as_c_arg()));
    }
    if t.is_atom() && crate::base::atoms::undefined() == t {
        return new_namespace(py).map_err(|e| Error::from_pyerr(py, e));
    }
    Err(Error::BadJob(job.as_c_arg()))
}

/// Runs `code` in the namespace `ns` with `bindings` set for the call (py_core::code
/// runs it; the bindings are decoded from terms here).
#[allow(clippy::too_many_arguments)]
pub fn run<'a, 'py>(
    py: Python<'py>,
    env: Env<'a>,
    code: Term<'a>,
    bindings: Term<'a>,
    ns: Term<'a>,
    eval: bool,
    job: Term<'a>,
) -> Result<Bound<'py, PyAny>, Error> {
    let src = rustler::Binary::from_term(code).map_err(|_| Error::BadJob(job.as_c_arg()))?;
    let globals = namespace(py, ns, job)?;
    py_core::code::run(
        &globals,
        src.as_slice(),
        eval,
        |bound| {
            if bindings.is_empty_list() {
                return Ok(());
            }
            let iter = rustler::types::map::MapIterator::new(bindings)
                .ok_or_else(|| Error::BadJob(job.as_c_arg()))?;
            let dec = to_python::Decoder::new(py, env);
            for (k, v) in iter {
                let (name, value) = dec.named(k, v, |name| bound.has(name))?;
                bound
                    .set(&name, value)
                    .map_err(|e| Error::from_pyerr(py, e))?;
            }
            Ok(())
        },
        |e| Error::from_pyerr(py, e),
    )
}
