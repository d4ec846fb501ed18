//! Dotted names ("os.path.isdir", "datetime.datetime.now"): the longest importable prefix
//! is imported and the rest walked with getattr; a name without a dot is a builtin.
use pyo3::exceptions::PyModuleNotFoundError;
use pyo3::prelude::*;
use pyo3::types::PyModule;
use std::cell::RefCell;
use std::collections::HashMap;

thread_local! {
    /// Resolved owners of dotted names ("os.path" for "os.path.isdir"), per thread, that
    /// is per context: imports and walks happen once; the last attribute is looked up on
    /// each call (a dict lookup), so rebinding a module attribute is seen at once.
    static OWNERS: RefCell<HashMap<String, Py<PyAny>>> = RefCell::new(HashMap::new());
}

pub fn resolve<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
    match name.rsplit_once('.') {
        None => {
            let builtins = py.import("builtins")?;
            match builtins.getattr(name) {
                Ok(v) => Ok(v),
                Err(attr_err) => import(py, name).map(|m| m.into_any()).map_err(|_| attr_err),
            }
        }
        Some((owner, attr)) => {
            let cached = OWNERS.with(|o| o.borrow().get(owner).map(|x| x.clone_ref(py)));
            let owner_obj = match cached {
                Some(o) => o.into_bound(py),
                None => {
                    let o = walk(py, owner)?;
                    OWNERS.with(|c| c.borrow_mut().insert(owner.to_string(), o.clone().unbind()));
                    o
                }
            };
            match owner_obj.getattr(attr) {
                Ok(v) => Ok(v),
                // A submodule that nobody imported yet ("xml.etree" then "ElementTree").
                Err(attr_err) if owner_obj.is_instance_of::<PyModule>() => match import(py, name) {
                    Ok(m) => Ok(m.into_any()),
                    Err(e) if module_not_found(py, &e, name) => Err(attr_err),
                    Err(e) => Err(e),
                },
                Err(attr_err) => Err(attr_err),
            }
        }
    }
}

/// The owner and last attribute of a dotted name that `resolve` has already seen on this
/// thread ("os.path" and "isdir" for "os.path.isdir"); None for a bare name or a new one.
pub fn cached_owner<'py, 'n>(
    py: Python<'py>,
    name: &'n str,
) -> Option<(Bound<'py, PyAny>, &'n str)> {
    let (owner, attr) = name.rsplit_once('.')?;
    let obj = OWNERS.with(|o| o.borrow().get(owner).map(|x| x.clone_ref(py)))?;
    Some((obj.into_bound(py), attr))
}

fn walk<'py>(py: Python<'py>, path: &str) -> PyResult<Bound<'py, PyAny>> {
    let mut parts = path.split('.');
    let first = parts.next().unwrap_or_default();
    let mut obj = match import(py, first) {
        Ok(m) => m.into_any(),
        Err(e) if module_not_found(py, &e, first) => {
            py.import("builtins")?.getattr(first).map_err(|_| e)?
        }
        Err(e) => return Err(e),
    };
    let mut prefix = first.to_string();
    for part in parts {
        prefix.push('.');
        prefix.push_str(part);
        obj = match obj.getattr(part) {
            Ok(v) => v,
            Err(attr_err) if obj.is_instance_of::<PyModule>() => {
                match import(py, prefix.as_str()) {
                    Ok(m) => m.into_any(),
                    Err(e) if module_not_found(py, &e, &prefix) => return Err(attr_err),
                    Err(e) => return Err(e),
                }
            }
            Err(attr_err) => return Err(attr_err),
        };
    }
    Ok(obj)
}

/// True when `err` says that `name` (or a package above it) does not exist as a module,
/// as opposed to an import error raised inside a module that does exist.
pub fn module_not_found(py: Python<'_>, err: &PyErr, name: &str) -> bool {
    err.is_instance_of::<PyModuleNotFoundError>(py)
        && err
            .value(py)
            .getattr("name")
            .and_then(|n| n.extract::<String>())
            .map(|n| n == name || name.starts_with(&format!("{n}.")))
            .unwrap_or(false)
}

