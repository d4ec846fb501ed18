//! `eval` and `exec` as the NIF and the worker both run them: a namespace (a dict of
//! globals), bindings that belong to the call, and compiled source cached per thread.
//! Each side decodes the bindings from its own terms (rustler terms in the NIF, the
//! external term format in a worker) and hands them to [`run`].
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString, PyTuple};
use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::CString;

/// Compiled sources kept per thread (the cache is cleared when full): enough for the
/// distinct snippets of an application, bounded for one that generates source text.
pub const CODE_CACHE_MAX: usize = 512;

/// Compiled source: the block's statements, and for `eval` the expression whose value
/// is the result (the block's last expression statement; none when it ends with
/// another statement).
type Code = (Option<Py<PyAny>>, Option<Py<PyAny>>);

thread_local! {
    /// Compiled sources, per thread (no lock), by source text and mode.
    static CODE: RefCell<HashMap<(Vec<u8>, bool), Code>> = RefCell::new(HashMap::new());
}

/// A fresh namespace: a module's globals.
pub fn new_namespace(py: Python<'_>) -> PyResult<Bound<'_, PyDict>> {
    let globals = PyDict::new(py);
    globals.set_item("__builtins__", py.import("builtins")?)?;
    globals.set_item("__name__", "__py__")?;
    Ok(globals)
}

/// A binding set for one call: its name, its value, and what the name held before.
type Bound1<'py> = (
    Bound<'py, PyString>,
    Bound<'py, PyAny>,
    Option<Bound<'py, PyAny>>,
);

/// The bindings of one call, set in a namespace and taken out again afterwards.
pub struct Bindings<'py> {
    globals: Bound<'py, PyDict>,
    bound: Vec<Bound1<'py>>,
}

impl<'py> Bindings<'py> {
    /// Whether `name` is bound by this call already (two keys of the bindings that are
    /// one name in Python are refused by the caller: `x` and `<<"x">>`).
    pub fn has(&self, name: &str) -> bool {
        self.bound
            .iter()
            .any(|(n, _, _)| n.to_str().ok() == Some(name))
    }

    /// Binds `name` to `value` for the call.
    pub fn set(&mut self, name: &str, value: Bound<'py, PyAny>) -> PyResult<()> {
        let key = PyString::new(self.globals.py(), name);
        let before = self.globals.get_item(&key)?;
        self.globals.set_item(&key, &value)?;
        self.bound.push((key, value, before));
        Ok(())
    }

    /// Takes the call's bindings out again: a name still bound to the value given is
    /// restored to what it held before (or removed); one the code assigned stays.
    fn undo(self) {
        for (key, value, before) in self.bound.into_iter().rev() {
            let untouched = matches!(self.globals.get_item(&key), Ok(Some(now)) if now.is(&value));
            if !untouched {
                continue;
            }
            // Errors here (a dict subclass that refuses) leave the binding: nothing to
            // report.
            let _ = match before {
                Some(old) => self.globals.set_item(&key, old),
                None => self.globals.del_item(&key),
            };
        }
    }
}

/// Runs the source `src` in `globals` with the bindings `bind` sets for the call: the
/// value of the expression (`eval`: of the block's last expression statement, `None`
/// when the block ends with another statement), or `None` (`exec`). The bindings are
/// taken out again whatever happens, a failure of `bind` included.
pub fn run<'py, E>(
    globals: &Bound<'py, PyDict>,
    src: &[u8],
    eval: bool,
    bind: impl FnOnce(&mut Bindings<'py>) -> Result<(), E>,
    py_err: impl Fn(PyErr) -> E,
) -> Result<Bound<'py, PyAny>, E> {
    let py = globals.py();
    let mut bindings = Bindings {
        globals: globals.clone(),
        bound: Vec::new(),
    };
    let result = bind(&mut bindings).and_then(|_| {
        let (stmts, expr) = compiled(py, src, eval).map_err(&py_err)?;
        if let Some(stmts) = stmts {
            eval_code(py, &stmts, globals).map_err(&py_err)?;
        }
        match expr {
            Some(expr) => eval_code(py, &expr, globals).map_err(&py_err),
            None => Ok(py.None().into_bound(py)),
        }
    });
    bindings.undo();
    result
}

