//! Tests of the codec against a real interpreter: golden vectors from `term_to_binary`,
//! round trips of docs/types.md's rows, errors and their paths, markers and handles,
//! malformed input, and timings (printed, not asserted).
use super::*;
use pyo3::types::PyDict;
use std::ffi::CString;

mod call;
mod errors;
mod fuzz;
mod golden;
mod markers;
mod reader;
mod roundtrip;
mod speed;

/// A fake marker: a reference as `term_to_binary(make_ref())` writes it, without 131.
pub(super) const MARKER: &[u8] = &[
    90, 0, 3, 119, 13, 110, 111, 110, 111, 100, 101, 64, 110, 111, 104, 111, 115, 116, 0, 0, 0, 0,
    0, 0, 115, 28, 100, 132, 0, 1, 106, 209, 84, 32,
];

static TYPES: pyo3::sync::PyOnceLock<Types> = pyo3::sync::PyOnceLock::new();

/// Runs `f` with the crate's test set-up ([`crate::testing::with_py`]) and the codec's types.
pub(super) fn with_py<T>(f: impl FnOnce(Python<'_>, &Types) -> T) -> T {
    crate::testing::with_py(|py| {
        let types = TYPES.get_or_init(py, || Types::load(py).unwrap());
        f(py, types)
    })
}

/// The worker's table, as a vector: an object's number is its position.
#[derive(Default)]
pub(super) struct VecHandles {
    pub objs: Vec<Py<PyAny>>,
    pub forgotten: Vec<u64>,
}

impl Handles for VecHandles {
    fn get(&self, py: Python<'_>, id: u64) -> Option<Py<PyAny>> {
        self.objs.get(id as usize).map(|o| o.clone_ref(py))
    }
    fn put(&mut self, _py: Python<'_>, obj: Py<PyAny>) -> u64 {
        self.objs.push(obj);
        self.objs.len() as u64 - 1
    }
    fn forget(&mut self, _py: Python<'_>, id: u64) {
        self.forgotten.push(id);
    }
}

/// A codec with the marker and the default limits.
pub(super) fn codec(types: &Types) -> Codec<'_> {
    Codec {
        types,
        limits: Limits::default(),
        marker: Some(MARKER.to_vec()),
        none_as_nil: false,
    }
}

/// Evaluates Python `code` (statements, then the expression `expr`) with `erlang`'s
/// names and `v` bound.
pub(super) fn eval<'py>(
    py: Python<'py>,
    code: &str,
    expr: &str,
    v: Option<&Bound<'py, PyAny>>,
) -> Bound<'py, PyAny> {
    let ns = PyDict::new(py);
    py.run(
        c"import erlang, math, collections, enum\nfrom erlang import Atom, Pid, Ref, Port, Fun",
        Some(&ns),
        None,
    )
    .unwrap();
    if let Some(v) = v {
        ns.set_item("v", v).unwrap();
    }
    let code = CString::new(code).unwrap();
    py.run(&code, Some(&ns), None).unwrap();
    let cexpr = CString::new(expr).unwrap();
    py.eval(&cexpr, Some(&ns), None)
        .unwrap_or_else(|e| panic!("{expr}: {e}"))
}

/// Asserts the Python predicate `pred` over `v`.
pub(super) fn check(py: Python<'_>, v: &Bound<'_, PyAny>, pred: &str) {
    let ok: bool = eval(py, "", pred, Some(v)).extract().unwrap();
    assert!(ok, "{pred} is false for {v:?}");
}

/// ETF (with 131) of `obj`, with a fresh table.
pub(super) fn enc(codec: &Codec<'_>, obj: &Bound<'_, PyAny>) -> Result<Vec<u8>, EtfError> {
    let mut h = VecHandles::default();
    codec.encode_term(obj.py(), obj, &mut h).map(|(b, _)| b)
}

/// The reason term an error renders to, with 131.
pub(super) fn reason(codec: &Codec<'_>, py: Python<'_>, e: &EtfError) -> Vec<u8> {
    let mut w = Writer::term();
    let mut h = VecHandles::default();
    w.error(e, codec, py, &mut h);
    w.buf
}

/// The raw ETF (no 131) of small hand-made terms, for expected paths and keys.
pub(super) fn atom(name: &str) -> Vec<u8> {
    let mut w = Writer::new();
    w.atom(name);
    w.buf
}
