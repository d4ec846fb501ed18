//! What a job does, whatever thread runs it (context or dirty scheduler): run the
//! decoded job against the thread's own globals and caches, and encode the reply.
use super::code;
use crate::base::atoms;
use crate::base::error::{Error, PathElem};
use crate::base::job::{Job, Return};
use crate::base::names::{dotted_name, name_of};
use crate::base::tuning::ATOM_NAMES_MAX;
use crate::convert::array;
use crate::convert::handle::{self, PyHandle};
use crate::convert::to_erlang::{self, NoneAs};
use crate::convert::to_python;
use crate::convert::values;
use py_core::names::{cached_owner, resolve};
use pyo3::prelude::*;
use pyo3::types::{PyString, PyTuple};
use rustler::types::tuple::get_tuple;
use rustler::{Encoder, Env, Term};
use std::cell::RefCell;
use std::collections::HashMap;

thread_local! {
    /// `{Mod, Fun}` pairs of atoms already resolved on this thread: the owner object and
    /// the attribute as an interned Python string, so a call builds no name at all.
    /// Atoms are never freed, so their raw terms are stable keys. The attribute is still
    /// looked up on each call: rebinding it in Python is seen at once.
    static ATOM_NAMES: RefCell<HashMap<AtomPair, Resolved>> = RefCell::new(HashMap::new());
}

type AtomPair = (rustler::sys::ErlNifTerm, rustler::sys::ErlNifTerm);
/// An owner object and the name of one of its attributes.
type Resolved = (Py<PyAny>, Py<PyString>);

/// Resolves the name of a `call` or `const` job (see `to_python::dotted_name`).
fn resolve_name<'py>(
    py: Python<'py>,
    env: Env<'_>,
    t: Term<'_>,
) -> Result<Option<Bound<'py, PyAny>>, PyErr> {
    let key = match get_tuple(t).as_deref() {
        Ok([m, f]) if m.is_atom() && f.is_atom() => Some((m.as_c_arg(), f.as_c_arg())),
        _ => None,
    };
    if let Some(key) = &key {
        let hit = ATOM_NAMES.with(|c| {
            c.borrow()
                .get(key)
                .map(|(o, a)| (o.clone_ref(py), a.clone_ref(py)))
        });
        if let Some((owner, attr)) = hit {
            // A miss here (the attribute was deleted) takes the full path below.
            if let Ok(v) = owner.bind(py).getattr(attr.bind(py)) {
                return Ok(Some(v));
            }
        }
    }
    let Some(name) = dotted_name(env, t) else {
        return Ok(None);
    };
    let value = resolve(py, &name)?;
    if let (Some(key), Some((owner, attr))) = (key, cached_owner(py, &name)) {
        ATOM_NAMES.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() >= ATOM_NAMES_MAX {
                c.clear();
            }
            c.insert(key, (owner.unbind(), PyString::intern(py, attr).unbind()));
        });
    }
    Ok(Some(value))
}

pub enum Mode {
    Term,
    /// Always a handle (a namespace).
    Handle,
    Value,
    Binary,
    /// `py:array/1`: shape, dtype and the array's memory as a binary.
    Array,
}

pub struct Executed<'py> {
    obj: Bound<'py, PyAny>,
    mode: Mode,
}

