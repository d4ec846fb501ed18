//! Python -> ETF for one object: the type checks in `py_nif`'s order (exact built-in
//! types first, then subclasses, `erlang.Atom` before `str`), the opaque terms,
//! registered encoders and numpy scalars, and handles for the rest. Containers are
//! opened here and filled by `mod.rs`'s walk.
use super::{Encoder, Src, R};
use crate::etf::error::{EtfError, Unsupported};
use crate::etf::terms;
use crate::etf::writer::{put_atom, put_binary, put_float, put_int, put_tuple};
use crate::etf::Codec;
use pyo3::ffi;
use pyo3::prelude::*;
use std::ptr::addr_of_mut;

extern "C" {
    // Exported by libpython 3.11 but not declared by pyo3-ffi.
    fn _PyLong_NumBits(v: *mut ffi::PyObject) -> usize;
}

impl<'py> Encoder<'_, '_, 'py, '_> {
    /// Writes `obj`, or opens it (pushes a frame) if it is a container.
    pub(super) fn value(&mut self, obj: &Bound<'py, PyAny>, out: &mut Vec<u8>) -> R<()> {
        let p = obj.as_ptr();
        if scalar(self.codec, p, out) {
            return Ok(());
        }
        unsafe {
            let tp = ffi::Py_TYPE(p);
            if tp == addr_of_mut!(ffi::PyLong_Type) {
                return self.int(obj, out);
            }
            if tp == addr_of_mut!(ffi::PyUnicode_Type) {
                return self.str(obj, out);
            }
            if tp == addr_of_mut!(ffi::PyList_Type) {
                return self.open_list(obj, out);
            }
            if tp == addr_of_mut!(ffi::PyTuple_Type) {
                return self.open_tuple(obj, out);
            }
            if tp == addr_of_mut!(ffi::PyDict_Type) {
                return self.open_dict(obj, out);
            }
            if tp == addr_of_mut!(ffi::PyBytes_Type) {
                put_binary(out, bytes_of(p));
                return Ok(());
            }
            // Subclasses and the rest. `erlang.Atom` is a str subclass: checked first.
            if ffi::PyUnicode_Check(p) != 0 {
                let atom = self.codec.types.atom.bind(self.py).as_type_ptr();
                if ffi::PyType_IsSubtype(tp, atom) != 0 {
                    return self.atom(obj, out);
                }
                return self.str(obj, out);
            }
            if ffi::PyLong_Check(p) != 0 {
                return self.int(obj, out);
            }
            if ffi::PyFloat_Check(p) != 0 {
                put_float(out, ffi::PyFloat_AS_DOUBLE(p));
                return Ok(());
            }
            if ffi::PyTuple_Check(p) != 0 {
                return self.open_tuple(obj, out);
            }
            if ffi::PyList_Check(p) != 0 {
                return self.open_list(obj, out);
            }
            if ffi::PyDict_Check(p) != 0 {
                return self.open_dict(obj, out);
            }
            if ffi::PyBytes_Check(p) != 0 {
                put_binary(out, bytes_of(p));
                return Ok(());
            }
            if ffi::PyByteArray_Check(p) != 0 {
                let len = ffi::PyByteArray_Size(p) as usize;
                let data = ffi::PyByteArray_AsString(p) as *const u8;
                let slice = if len == 0 || data.is_null() {
                    &[][..]
                } else {
                    std::slice::from_raw_parts(data, len)
                };
                put_binary(out, slice);
                return Ok(());
            }
            if ffi::PyAnySet_Check(p) != 0 {
                return self.open_set(obj, out);
            }
        }
        if let Some(raw) = opaque(obj) {
            out.extend_from_slice(raw);
            return Ok(());
        }
        if let Some(converted) = self.via_encoder(obj)? {
            self.guard(obj)?;
            self.push(
                obj,
                Src::Converted {
                    value: Some(converted),
                },
            );
            return Ok(());
        }
        self.handle(obj, out)
    }

    fn handle(&mut self, obj: &Bound<'py, PyAny>, out: &mut Vec<u8>) -> R<()> {
        let Some(m) = self.codec.marker.as_deref() else {
            return Err(unsupported(obj));
        };
        let id = self.handles.put(self.py, obj.clone().unbind());
        self.made.push(id);
        put_tuple(out, 3);
        out.extend_from_slice(m);
        put_atom(out, "handle");
        match i64::try_from(id) {
            Ok(v) => put_int(out, v),
            Err(_) => crate::bigint::push_etf_bignum(out, false, &id.to_le_bytes()),
        }
        Ok(())
    }

    /// A registered encoder for the object's type (exact type first, then `isinstance`
    /// in registration order), or numpy's scalar types, which convert through `.item()`.
    fn via_encoder(&self, obj: &Bound<'py, PyAny>) -> R<Option<Bound<'py, PyAny>>> {
        let py = self.py;
        let generic = self.codec.types.numpy_generic(py);
        Ok(crate::encoders::via_encoder(
            obj,
            self.codec.types.encoders.bind(py),
            generic.as_ref(),
        )?)
    }

    fn int(&self, obj: &Bound<'py, PyAny>, out: &mut Vec<u8>) -> R<()> {
        let py = self.py;
        unsafe {
            let mut overflow = 0;
            let v = ffi::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow);
            if overflow == 0 {
                if v == -1 && !ffi::PyErr_Occurred().is_null() {
                    return Err(EtfError::Python(PyErr::fetch(py)));
                }
                put_int(out, v);
                return Ok(());
            }
            let abs = Bound::from_owned_ptr_or_err(py, ffi::PyNumber_Absolute(obj.as_ptr()))?;
            let nbytes = _PyLong_NumBits(abs.as_ptr()) / 8 + 1;
            if nbytes > u32::MAX as usize {
                return Err(unsupported(obj));
            }
            let mut mag = vec![0u8; nbytes];
            if ffi::_PyLong_AsByteArray(abs.as_ptr().cast(), mag.as_mut_ptr(), nbytes, 1, 0) != 0 {
                return Err(EtfError::Python(PyErr::fetch(py)));
            }
            crate::bigint::push_etf_bignum(out, overflow < 0, &mag);
        }
        Ok(())
    }

    fn str(&self, obj: &Bound<'py, PyAny>, out: &mut Vec<u8>) -> R<()> {
        unsafe {
            let p = obj.as_ptr();
            let mut size: ffi::Py_ssize_t = 0;
            let data = ffi::PyUnicode_AsUTF8AndSize(p, &mut size);
            if !data.is_null() {
                put_binary(out, std::slice::from_raw_parts(data.cast(), size as usize));
                return Ok(());
            }
            // Lone surrogates: those made by surrogateescape go back to their bytes;
            // any other cannot be encoded.
            ffi::PyErr_Clear();
            let b =
                ffi::PyUnicode_AsEncodedString(p, c"utf-8".as_ptr(), c"surrogateescape".as_ptr());
            if b.is_null() {
                ffi::PyErr_Clear();
                return Err(unsupported(obj));
            }
            let b = Bound::from_owned_ptr(self.py, b);
            put_binary(out, bytes_of(b.as_ptr()));
        }
        Ok(())
    }

    fn atom(&self, obj: &Bound<'py, PyAny>, out: &mut Vec<u8>) -> R<()> {
        unsafe {
            let p = obj.as_ptr();
            let mut size: ffi::Py_ssize_t = 0;
            let data = ffi::PyUnicode_AsUTF8AndSize(p, &mut size);
            if data.is_null() {
                return Err(EtfError::Python(PyErr::fetch(self.py)));
            }
            if ffi::PyUnicode_GetLength(p) > 255 {
                return Err(unsupported(obj));
            }
            let bytes = std::slice::from_raw_parts(data.cast::<u8>(), size as usize);
            // UTF-8 from a str: the check cannot fail.
            match std::str::from_utf8(bytes) {
                Ok(name) => put_atom(out, name),
                Err(_) => return Err(unsupported(obj)),
            }
        }
        Ok(())
    }
}

