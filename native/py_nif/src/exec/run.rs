//! What a job does, whatever thread runs it (context or dirty scheduler): run the
//! decoded job against the thread's own globals and caches, and encode the reply.
use crate::base::atoms;
use crate::base::error::{Culprit, Error, PathElem};
use crate::base::job::{Job, Return};
use crate::base::names::{dotted_name, name_of};
use crate::base::tuning::{ATOM_NAMES_MAX, CODE_CACHE_MAX};
use crate::convert::handle::{self, PyHandle};
use crate::convert::to_erlang::{self, NoneAs};
use crate::convert::to_python;
use crate::convert::values;
use py_core::names::{cached_owner, resolve};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
use rustler::types::tuple::get_tuple;
use rustler::{Encoder, Env, Term};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CString;

/// Per-thread interpreter state: a context is one thread, so these are the context's own
/// globals and compiled code (and, for a dirty scheduler thread, that thread's). Resolved
/// names are cached per thread too, in py_core::names.
struct Tls {
    globals: Py<PyDict>,
    code: HashMap<(Vec<u8>, i32), Py<PyAny>>,
}

thread_local! {
    static TLS: RefCell<Option<Tls>> = const { RefCell::new(None) };
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

fn with_tls<R>(py: Python<'_>, f: impl FnOnce(&mut Tls) -> R) -> PyResult<R> {
    TLS.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let builtins = py.import("builtins")?;
            let globals = PyDict::new(py);
            globals.set_item("__builtins__", &builtins)?;
            globals.set_item("__name__", "__py__")?;
            *slot = Some(Tls {
                globals: globals.unbind(),
                code: HashMap::new(),
            });
        }
        Ok(f(slot.as_mut().expect("initialised above")))
    })
}

pub enum Mode {
    Term,
    Value,
    Binary,
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
        Job::Eval { code, bindings } => {
            value(run_code(py, env, code, bindings, ffi::Py_eval_input, term)?)
        }
        Job::Exec { code, bindings } => {
            value(run_code(py, env, code, bindings, ffi::Py_file_input, term)?)
        }
        Job::Import { name: n } => value(py.import(name(n)?).map_err(&e)?.into_any()),
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
    let tuple = with_frame_globals(py, f, tuple, kwargs.as_ref()).map_err(py_err(py))?;
    let obj = f.call(tuple, kwargs.as_ref()).map_err(py_err(py))?;
    Ok(Executed {
        obj,
        mode: Mode::Term,
    })
}

static EVAL_EXEC: pyo3::sync::PyOnceLock<(Py<PyAny>, Py<PyAny>)> = pyo3::sync::PyOnceLock::new();

/// `eval` and `exec` called without globals read them from the calling Python frame,
/// and a call from Erlang has none ("SystemError: frame does not exist"): they get a
/// fresh namespace of their own, as at the top of a new module.
fn with_frame_globals<'py>(
    py: Python<'py>,
    f: &Bound<'py, PyAny>,
    args: Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyTuple>> {
    let (eval, exec) = EVAL_EXEC.get_or_try_init(py, || -> PyResult<_> {
        let b = py.import("builtins")?;
        Ok((b.getattr("eval")?.unbind(), b.getattr("exec")?.unbind()))
    })?;
    if !(f.is(eval) || f.is(exec)) || args.len() >= 2 {
        return Ok(args);
    }
    if let Some(kw) = kwargs {
        if kw.contains("globals")? {
            return Ok(args);
        }
    }
    let globals = PyDict::new(py);
    globals.set_item("__builtins__", py.import("builtins")?)?;
    let mut items: Vec<Bound<'py, PyAny>> = args.iter().collect();
    items.push(globals.into_any());
    PyTuple::new(py, items)
}

fn run_code<'a, 'py>(
    py: Python<'py>,
    env: Env<'a>,
    code: Term<'a>,
    bindings: Term<'a>,
    mode: i32,
    job: Term<'a>,
) -> Result<Bound<'py, PyAny>, Error> {
    let src = rustler::Binary::from_term(code).map_err(|_| Error::BadJob(job.as_c_arg()))?;
    let globals = with_tls(py, |t| t.globals.clone_ref(py))
        .map_err(py_err(py))?
        .into_bound(py);
    if bindings.is_map() {
        let dec = to_python::Decoder::new(py, env);
        let iter = rustler::types::map::MapIterator::new(bindings)
            .ok_or_else(|| Error::BadJob(job.as_c_arg()))?;
        let mut seen = std::collections::HashSet::new();
        for (k, v) in iter {
            let Some(name) = name_of(env, k) else {
                return Err(Error::Unsupported {
                    path: vec![],
                    culprit: Culprit::Erl(k.as_c_arg()),
                });
            };
            if !seen.insert(name.clone()) {
                return Err(Error::KeyCollision {
                    path: Vec::new(),
                    key: k.as_c_arg(),
                });
            }
            let value = dec
                .decode(v.as_c_arg(), 0)
                .map_err(|err| err.at(PathElem::Name(name.clone())))?;
            globals.set_item(name, value).map_err(py_err(py))?;
        }
    } else if !bindings.is_empty_list() {
        return Err(Error::BadJob(job.as_c_arg()));
    }
    let key = (src.as_slice().to_vec(), mode);
    let cached = with_tls(py, |t| t.code.get(&key).map(|c| c.clone_ref(py))).map_err(py_err(py))?;
    let compiled = match cached {
        Some(c) => c.into_bound(py),
        None => {
            let text = CString::new(src.as_slice()).map_err(|_| {
                Error::from_pyerr(
                    py,
                    pyo3::exceptions::PyValueError::new_err("source code contains a NUL byte"),
                )
            })?;
            let c = unsafe {
                Bound::from_owned_ptr_or_err(
                    py,
                    ffi::Py_CompileString(text.as_ptr(), c"<py>".as_ptr(), mode),
                )
            }
            .map_err(py_err(py))?;
            with_tls(py, |t| {
                if t.code.len() >= CODE_CACHE_MAX {
                    t.code.clear();
                }
                t.code.insert(key, c.clone().unbind());
            })
            .map_err(py_err(py))?;
            c
        }
    };
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyEval_EvalCode(compiled.as_ptr(), globals.as_ptr(), globals.as_ptr()),
        )
    }
    .map_err(py_err(py))
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
        Mode::Term => to_erlang::encode_as(renv, &ex.obj, none),
        Mode::Value => values::encode_value(renv, &ex.obj, none),
        Mode::Binary => values::buffer_copy(renv, &ex.obj),
    };
    match result {
        Ok(t) => (atoms::ok(), t).encode(renv),
        Err(e) => e.encode_tagged(renv),
    }
}