fn py_err(py: Python<'_>) -> impl Fn(PyErr) -> Error + '_ {
    move |e| Error::from_pyerr(py, e)
}

/// Runs one job term.
pub fn execute<'a, 'py>(
    py: Python<'py>,
    env: Env<'a>,
    term: Term<'a>,
    prepared: Option<Bound<'py, PyTuple>>,
) -> Result<Executed<'py>, Error> {
    let bad = || Error::BadJob(term.as_c_arg());
    let job = Job::decode(term).ok_or_else(bad)?;
    let name = |t: Term<'a>| name_of(env, t).ok_or_else(bad);
    let value = |obj: Bound<'py, PyAny>| {
        Ok(Executed {
            obj,
            mode: Mode::Term,
        })
    };
    let e = py_err(py);
    let resolved = |t: Term<'a>| resolve_name(py, env, t).map_err(&e)?.ok_or_else(bad);
    let object = |t: Term<'a>| to_python::decode(py, t).map_err(|err| err.at(PathElem::Index(0)));
    match job {
        Job::Call { name, args, kwargs } => {
            let f = resolved(name)?;
            call(py, env, &f, args, kwargs, term, prepared)
        }
        Job::Const { name } => value(resolved(name)?),
        Job::Method {
            obj,
            name: n,
            args,
            kwargs,
        } => {
            let f = object(obj)?.getattr(name(n)?).map_err(&e)?;
            call(py, env, &f, args, kwargs, term, prepared)
        }
        Job::GetAttr { obj, name: n } => value(object(obj)?.getattr(name(n)?).map_err(&e)?),
        Job::CallObj { obj, args, kwargs } => {
            call(py, env, &object(obj)?, args, kwargs, term, prepared)
        }
        Job::CallIn {
            ns,
            name: n,
            args,
            kwargs,
        } => {
            let globals = code::namespace(py, ns, term)?;
            let dotted = dotted_name(env, n).ok_or_else(bad)?;
            let f = match code::resolve_in(&globals, &dotted).map_err(&e)? {
                Some(f) => f,
                None => resolved(n)?,
            };
            call(py, env, &f, args, kwargs, term, prepared)
        }
        Job::Eval { code, bindings, ns } => {
            value(code::run(py, env, code, bindings, ns, true, term)?)
        }
        Job::Exec { code, bindings, ns } => {
            value(code::run(py, env, code, bindings, ns, false, term)?)
        }
        Job::Namespace => Ok(Executed {
            obj: code::new_namespace(py).map_err(&e)?.into_any(),
            mode: Mode::Handle,
        }),
        Job::Import { name: n } => value(
            py_core::names::import(py, &name(n)?)
                .map_err(&e)?
                .into_any(),
        ),
        Job::Value { handle } => {
            let obj = match handle.try_get_resource::<PyHandle>() {
                Some(h) => h.obj.bind(py).clone(),
                None => return Err(Error::NotAHandle(handle.as_c_arg())),
            };
            Ok(Executed {
                obj,
                mode: Mode::Value,
            })
        }
        Job::ToBinary { obj } => Ok(Executed {
            obj: to_python::decode(py, obj)?,
            mode: Mode::Binary,
        }),
        Job::Array { obj } => Ok(Executed {
            obj: to_python::decode(py, obj)?,
            mode: Mode::Array,
        }),
        Job::NdArray {
            data,
            shape,
            dtype,
            writable,
        } => value(array::ndarray(py, data, shape, dtype, writable)?),
    }
}

fn call<'a, 'py>(
    py: Python<'py>,
    env: Env<'a>,
    f: &Bound<'py, PyAny>,
    args: Term<'a>,
    kw: Term<'a>,
    job: Term<'a>,
    prepared: Option<Bound<'py, PyTuple>>,
) -> Result<Executed<'py>, Error> {
    let tuple = match prepared {
        Some(tuple) => tuple,
        None => {
            if !args.is_list() {
                return Err(Error::BadJob(job.as_c_arg()));
            }
            to_python::Decoder::new(py, env).decode_args(args.as_c_arg())?
        }
    };
    let kwargs = match kw.is_empty_list() {
        true => None,
        false => to_python::kwargs(py, env, kw.as_c_arg())?,
    };
    let tuple = py_core::code::frame_globals(py, f, tuple, kwargs.as_ref()).map_err(py_err(py))?;
    let obj = f.call(tuple, kwargs.as_ref()).map_err(py_err(py))?;
    Ok(Executed {
        obj,
        mode: Mode::Term,
    })
}

/// `{ok, Term}` or `{error, Reason}` in `renv`. Must run while the job's environment is
/// alive: error reasons may copy terms from it.
pub fn reply<'b>(renv: Env<'b>, outcome: Result<Executed<'_>, Error>, ret: Return) -> Term<'b> {
    let ex = match outcome {
        Ok(ex) => ex,
        Err(e) => return e.encode_tagged(renv),
    };
    let none = match ret {
        Return::TermNil => NoneAs::Nil,
        _ => NoneAs::Undefined,
    };
    let result = match ex.mode {
        Mode::Term if ret == Return::Handle => Ok(handle::make_handle(renv, ex.obj.unbind())),
        Mode::Handle => Ok(handle::make_handle(renv, ex.obj.unbind())),
        Mode::Term => to_erlang::encode_as(renv, &ex.obj, none),
        Mode::Value => values::encode_value(renv, &ex.obj, none),
        Mode::Binary => values::buffer_copy(renv, &ex.obj),
        Mode::Array => array::describe(renv, &ex.obj),
    };
    match result {
        Ok(t) => (atoms::ok(), t).encode(renv),
        Err(e) => e.encode_tagged(renv),
    }
}
