//! Python object -> Erlang term, directly. The mapping is the one in docs/types.md; this
//! module is the only place it is implemented in this direction. What is not plain data
//! becomes a handle (or goes through a registered encoder).
use super::{handle, terms};
use crate::base::atoms;
use crate::base::error::{Culprit, Error, PathElem};
use crate::base::tuning::{CYCLE_CHECK_DEPTH, INTERRUPT_EVERY, ZERO_COPY_BYTES};
use crate::runtime::pytypes;
use py_core::bigint;
use pyo3::ffi;
use pyo3::prelude::*;
use rustler::sys::{self, ErlNifTerm as ERL_NIF_TERM};
use rustler::{Env, Term};
use std::ptr::addr_of_mut;

/// Off a scheduler thread, `enif_make_map_from_arrays` crashes OTP 25 on more pairs.
const MAP_FROM_ARRAYS_MAX: usize = 128;

extern "C" {
    // Exported by libpython 3.11 but not declared by pyo3-ffi.
    fn _PyLong_NumBits(v: *mut ffi::PyObject) -> usize;
}

pub struct Encoder<'a, 'py> {
    py: Python<'py>,
    env: Env<'a>,
    max_depth: usize,
    /// Terms this conversion may still make (`interp::max_terms`).
    budget: usize,
    path: Vec<*mut ffi::PyObject>,
    /// What `None` becomes: `undefined`, or `nil` for Elixir callers.
    none: ERL_NIF_TERM,
}

/// What `None` becomes in a result.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum NoneAs {
    Undefined,
    /// For Elixir callers, so that the wrapper need not walk every result again.
    Nil,
}

/// Converts `obj` to a term in `env` (`None` is `undefined`).
pub fn encode<'a>(env: Env<'a>, obj: &Bound<'_, PyAny>) -> Result<Term<'a>, Error> {
    encode_as(env, obj, NoneAs::Undefined)
}

/// Converts `obj` to a term in `env`, `None` as the caller wants it.
pub fn encode_as<'a>(
    env: Env<'a>,
    obj: &Bound<'_, PyAny>,
    none: NoneAs,
) -> Result<Term<'a>, Error> {
    let none = match none {
        NoneAs::Undefined => atoms::undefined(),
        NoneAs::Nil => atoms::nil(),
    };
    let mut enc = Encoder {
        py: obj.py(),
        env,
        max_depth: crate::runtime::interp::max_depth(),
        budget: crate::runtime::interp::max_terms(),
        path: Vec::new(),
        none: none.as_c_arg(),
    };
    enc.encode(obj).map(|t| unsafe { Term::new(env, t) })
}

/// A dict key in an error path: as a term if it converts, else as a handle.
pub fn encode_key_for_error<'a>(env: Env<'a>, key: &Bound<'_, PyAny>) -> Term<'a> {
    encode(env, key).unwrap_or_else(|_| handle::make_handle(env, key.clone().unbind()))
}

impl<'a, 'py> Encoder<'a, 'py> {
    /// Counts `n` more terms made (a container's elements: charged per container, not
    /// per term). Past the budget: too large; every `INTERRUPT_EVERY` terms, a look at
    /// whether the job was given up.
    fn charge(&mut self, n: usize) -> Result<(), Error> {
        let before = self.budget;
        self.budget = before
            .checked_sub(n)
            .ok_or(Error::TooLarge { path: Vec::new() })?;
        if before / INTERRUPT_EVERY != self.budget / INTERRUPT_EVERY
            && crate::runtime::interrupt::requested()
        {
            return Err(Error::Timeout);
        }
        Ok(())
    }