/// `import name`. `PyImport_Import` looks the module up in `sys.modules` again after
/// importing it, and raises `KeyError` when another thread's import of the same module
/// failed meanwhile (a timeout that interrupted its body took it out): then the module
/// is imported again, once, by this thread.
pub fn import<'py>(py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyModule>> {
    match py.import(name) {
        Err(e) if e.is_instance_of::<pyo3::exceptions::PyKeyError>(py) => py.import(name),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::testing::with_py;

    fn qualified(obj: &Bound<'_, PyAny>) -> String {
        let m: String = obj
            .getattr("__module__")
            .and_then(|m| m.extract())
            .unwrap_or_default();
        let n: String = obj
            .getattr("__qualname__")
            .and_then(|m| m.extract())
            .unwrap_or_default();
        format!("{m}.{n}")
    }

    #[test]
    fn resolves_module_functions_and_walks_attributes() {
        with_py(|py| {
            let pow = resolve(py, "math.pow").unwrap();
            assert_eq!(
                pow.call1((2, 16)).unwrap().extract::<f64>().unwrap(),
                65536.0
            );
            let now = resolve(py, "datetime.datetime.now").unwrap();
            assert_eq!(
                qualified(&now.getattr("__self__").unwrap()),
                "datetime.datetime"
            );
            let isdir = resolve(py, "os.path.isdir").unwrap();
            assert!(isdir.call1(("/",)).unwrap().extract::<bool>().unwrap());
        });
    }

    #[test]
    fn imports_submodules_nobody_imported_yet() {
        with_py(|py| {
            let f = resolve(py, "xml.etree.ElementTree.fromstring").unwrap();
            let root = f.call1(("<a x='1'/>",)).unwrap();
            assert_eq!(
                root.getattr("tag").unwrap().extract::<String>().unwrap(),
                "a"
            );
        });
    }

    #[test]
    fn cached_owner_after_resolve() {
        with_py(|py| {
            // Per thread, and each test runs on a thread of its own.
            assert!(cached_owner(py, "json.dumps").is_none());
            resolve(py, "os.path.join").unwrap();
            let (owner, attr) = cached_owner(py, "os.path.join").unwrap();
            assert_eq!(attr, "join");
            assert!(owner.getattr("isdir").is_ok());
            assert!(cached_owner(py, "len").is_none());
            assert!(cached_owner(py, "no_such_module_xyz.f").is_none());
        });
    }

    #[test]
    fn bare_names_are_builtins() {
        with_py(|py| {
            assert_eq!(
                resolve(py, "len")
                    .unwrap()
                    .call1(("abc",))
                    .unwrap()
                    .extract::<usize>()
                    .unwrap(),
                3
            );
        });
    }

    #[test]
    fn missing_module_and_attribute_raise_the_python_errors() {
        with_py(|py| {
            let e = resolve(py, "no_such_module_xyz.f").unwrap_err();
            assert!(e.is_instance_of::<PyModuleNotFoundError>(py), "{e}");
            let e = resolve(py, "math.no_such_function").unwrap_err();
            assert!(
                e.is_instance_of::<pyo3::exceptions::PyAttributeError>(py),
                "{e}"
            );
            let e = resolve(py, "no_such_builtin_xyz").unwrap_err();
            assert!(
                e.is_instance_of::<pyo3::exceptions::PyAttributeError>(py),
                "{e}"
            );
        });
    }

    fn call_f(py: Python<'_>) -> i32 {
        let f = resolve(py, "py_core_cache_test.f").unwrap();
        f.call0().unwrap().extract().unwrap()
    }

    #[test]
    fn owners_are_cached_but_attributes_are_looked_up_each_time() {
        with_py(|py| {
            let m = PyModule::from_code(
                py,
                c"def f(): return 1",
                c"py_core_cache_test.py",
                c"py_core_cache_test",
            )
            .unwrap();
            py.import("sys")
                .unwrap()
                .getattr("modules")
                .unwrap()
                .set_item("py_core_cache_test", &m)
                .unwrap();
            assert_eq!(call_f(py), 1);
            py.run(
                c"import py_core_cache_test as m; m.f = lambda: 2",
                None,
                None,
            )
            .unwrap();
            assert_eq!(call_f(py), 2);
        });
    }

    #[test]
    fn an_import_error_inside_a_module_is_not_a_missing_module() {
        with_py(|py| {
            let e = PyModuleNotFoundError::new_err("No module named 'inner_dep'");
            e.value(py).setattr("name", "inner_dep").unwrap();
            assert!(!module_not_found(py, &e, "outer"));
            assert!(module_not_found(py, &e, "inner_dep.x"));
            assert!(module_not_found(py, &e, "inner_dep"));
            let other = pyo3::exceptions::PyImportError::new_err("boom");
            assert!(!module_not_found(py, &other, "inner_dep"));
        });
    }
}
