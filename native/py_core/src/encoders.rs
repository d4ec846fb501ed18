//! Registered encoders (`erlang.register_encoder`) and numpy scalars: the one rule both
//! converters to Erlang apply (the NIF's `to_erlang`, the worker's ETF encoder) before
//! they give up on an object that is not plain data.
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyType};

/// What `obj` converts through, if anything: a registered encoder for its type (the
/// exact type first, then `isinstance` in registration order), or, for a numpy scalar,
/// its `.item()`. `None`: neither applies, and the object is not data.
pub fn via_encoder<'py>(
    obj: &Bound<'py, PyAny>,
    encoders: &Bound<'py, PyDict>,
    numpy_generic: Option<&Bound<'py, PyType>>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    if !encoders.is_empty() {
        let found = match encoders.get_item(obj.get_type())? {
            Some(f) => Some(f),
            None => encoders
                .iter()
                .find(|(t, _)| obj.is_instance(t).unwrap_or(false))
                .map(|(_, f)| f),
        };
        if let Some(f) = found {
            return Ok(Some(f.call1((obj,))?));
        }
    }
    if let Some(generic) = numpy_generic {
        if obj.is_instance(generic.as_any()).unwrap_or(false) {
            let item = obj.call_method0("item")?;
            // datetime64 and friends give back objects that are not data: a handle.
            if !item.get_type().is(obj.get_type()) {
                return Ok(Some(item));
            }
        }
    }
    Ok(None)
}