    fn encode(&mut self, obj: &Bound<'py, PyAny>) -> Result<ERL_NIF_TERM, Error> {
        let e = self.env.as_c_arg();
        let p = obj.as_ptr();
        unsafe {
            let tp = ffi::Py_TYPE(p);
            // Exact built-in types first: one pointer comparison each.
            if tp == addr_of_mut!(ffi::PyLong_Type) {
                return self.int(obj);
            }
            if tp == addr_of_mut!(ffi::PyFloat_Type) {
                return Ok(self.float(ffi::PyFloat_AS_DOUBLE(p)));
            }
            if tp == addr_of_mut!(ffi::PyUnicode_Type) {
                return self.str(obj);
            }
            if p == ffi::Py_None() {
                return Ok(self.none);
            }
            if p == ffi::Py_True() {
                return Ok(atoms::true_().as_c_arg());
            }
            if p == ffi::Py_False() {
                return Ok(atoms::false_().as_c_arg());
            }
            if tp == addr_of_mut!(ffi::PyList_Type) {
                return self.guard(obj, |s| s.list(obj));
            }
            if tp == addr_of_mut!(ffi::PyTuple_Type) {
                return self.guard(obj, |s| s.tuple(obj));
            }
            if tp == addr_of_mut!(ffi::PyDict_Type) {
                return self.guard(obj, |s| s.dict(obj));
            }
            if tp == addr_of_mut!(ffi::PyBytes_Type) {
                return Ok(self.bytes(obj));
            }
            // Subclasses and the rest. `erlang.Atom` is a str subclass: check it first.
            if ffi::PyUnicode_Check(p) != 0 {
                if obj
                    .is_instance(pytypes::atom_type(self.py).as_any())
                    .unwrap_or(false)
                {
                    return self.atom(obj);
                }
                return self.str(obj);
            }
            if ffi::PyLong_Check(p) != 0 {
                return self.int(obj);
            }
            if ffi::PyFloat_Check(p) != 0 {
                return Ok(self.float(ffi::PyFloat_AS_DOUBLE(p)));
            }
            if ffi::PyTuple_Check(p) != 0 {
                return self.guard(obj, |s| s.tuple(obj));
            }
            if ffi::PyList_Check(p) != 0 {
                return self.guard(obj, |s| s.list(obj));
            }
            if ffi::PyDict_Check(p) != 0 {
                return self.guard(obj, |s| s.dict(obj));
            }
            if ffi::PyBytes_Check(p) != 0 {
                return Ok(self.bytes(obj));
            }
            if ffi::PyByteArray_Check(p) != 0 {
                let len = ffi::PyByteArray_Size(p) as usize;
                let data = ffi::PyByteArray_AsString(p) as *const u8;
                let slice = if len == 0 {
                    &[][..]
                } else {
                    std::slice::from_raw_parts(data, len)
                };
                return Ok(crate::base::env::binary(self.env, slice).as_c_arg());
            }
            if ffi::PyAnySet_Check(p) != 0 {
                return self.guard(obj, |s| s.set(obj));
            }
        }
        if let Some(t) = terms::unwrap(self.env, obj) {
            return Ok(t.as_c_arg());
        }
        if let Some(converted) = super::values::via_encoder(obj)? {
            return self.guard(obj, |s| s.encode(&converted));
        }
        let _ = e;
        Ok(handle::make_handle(self.env, obj.clone().unbind()).as_c_arg())
    }

    /// Depth limit, cycle detection and stack room for containers.
    fn guard(
        &mut self,
        obj: &Bound<'py, PyAny>,
        f: impl FnOnce(&mut Self) -> Result<ERL_NIF_TERM, Error>,
    ) -> Result<ERL_NIF_TERM, Error> {
        let depth = self.path.len();
        if depth >= self.max_depth {
            return Err(Error::TooDeep { path: Vec::new() });
        }
        if depth >= CYCLE_CHECK_DEPTH && self.path.contains(&obj.as_ptr()) {
            return Err(Error::Cycle { path: Vec::new() });
        }
        self.path.push(obj.as_ptr());
        let r = crate::runtime::stack::maybe_grow(|| f(self));
        self.path.pop();
        r
    }

    fn int(&self, obj: &Bound<'py, PyAny>) -> Result<ERL_NIF_TERM, Error> {
        let e = self.env.as_c_arg();
        unsafe {
            let mut overflow = 0;
            let v = ffi::PyLong_AsLongLongAndOverflow(obj.as_ptr(), &mut overflow);
            if overflow == 0 {
                if v == -1 && !ffi::PyErr_Occurred().is_null() {
                    return Err(Error::from_pyerr(self.py, PyErr::fetch(self.py)));
                }
                return Ok(sys::enif_make_int64(e, v));
            }
            // Beyond 64 bits: magnitude bytes -> external term format -> term.
            let abs = Bound::from_owned_ptr_or_err(self.py, ffi::PyNumber_Absolute(obj.as_ptr()))
                .map_err(|err| Error::from_pyerr(self.py, err))?;
            let nbytes = _PyLong_NumBits(abs.as_ptr()) / 8 + 1;
            let mut mag = vec![0u8; nbytes];
            if ffi::_PyLong_AsByteArray(
                abs.as_ptr() as *mut ffi::PyLongObject,
                mag.as_mut_ptr(),
                nbytes,
                1,
                0,
            ) != 0
            {
                return Err(Error::from_pyerr(self.py, PyErr::fetch(self.py)));
            }
            let etf = bigint::etf_bignum(overflow < 0, &mag);
            let mut term = ERL_NIF_TERM::default();
            if sys::enif_binary_to_term(e, etf.as_ptr(), etf.len(), &mut term, 0) == 0 {
                return Err(Error::Unsupported {
                    path: Vec::new(),
                    culprit: Culprit::Py(obj.clone().unbind()),
                });
            }
            Ok(term)
        }
    }