fn eval_code<'py>(
    py: Python<'py>,
    code: &Py<PyAny>,
    globals: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: a code object and a dict, both alive for the call.
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyEval_EvalCode(code.as_ptr(), globals.as_ptr(), globals.as_ptr()),
        )
    }
}

/// The compiled source, from this thread's cache or compiled now. `eval` of a single
/// expression compiles as one; a block goes through `erlang._compile_block`, which
/// splits off its last expression statement.
fn compiled(py: Python<'_>, src: &[u8], eval: bool) -> PyResult<Code> {
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
    // SAFETY: a NUL-terminated source text and a static file name.
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

static EVAL_EXEC: pyo3::sync::PyOnceLock<(Py<PyAny>, Py<PyAny>)> = pyo3::sync::PyOnceLock::new();

/// The positional arguments for calling `f`: `eval` and `exec` called without globals
/// read them from the calling Python frame, and a call from Erlang has none
/// ("SystemError: frame does not exist"): they get a fresh namespace of their own, as
/// at the top of a new module. Any other callable gets `args` as they are.
pub fn frame_globals<'py>(
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

#[cfg(test)]
mod tests {
    use super::*;

    // The crate's set-up makes `erlang` (`_compile_block`) importable.
    use crate::testing::with_py;

    #[test]
    fn bindings_belong_to_the_call() {
        with_py(|py| {
            let g = new_namespace(py).unwrap();
            g.set_item("y", 1).unwrap();
            let no_err = |e: PyErr| e;
            // y shadowed, x new; the code assigns z.
            let r = run(
                &g,
                b"z = x + y\nz",
                true,
                |b| {
                    b.set("x", 10i64.into_pyobject(py).unwrap().into_any())?;
                    b.set("y", 5i64.into_pyobject(py).unwrap().into_any())
                },
                no_err,
            )
            .unwrap();
            assert_eq!(r.extract::<i64>().unwrap(), 15);
            assert!(g.get_item("x").unwrap().is_none(), "x is the call's own");
            assert_eq!(
                g.get_item("y").unwrap().unwrap().extract::<i64>().unwrap(),
                1
            );
            assert_eq!(
                g.get_item("z").unwrap().unwrap().extract::<i64>().unwrap(),
                15
            );
        });
    }

    #[test]
    fn a_failed_binding_or_run_takes_the_bindings_out() {
        with_py(|py| {
            let g = new_namespace(py).unwrap();
            let r = run(
                &g,
                b"1 / 0",
                true,
                |b| b.set("x", 1i64.into_pyobject(py).unwrap().into_any()),
                |e| e,
            );
            assert!(r
                .unwrap_err()
                .is_instance_of::<pyo3::exceptions::PyZeroDivisionError>(py));
            assert!(g.get_item("x").unwrap().is_none());
            let r: Result<_, String> = run(
                &g,
                b"x",
                true,
                |b| {
                    b.set("x", 1i64.into_pyobject(py).unwrap().into_any())
                        .map_err(|e| e.to_string())?;
                    assert!(b.has("x"));
                    Err("bad binding".into())
                },
                |e| e.to_string(),
            );
            assert_eq!(r.unwrap_err(), "bad binding");
            assert!(g.get_item("x").unwrap().is_none());
        });
    }

    #[test]
    fn names_resolve_in_the_namespace_first() {
        with_py(|py| {
            let g = new_namespace(py).unwrap();
            run(
                &g,
                b"import os\nclass A:\n  b = 3",
                false,
                |_| Ok(()),
                |e| e,
            )
            .unwrap();
            let v = resolve_in(&g, "A.b").unwrap().unwrap();
            assert_eq!(v.extract::<i64>().unwrap(), 3);
            assert!(resolve_in(&g, "nope.x").unwrap().is_none());
            assert!(resolve_in(&g, "A.missing").is_err());
        });
    }
}
