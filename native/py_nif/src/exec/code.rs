//! `eval` and `exec`: source code run in a namespace (a dict of globals). Each calling
//! process has a namespace of its own, which py_exec makes on its first eval or exec
//! and passes with every later one; an explicit one (`py:namespace/0`) can be shared.
//! Either is a handle, so the call runs on the context that holds it. Bindings are the
//! call's own: they are taken out again afterwards unless the code assigned them.
use crate::base::error::Error;
use crate::base::tuning::CODE_CACHE_MAX;
use crate::convert::handle::PyHandle;
use crate::convert::to_python;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
use rustler::{Env, Term};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CString;

/// Compiled source: the block's statements, and for `eval` the expression whose value
/// is the result (the block's last expression statement; none when it ends with
/// another statement).
struct Compiled {
    stmts: Option<Py<PyAny>>,
    expr: Option<Py<PyAny>>,
}

thread_local! {
    /// Compiled sources, per thread (no lock), by source text and mode.
    static CODE: RefCell<HashMap<(Vec<u8>, bool), Compiled>> = RefCell::new(HashMap::new());
}

/// A fresh namespace: a module's globals.
pub fn new_namespace(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let globals = PyDict::new(py);
    globals.set_item("__builtins__", py.import("builtins")?)?;
    globals.set_item("__name__", "__py__")?;
    Ok(globals)
}

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

/// Runs `code` in the namespace `ns` with `bindings` set for the call: the value of
/// the expression (`eval`: of the block's last expression statement, `None` when the
/// block ends with another statement), or `None` (`exec`).
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
    let mut bound = Vec::new();
    let result = bind(py, env, &globals, bindings, job, &mut bound)
        .and_then(|_| compiled(py, src.as_slice(), eval))
        .and_then(|(stmts, expr)| {
            if let Some(stmts) = stmts {
                eval_code(py, &stmts, &globals)?;
            }
            match expr {
                Some(expr) => eval_code(py, &expr, &globals),
                None => Ok(py.None().into_bound(py)),
            }
        });
    unbind(&globals, bound);
    result
}

/// A binding set for one call: its name, its value, and what the name held before.
type Bound1<'py> = (
    Bound<'py, PyString>,
    Bound<'py, PyAny>,
    Option<Bound<'py, PyAny>>,
);

fn bind<'a, 'py>(
    py: Python<'py>,
    env: Env<'a>,
    globals: &Bound<'py, PyDict>,
    bindings: Term<'a>,
    job: Term<'a>,
    bound: &mut Vec<Bound1<'py>>,
) -> Result<(), Error> {
    if bindings.is_empty_list() {
        return Ok(());
    }
    let iter = rustler::types::map::MapIterator::new(bindings)
        .ok_or_else(|| Error::BadJob(job.as_c_arg()))?;
    let dec = to_python::Decoder::new(py, env);
    let py_err = |e| Error::from_pyerr(py, e);
    for (k, v) in iter {
        let (name, value) = dec.named(k, v, |name| {
            bound.iter().any(|(n, _, _)| n.to_str().ok() == Some(name))
        })?;
        let key = PyString::new(py, &name);
        let before = globals.get_item(&key).map_err(py_err)?;
        globals.set_item(&key, &value).map_err(py_err)?;
        bound.push((key, value, before));
    }
    Ok(())
}

/// Takes the call's bindings out again: a name still bound to the value given is
/// restored to what it held before (or removed); one the code assigned stays.
fn unbind(globals: &Bound<'_, PyDict>, bound: Vec<Bound1<'_>>) {
    for (key, value, before) in bound.into_iter().rev() {
        let untouched = matches!(globals.get_item(&key), Ok(Some(now)) if now.is(&value));
        if !untouched {
            continue;
        }
        // Errors here (a dict subclass that refuses) leave the binding: nothing to report.
        let _ = match before {
            Some(old) => globals.set_item(&key, old),
            None => globals.del_item(&key),
        };
    }
}

fn eval_code<'py>(
    py: Python<'py>,
    code: &Py<PyAny>,
    globals: &Bound<'py, PyDict>,
) -> Result<Bound<'py, PyAny>, Error> {
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyEval_EvalCode(code.as_ptr(), globals.as_ptr(), globals.as_ptr()),
        )
    }
    .map_err(|e| Error::from_pyerr(py, e))
}

type Code = (Option<Py<PyAny>>, Option<Py<PyAny>>);

/// The compiled source, from this thread's cache or compiled now. `eval` of a single
/// expression compiles as one; a block goes through `erlang._compile_block`, which
/// splits off its last expression statement.
fn compiled(py: Python<'_>, src: &[u8], eval: bool) -> Result<Code, Error> {
    let key = (src.to_vec(), eval);
    let hit = CODE.with(|c| {
        c.borrow().get(&key).map(|c| {
            (
                c.stmts.as_ref().map(|s| s.clone_ref(py)),
                c.expr.as_ref().map(|e| e.clone_ref(py)),
            )
        })
    });
    if let Some(hit) = hit {
        return Ok(hit);
    }
    let py_err = |e| Error::from_pyerr(py, e);
    let text = CString::new(src).map_err(|_| {
        py_err(pyo3::exceptions::PyValueError::new_err(
            "source code contains a NUL byte",
        ))
    })?;
    let compile = |mode| unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::Py_CompileString(text.as_ptr(), c"<py>".as_ptr(), mode),
        )
    };
    let (stmts, expr) = if !eval {
        (
            Some(compile(ffi::Py_file_input).map_err(py_err)?.unbind()),
            None,
        )
    } else if let Ok(expr) = compile(ffi::Py_eval_input) {
        (None, Some(expr.unbind()))
    } else {
        let split = py
            .import("erlang")
            .and_then(|m| m.getattr("_compile_block"))
            .and_then(|f| f.call1((PyString::new(py, &String::from_utf8_lossy(src)),)))
            .map_err(py_err)?;
        let parts = split
            .cast_into::<PyTuple>()
            .map_err(|e| py_err(PyErr::from(e)))?;
        let part = |i| -> Option<Py<PyAny>> {
            parts
                .get_item(i)
                .ok()
                .filter(|c| !c.is_none())
                .map(Bound::unbind)
        };
        (part(0), part(1))
    };
    CODE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CODE_CACHE_MAX {
            c.clear();
        }
        c.insert(
            key,
            Compiled {
                stmts: stmts.as_ref().map(|s| s.clone_ref(py)),
                expr: expr.as_ref().map(|e| e.clone_ref(py)),
            },
        );
    });
    Ok((stmts, expr))
}

/// A dotted name looked up in a namespace first ("f", "obj.method"), as Python code
/// in that namespace would see it; `None` when its first part is not bound there.
pub fn resolve_in<'py>(ns: &Bound<'py, PyDict>, name: &str) -> PyResult<Option<Bound<'py, PyAny>>> {
    let mut parts = name.split('.');
    let Some(first) = parts.next() else {
        return Ok(None);
    };
    let Some(mut value) = ns.get_item(first)? else {
        return Ok(None);
    };
    for attr in parts {
        value = value.getattr(attr)?;
    }
    Ok(Some(value))
}