    fn float(&self, f: f64) -> ERL_NIF_TERM {
        if f.is_finite() {
            unsafe { sys::enif_make_double(self.env.as_c_arg(), f) }
        } else if f.is_nan() {
            atoms::nan().as_c_arg()
        } else if f > 0.0 {
            atoms::inf().as_c_arg()
        } else {
            atoms::neg_inf().as_c_arg()
        }
    }

    fn str(&self, obj: &Bound<'py, PyAny>) -> Result<ERL_NIF_TERM, Error> {
        unsafe {
            let mut size: ffi::Py_ssize_t = 0;
            let data = ffi::PyUnicode_AsUTF8AndSize(obj.as_ptr(), &mut size);
            if !data.is_null() {
                let slice = std::slice::from_raw_parts(data as *const u8, size as usize);
                return Ok(crate::base::env::binary(self.env, slice).as_c_arg());
            }
            // Lone surrogates: those made by surrogateescape go back to their bytes;
            // any other is not encodable.
            ffi::PyErr_Clear();
            let b = ffi::PyUnicode_AsEncodedString(
                obj.as_ptr(),
                c"utf-8".as_ptr(),
                c"surrogateescape".as_ptr(),
            );
            if b.is_null() {
                ffi::PyErr_Clear();
                return Err(Error::Unsupported {
                    path: Vec::new(),
                    culprit: Culprit::Py(obj.clone().unbind()),
                });
            }
            let b = Bound::from_owned_ptr(self.py, b);
            Ok(self.bytes(&b))
        }
    }

    fn atom(&self, obj: &Bound<'py, PyAny>) -> Result<ERL_NIF_TERM, Error> {
        let name: String = obj
            .extract()
            .map_err(|err| Error::from_pyerr(self.py, err))?;
        make_atom(self.env, &name).ok_or_else(|| Error::Unsupported {
            path: Vec::new(),
            culprit: Culprit::Py(obj.clone().unbind()),
        })
    }

