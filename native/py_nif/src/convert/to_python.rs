//! Erlang term -> Python object, directly (no intermediate format). The mapping is the
//! one in docs/types.md; this module is the only place it is implemented in this direction.
use super::{handle, terms};
use crate::base::atoms;
use crate::base::error::{Culprit, Error, PathElem};
use crate::base::names::{atom_name, name_of};
use crate::base::tuning::INTERRUPT_EVERY;
use crate::runtime::pytypes;
use py_core::bigint;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use rustler::sys::{self, ErlNifTerm as ERL_NIF_TERM, ErlNifTermType};
use rustler::{Env, Term};
use std::cell::RefCell;
use std::collections::HashMap;

thread_local! {
    /// Atoms are never garbage-collected by the VM, so the `erlang.Atom` made for one can
    /// be kept for the life of the thread. Per thread: no lock, and it follows contexts.
    static ATOMS: RefCell<HashMap<ERL_NIF_TERM, Py<PyAny>>> = RefCell::new(HashMap::new());
}

pub struct Decoder<'a, 'py> {
    py: Python<'py>,
    env: Env<'a>,
    max_depth: usize,
    /// Terms this conversion may still read (`interp::max_terms`): an Erlang term with
    /// shared parts expands in Python as it does in a message.
    budget: std::cell::Cell<usize>,
}

/// Converts `term` to a Python object.
pub fn decode<'a, 'py>(py: Python<'py>, term: Term<'a>) -> Result<Bound<'py, PyAny>, Error> {
    Decoder::new(py, term.get_env()).decode(term.as_c_arg(), 0)
}

impl<'a, 'py> Decoder<'a, 'py> {
    pub fn new(py: Python<'py>, env: Env<'a>) -> Self {
        Decoder {
            py,
            env,
            max_depth: crate::runtime::interp::max_depth(),
            budget: std::cell::Cell::new(crate::runtime::interp::max_terms()),
        }
    }

    /// Counts `n` more terms read (a container's elements: charged per container, not
    /// per term, so a list of a million floats pays once). Past the budget: too large;
    /// every `INTERRUPT_EVERY` terms, a look at whether the job was given up.
    fn charge(&self, n: usize) -> Result<(), Error> {
        let before = self.budget.get();
        let after = before
            .checked_sub(n)
            .ok_or(Error::TooLarge { path: Vec::new() })?;
        self.budget.set(after);
        if before / INTERRUPT_EVERY != after / INTERRUPT_EVERY
            && crate::runtime::interrupt::requested()
        {
            return Err(Error::Timeout);
        }
        Ok(())
    }

