//! numpy arrays both ways. `py:array/1`: an array's shape, dtype and memory, the memory
//! handed to Erlang as a binary that points into the array (no copy when the array is
//! C-contiguous) and keeps it alive. `py:ndarray/1,2`: an array over a binary, read-only
//! and without a copy (`numpy.frombuffer` over `py:buffer/1`'s exporter), or a writable
//! copy. numpy is imported on first use only (`pytypes::numpy`).
use super::handle;
use crate::base::atoms;
use crate::base::error::{ArrayKey, Error};
use crate::runtime::pytypes;
use pyo3::exceptions::PyBufferError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use rustler::{Encoder, Env, Term};

use py_core::array::not_flat;

/// A buffer export of an array, released (with the GIL) when this object is dropped: the
/// janitor drops it once the last binary pointing into it is collected.
#[pyclass(module = "erlang", name = "_HeldBuffer", frozen)]
struct HeldBuffer {
    _view: View,
}

struct View(ffi::Py_buffer);
// Only read (its pointer and length) while held, and released with the GIL in `Drop`.
unsafe impl Send for View {}
unsafe impl Sync for View {}

impl Drop for View {
    fn drop(&mut self) {
        // A pyclass is dropped by its deallocator, which runs with the GIL.
        unsafe { ffi::PyBuffer_Release(&mut self.0) };
    }
}

/// `py:array/1`: `#{shape, dtype, data}` for a numpy array, or for any other object with
/// the buffer protocol through `numpy.asarray(memoryview(obj))` (bytes are `|u1`,
/// `array.array('d')` is `<f8`).
pub fn describe<'a>(env: Env<'a>, obj: &Bound<'_, PyAny>) -> Result<Term<'a>, Error> {
    let py = obj.py();
    describe_py(env, obj).map_err(|err| Error::from_pyerr(py, err))
}

fn describe_py<'a>(env: Env<'a>, obj: &Bound<'_, PyAny>) -> PyResult<Term<'a>> {
    let py_core::array::CArray {
        array: arr,
        dtype: dtype_str,
        shape,
    } = py_core::array::c_array(obj)?;
    let data = shared(env, &arr)?;
    let pairs = [
        (atoms::shape().encode(env), shape.encode(env)),
        (
            atoms::dtype().encode(env),
            crate::base::env::binary(env, dtype_str.as_bytes()),
        ),
        (atoms::data().encode(env), data),
    ];
    Term::map_from_pairs(env, &pairs)
        .map_err(|_| PyBufferError::new_err("py:array: cannot build the map"))
}

/// A binary over a C-contiguous array's memory, holding a buffer export of it.
fn shared<'a>(env: Env<'a>, arr: &Bound<'_, PyAny>) -> PyResult<Term<'a>> {
    let py = arr.py();
    let mut view: ffi::Py_buffer = unsafe { std::mem::zeroed() };
    // No PyBUF_FORMAT: numpy then exports dtypes the struct syntax has no letter for
    // (datetime64); the dtype goes to Erlang as numpy spells it.
    if unsafe { ffi::PyObject_GetBuffer(arr.as_ptr(), &mut view, ffi::PyBUF_C_CONTIGUOUS) } != 0 {
        return Err(PyErr::fetch(py));
    }
    let (ptr, len) = (view.buf as *const u8, view.len.max(0) as usize);
    // From here the export is released when the holder is dropped, whatever happens.
    let held = Bound::new(py, HeldBuffer { _view: View(view) })?;
    Ok(handle::kept_binary(env, held.into_any().unbind(), ptr, len))
}

/// `py:ndarray/1,2`: an array of `dtype` and `shape` over the binary `data`, read-only
/// and sharing the binary's memory, or a writable copy. The fields are checked here,
/// each error naming its key (`{bad_array, Key, Why}`).
pub fn ndarray<'py>(
    py: Python<'py>,
    data: Term<'_>,
    shape: Term<'_>,
    dtype: Term<'_>,
    writable: bool,
) -> Result<Bound<'py, PyAny>, Error> {
    let bad = |key, why: String| Error::BadArray { key, why };
    let e = |err| Error::from_pyerr(py, err);
    let bin =
        rustler::Binary::from_term(data).map_err(|_| bad(ArrayKey::Data, "not a binary".into()))?;
    let dims: Vec<u64> = shape.decode().map_err(|_| {
        bad(
            ArrayKey::Shape,
            "not a list of non-negative integers".into(),
        )
    })?;
    let text = rustler::Binary::from_term(dtype)
        .ok()
        .and_then(|b| std::str::from_utf8(b.as_slice()).ok().map(str::to_owned))
        .ok_or_else(|| bad(ArrayKey::DType, "not a UTF-8 binary".into()))?;
    let np = pytypes::numpy(py).map_err(e)?;
    let dt = np
        .getattr("dtype")
        .and_then(|f| f.call1((text.as_str(),)))
        .map_err(|err| bad(ArrayKey::DType, err.value(py).to_string()))?;
    if let Some(why) = not_flat(&dt).map_err(e)? {
        return Err(bad(ArrayKey::DType, why));
    }
    let itemsize: u64 = dt
        .getattr("itemsize")
        .and_then(|s| s.extract())
        .map_err(e)?;
    if itemsize == 0 {
        return Err(bad(
            ArrayKey::DType,
            format!("dtype {text:?} has no size (give one, as in <U8 or |S4)"),
        ));
    }
    let needed = dims
        .iter()
        .try_fold(itemsize, |acc, d| acc.checked_mul(*d))
        .ok_or_else(|| bad(ArrayKey::Shape, format!("shape {dims:?} is too large")))?;
    if needed != bin.len() as u64 {
        return Err(bad(
            ArrayKey::Data,
            format!(
                "{} bytes, where shape {dims:?} of dtype {text} needs {needed}",
                bin.len()
            ),
        ));
    }
    let build = || -> PyResult<Bound<'py, PyAny>> {
        let buffer = handle::buffer_object(py, data)?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("dtype", &dt)?;
        let flat = np.call_method("frombuffer", (buffer,), Some(&kwargs))?;
        let arr = flat.call_method1("reshape", (PyTuple::new(py, &dims)?,))?;
        if writable {
            arr.call_method0("copy")
        } else {
            Ok(arr)
        }
    };
    build().map_err(e)
}
