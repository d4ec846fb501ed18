//! `eval` and `exec`: source code run in a namespace (a dict of globals), as `py_nif`'s
//! `exec::code` does it. A namespace is a worker object named by a handle marker, or
//! `undefined` for a fresh one. Bindings are the call's own: they are taken out again
//! afterwards unless the code assigned them.
use crate::jobs::{Failure, JobCx};
use crate::table::TableHandles;
use py_core::etf::Reader;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CString;

/// Compiled sources kept (cleared when full), as `py_nif`'s `CODE_CACHE_MAX`.
const CODE_CACHE_MAX: usize = 512;

/// Compiled source: the block's statements, and for `eval` the expression whose value
/// is the result (the block's last expression statement; none when it ends with
/// another statement).
type Code = (Option<Py<PyAny>>, Option<Py<PyAny>>);

thread_local! {
    /// Compiled sources, by source text and mode.
    static CODE: RefCell<HashMap<(Vec<u8>, bool), Code>> = RefCell::new(HashMap::new());
}

/// A fresh namespace: a module's globals.
pub fn new_namespace(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let globals = PyDict::new(py);
    globals.set_item("__builtins__", py.import("builtins")?)?;
    globals.set_item("__name__", "__py__")?;
    Ok(globals)
}

/// Runs `code` in `globals` with `bindings` (raw ETF: `[]` or a map) set for the call:
/// the value of the expression (`eval`: of the block's last expression statement,
/// `None` when the block ends with another statement), or `None` (`exec`).
pub fn run<'py>(
    cx: &JobCx<'_, 'py>,
    src: &[u8],
    bindings: &[u8],
    globals: &Bound<'py, PyDict>,
    eval: bool,
) -> Result<Bound<'py, PyAny>, Failure> {
    let py = cx.py;
    let mut bound = Vec::new();
    let result = bind(cx, globals, bindings, &mut bound)
        .and_then(|_| compiled(py, src, eval))
        .and_then(|(stmts, expr)| {
            if let Some(stmts) = stmts {
                eval_code(py, &stmts, globals)?;
            }
            match expr {
                Some(expr) => eval_code(py, &expr, globals),
                None => Ok(py.None().into_bound(py)),
            }
        });
    unbind(globals, bound);
    result
}

/// A binding set for one call: its name, its value, and what the name held before.
type Bound1<'py> = (
    Bound<'py, PyString>,
    Bound<'py, PyAny>,
    Option<Bound<'py, PyAny>>,
);

fn bind<'py>(
    cx: &JobCx<'_, 'py>,
    globals: &Bound<'py, PyDict>,
    bindings: &[u8],
    bound: &mut Vec<Bound1<'py>>,
) -> Result<(), Failure> {
    let py = cx.py;
    let mut r = Reader::raw(bindings);
    if r.is_nil() {
        return Ok(());
    }
    let pairs = r.map_header().map_err(|_| Failure::BadJob)?;
    for _ in 0..pairs {
        let taken = |name: &str| bound.iter().any(|(n, _, _)| n.to_str().ok() == Some(name));
        let (name, value) = cx.codec.named(py, &mut r, &TableHandles, taken)?;
        let key = PyString::new(py, &name);
        let before = globals.get_item(&key)?;
        globals.set_item(&key, &value)?;
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
) -> Result<Bound<'py, PyAny>, Failure> {
    Ok(unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyEval_EvalCode(code.as_ptr(), globals.as_ptr(), globals.as_ptr()),
        )
    }?)
}

/// The compiled source, from the cache or compiled now. `eval` of a single expression
/// compiles as one; a block goes through `erlang._compile_block`, which splits off its
/// last expression statement.
fn compiled(py: Python<'_>, src: &[u8], eval: bool) -> Result<Code, Failure> {
    let key = (src.to_vec(), eval);
    let hit = CODE.with(|c| {
        c.borrow().get(&key).map(|(s, e)| {
            (
                s.as_ref().map(|s| s.clone_ref(py)),
                e.as_ref().map(|e| e.clone_ref(py)),
            )
        })
    });
    if let Some(hit) = hit {
        return Ok(hit);
    }
    let text = CString::new(src)
        .map_err(|_| pyo3::exceptions::PyValueError::new_err("source code contains a NUL byte"))?;
    let compile = |mode| unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::Py_CompileString(text.as_ptr(), c"<py>".as_ptr(), mode),
        )
    };
    let (stmts, expr) = if !eval {
        (Some(compile(ffi::Py_file_input)?.unbind()), None)
    } else if let Ok(expr) = compile(ffi::Py_eval_input) {
        (None, Some(expr.unbind()))
    } else {
        let split = py
            .import("erlang")?
            .getattr("_compile_block")?
            .call1((PyString::new(py, &String::from_utf8_lossy(src)),))?;
        let parts = split.cast_into::<PyTuple>().map_err(PyErr::from)?;
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
            (
                stmts.as_ref().map(|s| s.clone_ref(py)),
                expr.as_ref().map(|e| e.clone_ref(py)),
            ),
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