    pub fn decode(&self, t: ERL_NIF_TERM, depth: usize) -> Result<Bound<'py, PyAny>, Error> {
        let e = self.env.as_c_arg();
        let py = self.py;
        unsafe {
            match sys::enif_term_type(e, t) {
                ErlNifTermType::ERL_NIF_TERM_TYPE_INTEGER => {
                    let mut i: i64 = 0;
                    if sys::enif_get_int64(e, t, &mut i) != 0 {
                        return Ok(Bound::from_owned_ptr(py, ffi::PyLong_FromLongLong(i)));
                    }
                    let mut u: u64 = 0;
                    if sys::enif_get_uint64(e, t, &mut u) != 0 {
                        return Ok(Bound::from_owned_ptr(
                            py,
                            ffi::PyLong_FromUnsignedLongLong(u),
                        ));
                    }
                    self.bignum(t)
                }
                ErlNifTermType::ERL_NIF_TERM_TYPE_FLOAT => {
                    let mut f: f64 = 0.0;
                    sys::enif_get_double(e, t, &mut f);
                    Ok(Bound::from_owned_ptr(py, ffi::PyFloat_FromDouble(f)))
                }
                ErlNifTermType::ERL_NIF_TERM_TYPE_ATOM => self.atom(t),
                ErlNifTermType::ERL_NIF_TERM_TYPE_BITSTRING => {
                    let mut bin: sys::ErlNifBinary = std::mem::zeroed();
                    if sys::enif_inspect_binary(e, t, &mut bin) == 0 {
                        return Err(unsupported(t));
                    }
                    // surrogateescape: bytes that are not UTF-8 survive the round trip.
                    let s = ffi::PyUnicode_DecodeUTF8(
                        bin.data as *const _,
                        bin.size as ffi::Py_ssize_t,
                        c"surrogateescape".as_ptr(),
                    );
                    Bound::from_owned_ptr_or_err(py, s).map_err(|err| Error::from_pyerr(py, err))
                }
                ErlNifTermType::ERL_NIF_TERM_TYPE_LIST => self.guard(depth, |d| self.list(t, d)),
                ErlNifTermType::ERL_NIF_TERM_TYPE_TUPLE => self.guard(depth, |d| self.tuple(t, d)),
                ErlNifTermType::ERL_NIF_TERM_TYPE_MAP => self.guard(depth, |d| self.map(t, d)),
                ErlNifTermType::ERL_NIF_TERM_TYPE_REFERENCE => {
                    let term = Term::new(self.env, t);
                    if let Some(h) = term.try_get_resource::<handle::PyHandle>() {
                        return Ok(h.obj.bind(py).clone());
                    }
                    if let Some(m) = term.try_get_resource::<handle::Marker>() {
                        return handle::marker_to_python(py, term, m)
                            .map_err(|err| Error::from_pyerr(py, err));
                    }
                    // A worker's (or another node's) object is not in this interpreter.
                    if term.try_get_resource::<super::proxy::Proxy>().is_some() {
                        return Err(Error::WrongPlace(t));
                    }
                    terms::wrap(py, terms::Kind::Ref, term)
                        .map_err(|err| Error::from_pyerr(py, err))
                }
                ErlNifTermType::ERL_NIF_TERM_TYPE_PID => {
                    terms::wrap(py, terms::Kind::Pid, Term::new(self.env, t))
                        .map_err(|err| Error::from_pyerr(py, err))
                }
                ErlNifTermType::ERL_NIF_TERM_TYPE_PORT => {
                    terms::wrap(py, terms::Kind::Port, Term::new(self.env, t))
                        .map_err(|err| Error::from_pyerr(py, err))
                }
                ErlNifTermType::ERL_NIF_TERM_TYPE_FUN => {
                    terms::wrap(py, terms::Kind::Fun, Term::new(self.env, t))
                        .map_err(|err| Error::from_pyerr(py, err))
                }
                #[allow(unreachable_patterns)]
                _ => Err(unsupported(t)),
            }
        }
    }

    /// A call's argument list as a tuple. Each argument counts its depth from 0, as a
    /// keyword argument or a binding does: the list that holds them is no level of data.
    pub fn decode_args(&self, t: ERL_NIF_TERM) -> Result<Bound<'py, PyTuple>, Error> {
        let seq = self.sequence(t, 0, ffi::PyTuple_New, ffi::PyTuple_SET_ITEM)?;
        Ok(unsafe { seq.cast_into_unchecked() })
    }

    /// The elements of a proper list, each decoded at `depth`, in a new sequence made
    /// by `new` and filled by `set` (which steals the reference; each slot is NULL).
    fn sequence(
        &self,
        t: ERL_NIF_TERM,
        depth: usize,
        new: unsafe extern "C" fn(ffi::Py_ssize_t) -> *mut ffi::PyObject,
        set: unsafe fn(*mut ffi::PyObject, ffi::Py_ssize_t, *mut ffi::PyObject),
    ) -> Result<Bound<'py, PyAny>, Error> {
        let e = self.env.as_c_arg();
        unsafe {
            let mut len: u32 = 0;
            if sys::enif_get_list_length(e, t, &mut len) == 0 {
                return Err(unsupported(t)); // improper list
            }
            self.charge(len as usize)?;
            let seq = Bound::from_owned_ptr_or_err(self.py, new(len as ffi::Py_ssize_t))
                .map_err(|err| Error::from_pyerr(self.py, err))?;
            let mut rest = t;
            let (mut head, mut tail): (ERL_NIF_TERM, ERL_NIF_TERM) = Default::default();
            let mut i = 0usize;
            while sys::enif_get_list_cell(e, rest, &mut head, &mut tail) != 0 {
                let item = self
                    .decode(head, depth)
                    .map_err(|err| err.at(PathElem::Index(i)))?;
                set(seq.as_ptr(), i as ffi::Py_ssize_t, item.into_ptr());
                i += 1;
                rest = tail;
            }
            Ok(seq)
        }
    }

    /// A keyword argument or a binding: its name (an atom or a binary), refused when
    /// `taken` says another key already had it (`a` and `<<"a">>`), and its value.
    pub fn named(
        &self,
        k: Term<'_>,
        v: Term<'_>,
        taken: impl FnOnce(&str) -> bool,
    ) -> Result<(String, Bound<'py, PyAny>), Error> {
        let name = name_of(self.env, k).ok_or_else(|| Error::Unsupported {
            path: vec![],
            culprit: Culprit::Erl(k.as_c_arg()),
        })?;
        if taken(&name) {
            return Err(Error::KeyCollision {
                path: Vec::new(),
                key: k.as_c_arg(),
            });
        }
        let value = self
            .decode(v.as_c_arg(), 0)
            .map_err(|err| err.at(PathElem::Name(name.clone())))?;
        Ok((name, value))
    }

    /// Depth limit, and room on the stack: dirty schedulers have small stacks, so deep
    /// data continues on a heap-allocated segment instead of overflowing.
    fn guard(
        &self,
        depth: usize,
        f: impl FnOnce(usize) -> Result<Bound<'py, PyAny>, Error>,
    ) -> Result<Bound<'py, PyAny>, Error> {
        if depth >= self.max_depth {
            return Err(Error::TooDeep { path: Vec::new() });
        }
        crate::runtime::stack::maybe_grow(|| f(depth + 1))
    }

    fn atom(&self, t: ERL_NIF_TERM) -> Result<Bound<'py, PyAny>, Error> {
        let py = self.py;
        if t == atoms::true_().as_c_arg() {
            return Ok(unsafe { Bound::from_borrowed_ptr(py, ffi::Py_True()) });
        }
        if t == atoms::false_().as_c_arg() {
            return Ok(unsafe { Bound::from_borrowed_ptr(py, ffi::Py_False()) });
        }
        if t == atoms::undefined().as_c_arg() || t == atoms::nil().as_c_arg() {
            return Ok(py.None().into_bound(py));
        }
        if let Some(obj) = ATOMS.with(|c| c.borrow().get(&t).map(|o| o.clone_ref(py))) {
            return Ok(obj.into_bound(py));
        }
        let name = atom_name(self.env, t).ok_or_else(|| unsupported(t))?;
        let obj = pytypes::atom_type(py)
            .call1((name,))
            .map_err(|err| Error::from_pyerr(py, err))?;
        ATOMS.with(|c| c.borrow_mut().insert(t, obj.clone().unbind()));
        Ok(obj)
    }

    fn bignum(&self, t: ERL_NIF_TERM) -> Result<Bound<'py, PyAny>, Error> {
        let py = self.py;
        let bin = unsafe { Term::new(self.env, t) }.to_binary();
        let (negative, magnitude) =
            bigint::parse_etf_bignum(bin.as_slice()).ok_or_else(|| unsupported(t))?;
        unsafe {
            let n = ffi::_PyLong_FromByteArray(magnitude.as_ptr(), magnitude.len(), 1, 0);
            let n =
                Bound::from_owned_ptr_or_err(py, n).map_err(|err| Error::from_pyerr(py, err))?;
            if negative {
                Bound::from_owned_ptr_or_err(py, ffi::PyNumber_Negative(n.as_ptr()))
                    .map_err(|err| Error::from_pyerr(py, err))
            } else {
                Ok(n)
            }
        }
    }

    fn list(&self, t: ERL_NIF_TERM, depth: usize) -> Result<Bound<'py, PyAny>, Error> {
        self.sequence(t, depth, ffi::PyList_New, ffi::PyList_SET_ITEM)
    }

    fn tuple(&self, t: ERL_NIF_TERM, depth: usize) -> Result<Bound<'py, PyAny>, Error> {
        let e = self.env.as_c_arg();
        let py = self.py;
        unsafe {
            let mut arity: i32 = 0;
            let mut elems: *const ERL_NIF_TERM = std::ptr::null();
            sys::enif_get_tuple(e, t, &mut arity, &mut elems);
            self.charge(arity as usize)?;
            let tuple = Bound::from_owned_ptr(py, ffi::PyTuple_New(arity as ffi::Py_ssize_t));
            for i in 0..arity as usize {
                let item = self
                    .decode(*elems.add(i), depth)
                    .map_err(|err| err.at(PathElem::Index(i)))?;
                ffi::PyTuple_SET_ITEM(tuple.as_ptr(), i as ffi::Py_ssize_t, item.into_ptr());
            }
            Ok(tuple)
        }
    }

    fn map(&self, t: ERL_NIF_TERM, depth: usize) -> Result<Bound<'py, PyAny>, Error> {
        let e = self.env.as_c_arg();
        let py = self.py;
        let mut size: usize = 0;
        if unsafe { sys::enif_get_map_size(e, t, &mut size) } == 0 {
            return Err(unsupported(t));
        }
        self.charge(2 * size)?;
        let dict = PyDict::new(py);
        unsafe {
            let mut iter: sys::ErlNifMapIterator = std::mem::zeroed();
            if sys::enif_map_iterator_create(
                e,
                t,
                &mut iter,
                sys::ErlNifMapIteratorEntry::ERL_NIF_MAP_ITERATOR_HEAD,
            ) == 0
            {
                return Err(unsupported(t));
            }
            let mut result = Ok(());
            let (mut k, mut v): (ERL_NIF_TERM, ERL_NIF_TERM) = Default::default();
            while sys::enif_map_iterator_get_pair(e, &mut iter, &mut k, &mut v) != 0 {
                let step = self.decode(k, depth).and_then(|key| {
                    let value = self
                        .decode(v, depth)
                        .map_err(|err| err.at(PathElem::ErlKey(k)))?;
                    let before = ffi::PyDict_Size(dict.as_ptr());
                    if ffi::PyDict_SetItem(dict.as_ptr(), key.as_ptr(), value.as_ptr()) != 0 {
                        // The only way a fresh dict refuses a key: it is unhashable.
                        ffi::PyErr_Clear();
                        return Err(Error::Unsupported {
                            path: vec![PathElem::ErlKey(k)],
                            culprit: Culprit::Erl(k),
                        });
                    }
                    if ffi::PyDict_Size(dict.as_ptr()) == before {
                        // Two Erlang keys that are one key in Python (1 and 1.0, a and
                        // <<"a">>): merging them would drop a value without a word.
                        return Err(Error::KeyCollision {
                            path: Vec::new(),
                            key: k,
                        });
                    }
                    Ok(())
                });
                if let Err(err) = step {
                    result = Err(err);
                    break;
                }
                sys::enif_map_iterator_next(e, &mut iter);
            }
            sys::enif_map_iterator_destroy(e, &mut iter);
            result.map(|_| dict.into_any())
        }
    }
}

