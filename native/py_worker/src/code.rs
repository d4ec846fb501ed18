//! `eval` and `exec`: source code run in a namespace (a dict of globals), by
//! `py_core::code` as in the NIF. A namespace is a worker object named by a handle
//! marker, or `undefined` for a fresh one.
use crate::jobs::{Failure, JobCx};
use crate::table::TableHandles;
use py_core::etf::Reader;
use pyo3::prelude::*;
use pyo3::types::PyDict;

pub use py_core::code::{new_namespace, resolve_in};

/// Runs `code` in `globals` with `bindings` (raw ETF: `[]` or a map) set for the call
/// (py_core::code runs it; the bindings are decoded from the external format here).
pub fn run<'py>(
    cx: &JobCx<'_, 'py>,
    src: &[u8],
    bindings: &[u8],
    globals: &Bound<'py, PyDict>,
    eval: bool,
) -> Result<Bound<'py, PyAny>, Failure> {
    let py = cx.py;
    py_core::code::run(
        globals,
        src,
        eval,
        |bound| {
            let mut r = Reader::raw(bindings);
            if r.is_nil() {
                return Ok(());
            }
            let pairs = r.map_header().map_err(|_| Failure::BadJob)?;
            for _ in 0..pairs {
                let (name, value) = cx
                    .codec
                    .named(py, &mut r, &TableHandles, |n| bound.has(n))?;
                bound.set(&name, value)?;
            }
            Ok(())
        },
        Failure::from,
    )
}
