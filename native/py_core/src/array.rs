//! numpy arrays as `py:array/1` and `py:ndarray/1,2` see them, in the NIF and in the
//! worker alike: numpy imported on first use, which dtypes hold plain data, and the
//! C-contiguous array (with its dtype and shape) behind any buffer-protocol object.
//! How the memory then reaches Erlang differs: shared in the NIF, copied in a worker.
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyMemoryView;

static NUMPY: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

/// The numpy module, imported on first use by `py:array/1` or `py:ndarray/1,2`, never at
/// start-up: where numpy is not installed they raise `ModuleNotFoundError` and nothing
/// else changes.
pub fn numpy(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    NUMPY
        .get_or_try_init(py, || py.import("numpy").map(Bound::unbind))
        .map(|m| m.bind(py))
}

/// Kinds of dtype whose items are plain bytes in the array's memory (booleans, integers,
/// floats, complex, datetimes and timedeltas, byte and unicode strings, raw void). Object
/// arrays hold pointers, numpy's variable-width strings (`T`) pointers into an arena.
const FLAT_KINDS: &str = "biufcmMSUV";

/// Why the dtype's items are not bytes that mean something outside this process, if so.
pub fn not_flat(dtype: &Bound<'_, PyAny>) -> PyResult<Option<String>> {
    let kind: String = dtype.getattr("kind")?.extract()?;
    if !dtype.getattr("fields")?.is_none() {
        return Ok(Some(format!(
            "dtype {} is structured: its fields would be lost (view it as 'u1', or send the fields one by one)",
            dtype.repr()?
        )));
    }
    if kind.len() != 1 || !FLAT_KINDS.contains(kind.as_str()) {
        let name: String = dtype.getattr("str")?.extract()?;
        return Ok(Some(format!(
            "dtype {name} (kind {kind:?}) holds pointers (to Python objects or strings), not data"
        )));
    }
    Ok(None)
}

/// What `py:array/1` describes: a C-contiguous numpy array, its dtype as numpy spells it
/// (`dtype.str`) and its shape.
pub struct CArray<'py> {
    pub array: Bound<'py, PyAny>,
    pub dtype: String,
    pub shape: Vec<u64>,
}

/// `obj` as a C-contiguous array: a numpy array as it is (copied once into C order when
/// it is not laid out so), any other buffer-protocol object through
/// `numpy.asarray(memoryview(obj))` (bytes are `|u1`, `array.array('d')` is `<f8`).
pub fn c_array<'py>(obj: &Bound<'py, PyAny>) -> PyResult<CArray<'py>> {
    let py = obj.py();
    let np = numpy(py)?;
    let arr = if obj.is_instance(&np.getattr("ndarray")?)? {
        obj.clone()
    } else if unsafe { ffi::PyObject_CheckBuffer(obj.as_ptr()) } == 1 {
        np.call_method1("asarray", (PyMemoryView::from(obj)?,))?
    } else {
        return Err(PyTypeError::new_err(format!(
            "py:array needs a numpy array or an object with the buffer protocol, not {}",
            obj.get_type().name()?
        )));
    };
    let dtype = arr.getattr("dtype")?;
    if let Some(why) = not_flat(&dtype)? {
        return Err(PyTypeError::new_err(format!("py:array: {why}")));
    }
    let dtype_str: String = dtype.getattr("str")?.extract()?;
    let shape: Vec<u64> = arr.getattr("shape")?.extract()?;
    let array = if arr.getattr("flags")?.getattr("c_contiguous")?.is_truthy()? {
        arr
    } else {
        arr.call_method1("copy", ("C",))?
    };
    Ok(CArray {
        array,
        dtype: dtype_str,
        shape,
    })
}
