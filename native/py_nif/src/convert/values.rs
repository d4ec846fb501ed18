//! Conversions to terms beyond the plain mapping: `py:value/1` (an object turned into
//! data if it can be), `py:to_binary/1` (a buffer copied), registered encoders, and the
//! name of an Erlang function that Python calls back.
use super::handle;
use super::to_erlang::{encode, encode_as, NoneAs};
use crate::base::error::{Culprit, Error};
use crate::runtime::pytypes;
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::type_object::PyTypeInfo;
use pyo3::types::PyDict;
use rustler::{Encoder, Env, Term};

/// `py:value/1`: like `encode`, but a top-level object that is not plain data is turned
/// into data if it can be (`tolist()`, a mapping, an iterable) instead of a handle.
pub fn encode_value<'a>(
    env: Env<'a>,
    obj: &Bound<'_, PyAny>,
    none: NoneAs,
) -> Result<Term<'a>, Error> {
    let py = obj.py();
    let plain = encode_as(env, obj, none)?;
    if plain.try_get_resource::<handle::PyHandle>().is_none() {
        return Ok(plain);
    }
    let converted = if obj.hasattr("tolist").unwrap_or(false) {
        obj.call_method0("tolist")
    } else if obj
        .is_instance(
            &py.import("collections.abc")
                .and_then(|m| m.getattr("Mapping"))
                .map_err(|e| Error::from_pyerr(py, e))?,
        )
        .unwrap_or(false)
    {
        PyDict::from_sequence(
            &obj.call_method0("items")
                .map_err(|e| Error::from_pyerr(py, e))?,
        )
        .map(|d| d.into_any())
    } else if obj.hasattr("__iter__").unwrap_or(false) {
        pyo3::types::PyList::type_object(py).call1((obj,))
    } else {
        return Err(Error::Unsupported {
            path: Vec::new(),
            culprit: Culprit::Py(obj.clone().unbind()),
        });
    };
    let converted = converted.map_err(|e| Error::from_pyerr(py, e))?;
    encode_as(env, &converted, none)
}

/// `py:to_binary/1`: any buffer-protocol object, copied once into a new binary.
pub fn buffer_copy<'b>(env: Env<'b>, obj: &Bound<'_, PyAny>) -> Result<Term<'b>, Error> {
    let py = obj.py();
    unsafe {
        let mut view: ffi::Py_buffer = std::mem::zeroed();
        if ffi::PyObject_GetBuffer(obj.as_ptr(), &mut view, ffi::PyBUF_FULL_RO) != 0 {
            return Err(Error::from_pyerr(py, PyErr::fetch(py)));
        }
        let len = view.len as usize;
        let mut term = rustler::sys::ErlNifTerm::default();
        let dst = rustler::sys::enif_make_new_binary(env.as_c_arg(), len, &mut term);
        let rc = ffi::PyBuffer_ToContiguous(dst as *mut _, &view, view.len, b'C' as _);
        ffi::PyBuffer_Release(&mut view);
        if rc != 0 {
            return Err(Error::from_pyerr(py, PyErr::fetch(py)));
        }
        Ok(Term::new(env, term))
    }
}

/// A module or function name for apply/3. The program names it, so an existing atom is
/// used when there is one; otherwise it goes as a binary and Erlang decides (an
/// `erlang.Atom` always becomes an atom: the program asked for one).
pub fn callable_name<'a>(env: Env<'a>, name: &Bound<'_, PyAny>) -> PyResult<Term<'a>> {
    let py = name.py();
    if name.is_instance(pytypes::atom_type(py).as_any())? {
        return encode(env, name).map_err(|e| e.into_pyerr());
    }
    let s: String = name.extract().map_err(|_| {
        PyTypeError::new_err("module and function names must be str or erlang.Atom")
    })?;
    match rustler::Atom::existing_from_str(env, &s) {
        Ok(a) => Ok(a.encode(env)),
        Err(_) => Ok(crate::base::env::binary(env, s.as_bytes())),
    }
}

/// A registered encoder for the object's type (exact type first, then isinstance in
/// registration order), or numpy's scalar types, which convert through `.item()`.
pub fn via_encoder<'py>(obj: &Bound<'py, PyAny>) -> Result<Option<Bound<'py, PyAny>>, Error> {
    let py = obj.py();
    py_core::encoders::via_encoder(obj, pytypes::encoders(py), pytypes::numpy_generic(py))
        .map_err(|err| Error::from_pyerr(py, err))
}