/// A plain scalar of an exact built-in type written at once; false for anything else
/// (or an int beyond 64 bits, a str with lone surrogates: the general path takes those).
#[inline]
pub(super) fn scalar(codec: &Codec<'_>, p: *mut ffi::PyObject, out: &mut Vec<u8>) -> bool {
    unsafe {
        let tp = ffi::Py_TYPE(p);
        if tp == addr_of_mut!(ffi::PyLong_Type) {
            let mut overflow = 0;
            let v = ffi::PyLong_AsLongLongAndOverflow(p, &mut overflow);
            if overflow != 0 || (v == -1 && !ffi::PyErr_Occurred().is_null()) {
                ffi::PyErr_Clear();
                return false;
            }
            put_int(out, v);
            return true;
        }
        if tp == addr_of_mut!(ffi::PyFloat_Type) {
            put_float(out, ffi::PyFloat_AS_DOUBLE(p));
            return true;
        }
        if tp == addr_of_mut!(ffi::PyUnicode_Type) {
            // Held while its UTF-8 is made (that may allocate, and so run a collection).
            ffi::Py_INCREF(p);
            let mut size: ffi::Py_ssize_t = 0;
            let data = ffi::PyUnicode_AsUTF8AndSize(p, &mut size);
            let done = !data.is_null();
            if done {
                put_binary(out, std::slice::from_raw_parts(data.cast(), size as usize));
            } else {
                ffi::PyErr_Clear();
            }
            ffi::Py_DECREF(p);
            return done;
        }
        if p == ffi::Py_None() {
            put_atom(
                out,
                if codec.none_as_nil {
                    "nil"
                } else {
                    "undefined"
                },
            );
            return true;
        }
        if p == ffi::Py_True() {
            put_atom(out, "true");
            return true;
        }
        if p == ffi::Py_False() {
            put_atom(out, "false");
            return true;
        }
    }
    false
}

/// The bytes of a `bytes` object.
unsafe fn bytes_of<'a>(p: *mut ffi::PyObject) -> &'a [u8] {
    let len = ffi::PyBytes_Size(p) as usize;
    let data = ffi::PyBytes_AsString(p) as *const u8;
    if len == 0 || data.is_null() {
        &[]
    } else {
        std::slice::from_raw_parts(data, len)
    }
}

/// The raw term of an `erlang.Pid`, `Ref`, `Port` or `Fun`.
fn opaque<'a>(obj: &'a Bound<'_, PyAny>) -> Option<&'a [u8]> {
    if let Ok(t) = obj.cast::<terms::Pid>() {
        return Some(t.get().raw());
    }
    if let Ok(t) = obj.cast::<terms::Ref>() {
        return Some(t.get().raw());
    }
    if let Ok(t) = obj.cast::<terms::Port>() {
        return Some(t.get().raw());
    }
    if let Ok(t) = obj.cast::<terms::Fun>() {
        return Some(t.get().raw());
    }
    None
}

fn unsupported(obj: &Bound<'_, PyAny>) -> EtfError {
    EtfError::Unsupported {
        path: Vec::new(),
        what: Unsupported::Object(obj.clone().unbind()),
    }
}
