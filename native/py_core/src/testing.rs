//! The one interpreter set-up every test of this crate runs under.
//!
//! Tests run on parallel threads of one process, so the first to import `erlang` fixes
//! what it sees: a set-up per module let a test without the stand-in `_erlang` import
//! `erlang` first (its pure-Python term classes, `_native = None`), and the codec's tests
//! then failed or passed by test order. One set-up, done before any test's code, fixes that.
use pyo3::prelude::*;
use pyo3::types::PyDict;

static READY: pyo3::sync::PyOnceLock<()> = pyo3::sync::PyOnceLock::new();

/// Runs `f` with the interpreter, the `erlang` package importable from python/ and a
/// stand-in `_erlang` that has the codec's term classes and records `call`s in `calls`.
pub(crate) fn with_py<T>(f: impl for<'py> FnOnce(Python<'py>) -> T) -> T {
    Python::initialize();
    Python::attach(|py| {
        READY.get_or_init(py, || {
            use crate::etf::terms;
            let setup = PyDict::new(py);
            let pkg = concat!(env!("CARGO_MANIFEST_DIR"), "/../../python");
            setup.set_item("pkg", pkg).unwrap();
            setup.set_item("Pid", py.get_type::<terms::Pid>()).unwrap();
            setup.set_item("Ref", py.get_type::<terms::Ref>()).unwrap();
            setup.set_item("Port", py.get_type::<terms::Port>()).unwrap();
            setup.set_item("Fun", py.get_type::<terms::Fun>()).unwrap();
            py.run(
                c"import sys, types\n\
assert 'erlang' not in sys.modules, 'erlang was imported before the test set-up'\n\
sys.path.insert(0, pkg)\n\
m = types.ModuleType('_erlang')\n\
m.Pid, m.Ref, m.Port, m.Fun = Pid, Ref, Port, Fun\n\
m.calls = []\n\
def call(target, function, args):\n    m.calls.append((target, function, args))\n    return ('called', args)\n\
m.call = call\n\
sys.modules['_erlang'] = m\n",
                Some(&setup),
                None,
            )
            .unwrap();
        });
        f(py)
    })
}