fn unsupported(t: ERL_NIF_TERM) -> Error {
    Error::Unsupported {
        path: Vec::new(),
        culprit: Culprit::Erl(t),
    }
}

/// Keyword arguments: a map or a proplist whose keys are atoms or binaries.
pub fn kwargs<'py>(
    py: Python<'py>,
    env: Env<'_>,
    t: ERL_NIF_TERM,
) -> Result<Option<Bound<'py, PyDict>>, Error> {
    let term = unsafe { Term::new(env, t) };
    let dec = Decoder::new(py, env);
    let dict = PyDict::new(py);
    let put = |k: Term<'_>, v: Term<'_>| -> Result<(), Error> {
        let (name, value) = dec.named(k, v, |name| dict.contains(name).unwrap_or(false))?;
        dict.set_item(name, value)
            .map_err(|err| Error::from_pyerr(py, err))
    };
    if term.is_map() {
        let iter = rustler::types::map::MapIterator::new(term).ok_or_else(|| unsupported(t))?;
        for (k, v) in iter {
            put(k, v)?;
        }
    } else if term.is_list() {
        // By hand, not `decode::<Vec<_>>()`: rustler's list iterator panics on an
        // improper list, and a caller may pass one.
        let mut rest = term;
        while let Ok((item, tail)) = rest.list_get_cell() {
            match rustler::types::tuple::get_tuple(item) {
                Ok(kv) if kv.len() == 2 => put(kv[0], kv[1])?,
                _ => return Err(Error::BadKwargs(t)),
            }
            rest = tail;
        }
        if !rest.is_empty_list() {
            return Err(Error::BadKwargs(t));
        }
    } else {
        return Err(Error::BadKwargs(t));
    }
    Ok(if dict.is_empty() { None } else { Some(dict) })
}