    fn bytes(&self, obj: &Bound<'py, PyAny>) -> ERL_NIF_TERM {
        unsafe {
            let len = ffi::PyBytes_Size(obj.as_ptr()) as usize;
            let data = ffi::PyBytes_AsString(obj.as_ptr()) as *const u8;
            if len > ZERO_COPY_BYTES {
                return handle::kept_binary(self.env, obj.clone().unbind(), data, len).as_c_arg();
            }
            let slice = if len == 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(data, len)
            };
            crate::base::env::binary(self.env, slice).as_c_arg()
        }
    }

    fn list(&mut self, obj: &Bound<'py, PyAny>) -> Result<ERL_NIF_TERM, Error> {
        let p = obj.as_ptr();
        let mut charged = unsafe { ffi::PyList_GET_SIZE(p) } as usize;
        self.charge(charged)?;
        let mut out = Vec::with_capacity(charged);
        let mut i = 0;
        // The length is read each time: an encoder may have changed the list.
        while i < unsafe { ffi::PyList_GET_SIZE(p) } {
            if i as usize >= charged {
                self.charge(1)?;
                charged += 1;
            }
            let item = unsafe { Bound::from_borrowed_ptr(self.py, ffi::PyList_GET_ITEM(p, i)) };
            out.push(
                self.encode(&item)
                    .map_err(|err| err.at(PathElem::Index(i as usize)))?,
            );
            i += 1;
        }
        Ok(unsafe {
            sys::enif_make_list_from_array(self.env.as_c_arg(), out.as_ptr(), out.len() as u32)
        })
    }

    fn tuple(&mut self, obj: &Bound<'py, PyAny>) -> Result<ERL_NIF_TERM, Error> {
        let p = obj.as_ptr();
        let n = unsafe { ffi::PyTuple_GET_SIZE(p) };
        self.charge(n as usize)?;
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n {
            let item = unsafe { Bound::from_borrowed_ptr(self.py, ffi::PyTuple_GET_ITEM(p, i)) };
            out.push(
                self.encode(&item)
                    .map_err(|err| err.at(PathElem::Index(i as usize)))?,
            );
        }
        Ok(unsafe {
            sys::enif_make_tuple_from_array(self.env.as_c_arg(), out.as_ptr(), out.len() as u32)
        })
    }

    fn dict(&mut self, obj: &Bound<'py, PyAny>) -> Result<ERL_NIF_TERM, Error> {
        let p = obj.as_ptr();
        let n = unsafe { ffi::PyDict_Size(p) } as usize;
        self.charge(2 * n)?;
        let mut keys = Vec::with_capacity(n);
        let mut values = Vec::with_capacity(n);
        let mut pos: ffi::Py_ssize_t = 0;
        let mut k: *mut ffi::PyObject = std::ptr::null_mut();
        let mut v: *mut ffi::PyObject = std::ptr::null_mut();
        // Snapshot the items first: encoding may run Python code that mutates the dict.
        let mut items = Vec::with_capacity(n);
        while unsafe { ffi::PyDict_Next(p, &mut pos, &mut k, &mut v) } != 0 {
            unsafe {
                items.push((
                    Bound::from_borrowed_ptr(self.py, k),
                    Bound::from_borrowed_ptr(self.py, v),
                ))
            };
        }
        for (key, value) in &items {
            let kt = self
                .encode(key)
                .map_err(|err| err.at(PathElem::PyKey(key.clone().unbind())))?;
            let vt = self
                .encode(value)
                .map_err(|err| err.at(PathElem::PyKey(key.clone().unbind())))?;
            keys.push(kt);
            values.push(vt);
        }
        // Off a scheduler thread, enif_make_map_from_arrays crashes the VM on more than
        // 128 pairs (seen on OTP 25); beyond that, the rest goes in one put at a time.
        let first = keys.len().min(MAP_FROM_ARRAYS_MAX);
        let e = self.env.as_c_arg();
        let mut map = ERL_NIF_TERM::default();
        let mut ok = unsafe {
            sys::enif_make_map_from_arrays(e, keys.as_ptr(), values.as_ptr(), first, &mut map)
        } != 0;
        for (k, v) in keys[first..].iter().zip(&values[first..]) {
            if !ok {
                break;
            }
            let mut next = ERL_NIF_TERM::default();
            let mut found = ERL_NIF_TERM::default();
            // A key already there means two Python keys became one term.
            ok = unsafe {
                sys::enif_get_map_value(e, map, *k, &mut found) == 0
                    && sys::enif_make_map_put(e, map, *k, *v, &mut next) != 0
            };
            map = next;
        }
        if !ok {
            // Two keys that differ in Python became the same term (say 'a' and b'a'):
            // name it, rather than lose a value.
            return Err(Error::KeyCollision {
                path: Vec::new(),
                key: self.first_repeated(&keys),
            });
        }
        Ok(map)
    }

    /// The first of `keys` equal to an earlier one (there is one: the map refused them).
    fn first_repeated(&self, keys: &[ERL_NIF_TERM]) -> ERL_NIF_TERM {
        let e = self.env.as_c_arg();
        let mut map = unsafe { sys::enif_make_new_map(e) };
        for k in keys {
            let mut found = ERL_NIF_TERM::default();
            let mut next = ERL_NIF_TERM::default();
            unsafe {
                if sys::enif_get_map_value(e, map, *k, &mut found) != 0 {
                    return *k;
                }
                if sys::enif_make_map_put(e, map, *k, *k, &mut next) != 0 {
                    map = next;
                }
            }
        }
        atoms::undefined().as_c_arg()
    }

    fn set(&mut self, obj: &Bound<'py, PyAny>) -> Result<ERL_NIF_TERM, Error> {
        let mut out = Vec::new();
        let iter = obj
            .try_iter()
            .map_err(|err| Error::from_pyerr(self.py, err))?;
        for (i, item) in iter.enumerate() {
            let item = item.map_err(|err| Error::from_pyerr(self.py, err))?;
            self.charge(1)?;
            out.push(
                self.encode(&item)
                    .map_err(|err| err.at(PathElem::Index(i)))?,
            );
        }
        Ok(unsafe {
            sys::enif_make_list_from_array(self.env.as_c_arg(), out.as_ptr(), out.len() as u32)
        })
    }
}

/// An atom from its UTF-8 name, only for `erlang.Atom` values and names the program gave.
pub fn make_atom<'a>(env: Env<'a>, name: &str) -> Option<ERL_NIF_TERM> {
    if name.chars().count() > 255 {
        return None;
    }
    unsafe {
        if name.is_ascii() {
            return Some(sys::enif_make_atom_len(
                env.as_c_arg(),
                name.as_ptr() as *const _,
                name.len(),
            ));
        }
        // OTP 25 has no UTF-8 atom constructor in the NIF API: ATOM_UTF8_EXT does it.
        let mut etf = vec![131u8, 118];
        etf.extend_from_slice(&(name.len() as u16).to_be_bytes());
        etf.extend_from_slice(name.as_bytes());
        let mut term = ERL_NIF_TERM::default();
        (sys::enif_binary_to_term(env.as_c_arg(), etf.as_ptr(), etf.len(), &mut term, 0) != 0)
            .then_some(term)
    }
}
