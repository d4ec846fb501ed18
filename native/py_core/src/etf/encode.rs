//! Python -> ETF, following docs/types.md as `py_nif`'s `convert::to_erlang` does: the
//! same order of type checks, registered encoders and numpy scalars, handles for what is
//! not data, `max_depth`, `max_terms` and cycles. Iterative: containers being written
//! wait on a stack of frames. Lists and tuples of plain scalars are written in a tight
//! loop that allocates nothing per element.
use super::error::{EtfError, PathElem, Unsupported};
use super::tag::*;
use super::terms;
use super::writer::{put_atom, put_binary, put_float, put_int, put_tuple};
use super::{Codec, Handles, CYCLE_CHECK_DEPTH, INTERRUPT_EVERY};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyIterator;
use std::ptr::addr_of_mut;

type R<T> = Result<T, EtfError>;

extern "C" {
    // Exported by libpython 3.11 but not declared by pyo3-ffi.
    fn _PyLong_NumBits(v: *mut ffi::PyObject) -> usize;
}

pub(crate) fn encode(
    codec: &Codec<'_>,
    py: Python<'_>,
    obj: &Bound<'_, PyAny>,
    out: &mut Vec<u8>,
    handles: &mut dyn Handles,
) -> R<bool> {
    let len = out.len();
    let mut e = Encoder {
        codec,
        py,
        handles,
        budget: codec.limits.max_terms,
        stack: Vec::new(),
        made: Vec::new(),
    };
    match e.run(obj, out) {
        Ok(()) => Ok(!e.made.is_empty()),
        Err(err) => {
            // Nothing refers to the objects put in the table on the way.
            out.truncate(len);
            for id in std::mem::take(&mut e.made) {
                e.handles.forget(py, id);
            }
            Err(err)
        }
    }
}

enum Src<'py> {
    /// The length is read at each step: an encoder may change the list.
    List {
        header: usize,
        charged: usize,
    },
    Tuple {
        len: usize,
    },
    /// Items taken first: encoding may run Python code that changes the dict. `keys`
    /// are where each key's term is in the output, to find two that are one term.
    Dict {
        items: Vec<(Bound<'py, PyAny>, Bound<'py, PyAny>)>,
        keys: Vec<(usize, usize)>,
    },
    Set {
        iter: Bound<'py, PyIterator>,
        header: usize,
    },
    /// What a registered encoder (or numpy's `.item()`) made of the object.
    Converted {
        value: Option<Bound<'py, PyAny>>,
    },
}

struct Frame<'py> {
    obj: Bound<'py, PyAny>,
    src: Src<'py>,
    /// Children handed out so far (for a dict: keys and values).
    i: usize,
}

struct Encoder<'c, 't, 'py, 'h> {
    codec: &'c Codec<'t>,
    py: Python<'py>,
    handles: &'h mut dyn Handles,
    budget: usize,
    stack: Vec<Frame<'py>>,
    /// Handles made by this conversion.
    made: Vec<u64>,
}

impl<'py> Encoder<'_, '_, 'py, '_> {
    fn run(&mut self, obj: &Bound<'_, PyAny>, out: &mut Vec<u8>) -> R<()> {
        let mut next = obj.clone().unbind().into_bound(self.py);
        loop {
            if let Err(e) = self.value(&next, out) {
                return Err(self.located(e, self.stack.len()));
            }
            loop {
                if self.stack.is_empty() {
                    return Ok(());
                }
                let step = match self.child(out) {
                    Ok(Some(c)) => Ok(Some(c)),
                    Ok(None) => self.finish(out).map(|_| None),
                    Err(e) => Err(e),
                };
                match step {
                    Ok(Some(c)) => {
                        next = c;
                        break;
                    }
                    Ok(None) => {
                        self.stack.pop();
                    }
                    Err(e) => return Err(self.located(e, self.stack.len().saturating_sub(1))),
                }
            }
        }
    }

    /// `e` with its path: the child being written in each of the first `n` frames.
    fn located(&self, mut e: EtfError, n: usize) -> EtfError {
        if let Some(path) = e.path_mut() {
            *path = self.stack[..n.min(self.stack.len())]
                .iter()
                .filter_map(|f| match &f.src {
                    Src::List { .. } | Src::Tuple { .. } | Src::Set { .. } => {
                        Some(PathElem::Index(f.i.saturating_sub(1)))
                    }
                    Src::Dict { items, .. } => items
                        .get(f.i.saturating_sub(1) / 2)
                        .map(|(k, _)| PathElem::PyKey(k.clone().unbind())),
                    Src::Converted { .. } => None,
                })
                .collect();
        }
        e
    }

    fn charge(&mut self, n: usize) -> R<()> {
        charge(&mut self.budget, self.py, n)
    }

    /// Depth limit and cycle check for a container about to be written.
    fn guard(&self, obj: &Bound<'py, PyAny>) -> R<()> {
        let depth = self.stack.len();
        if depth >= self.codec.limits.max_depth {
            return Err(EtfError::TooDeep { path: Vec::new() });
        }
        if depth >= CYCLE_CHECK_DEPTH && self.stack.iter().any(|f| f.obj.is(obj)) {
            return Err(EtfError::Cycle { path: Vec::new() });
        }
        Ok(())
    }

    /// Writes `obj`, or opens it (pushes a frame) if it is a container.
    fn value(&mut self, obj: &Bound<'py, PyAny>, out: &mut Vec<u8>) -> R<()> {
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
            self.stack.push(Frame {
                obj: obj.clone(),
                src: Src::Converted {
                    value: Some(converted),
                },
                i: 0,
            });
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
        let encoders = self.codec.types.encoders.bind(py);
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
        if let Some(generic) = self.codec.types.numpy_generic(py) {
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

    fn open_list(&mut self, obj: &Bound<'py, PyAny>, out: &mut Vec<u8>) -> R<()> {
        self.guard(obj)?;
        let n = unsafe { ffi::PyList_GET_SIZE(obj.as_ptr()) } as usize;
        self.charge(n)?;
        if n == 0 {
            out.push(NIL);
            return Ok(());
        }
        out.reserve(n.saturating_mul(2).saturating_add(6));
        let header = out.len();
        out.extend_from_slice(&[LIST, 0, 0, 0, 0]);
        self.push(obj, Src::List { header, charged: n });
        Ok(())
    }

    fn open_tuple(&mut self, obj: &Bound<'py, PyAny>, out: &mut Vec<u8>) -> R<()> {
        self.guard(obj)?;
        let n = unsafe { ffi::PyTuple_GET_SIZE(obj.as_ptr()) } as usize;
        self.charge(n)?;
        put_tuple(out, n);
        if n > 0 {
            self.push(obj, Src::Tuple { len: n });
        }
        Ok(())
    }

    fn open_dict(&mut self, obj: &Bound<'py, PyAny>, out: &mut Vec<u8>) -> R<()> {
        self.guard(obj)?;
        let p = obj.as_ptr();
        let n = unsafe { ffi::PyDict_Size(p) } as usize;
        self.charge(2 * n)?;
        let mut items = Vec::with_capacity(n);
        let mut pos: ffi::Py_ssize_t = 0;
        let mut k: *mut ffi::PyObject = std::ptr::null_mut();
        let mut v: *mut ffi::PyObject = std::ptr::null_mut();
        while unsafe { ffi::PyDict_Next(p, &mut pos, &mut k, &mut v) } != 0 {
            unsafe {
                items.push((
                    Bound::from_borrowed_ptr(self.py, k),
                    Bound::from_borrowed_ptr(self.py, v),
                ))
            };
        }
        out.push(MAP);
        out.extend_from_slice(&(items.len() as u32).to_be_bytes());
        if !items.is_empty() {
            let keys = Vec::with_capacity(items.len());
            self.push(obj, Src::Dict { items, keys });
        }
        Ok(())
    }

    fn open_set(&mut self, obj: &Bound<'py, PyAny>, out: &mut Vec<u8>) -> R<()> {
        self.guard(obj)?;
        let iter = obj.try_iter()?;
        let header = out.len();
        out.extend_from_slice(&[LIST, 0, 0, 0, 0]);
        self.push(obj, Src::Set { iter, header });
        Ok(())
    }

    fn push(&mut self, obj: &Bound<'py, PyAny>, src: Src<'py>) {
        self.stack.push(Frame {
            obj: obj.clone(),
            src,
            i: 0,
        });
    }

    /// The next child of the container on top to write, or `None` when it has no more.
    /// Plain scalars of lists and tuples are written here without leaving the loop.
    fn child(&mut self, out: &mut Vec<u8>) -> R<Option<Bound<'py, PyAny>>> {
        let py = self.py;
        let codec = self.codec;
        let Some(top) = self.stack.last_mut() else {
            return Ok(None);
        };
        let p = top.obj.as_ptr();
        match &mut top.src {
            Src::List { charged, .. } => loop {
                let i = top.i;
                // The length is read each time: an encoder may have changed the list.
                if i >= unsafe { ffi::PyList_GET_SIZE(p) } as usize {
                    return Ok(None);
                }
                if i >= *charged {
                    *charged += 1;
                    charge(&mut self.budget, py, 1)?;
                }
                top.i += 1;
                let item = unsafe { ffi::PyList_GET_ITEM(p, i as _) };
                if !scalar(codec, item, out) {
                    return Ok(Some(unsafe { Bound::from_borrowed_ptr(py, item) }));
                }
            },
            Src::Tuple { len } => {
                while top.i < *len {
                    let item = unsafe { ffi::PyTuple_GET_ITEM(p, top.i as _) };
                    top.i += 1;
                    if !scalar(codec, item, out) {
                        return Ok(Some(unsafe { Bound::from_borrowed_ptr(py, item) }));
                    }
                }
                Ok(None)
            }
            Src::Dict { items, keys } => {
                let i = top.i;
                let Some((k, v)) = items.get(i / 2) else {
                    return Ok(None);
                };
                top.i += 1;
                if i % 2 == 0 {
                    keys.push((out.len(), out.len()));
                    Ok(Some(k.clone()))
                } else {
                    if let Some(last) = keys.last_mut() {
                        last.1 = out.len();
                    }
                    Ok(Some(v.clone()))
                }
            }
            Src::Set { iter, .. } => match iter.next() {
                None => Ok(None),
                Some(item) => {
                    let item = item?;
                    top.i += 1;
                    charge(&mut self.budget, py, 1)?;
                    Ok(Some(item))
                }
            },
            Src::Converted { value } => {
                top.i += 1;
                Ok(value.take())
            }
        }
    }

    /// Closes the container on top: a list's length and tail, a dict's key check.
    fn finish(&mut self, out: &mut Vec<u8>) -> R<()> {
        let Some(top) = self.stack.last() else {
            return Ok(());
        };
        match &top.src {
            Src::List { header, .. } | Src::Set { header, .. } => {
                let n = top.i;
                if n == 0 {
                    out.truncate(*header);
                } else {
                    let len = u32::try_from(n).map_err(|_| EtfError::TooLarge { path: vec![] })?;
                    if let Some(slot) = out.get_mut(header + 1..header + 5) {
                        slot.copy_from_slice(&len.to_be_bytes());
                    }
                }
                out.push(NIL);
            }
            Src::Dict { keys, .. } => {
                if let Some(key) = repeated(out, keys) {
                    // Two keys that differ in Python became one term ('a' and b'a').
                    return Err(EtfError::KeyCollision {
                        path: Vec::new(),
                        key: key.to_vec(),
                    });
                }
            }
            Src::Tuple { .. } | Src::Converted { .. } => {}
        }
        Ok(())
    }
}

/// The first key equal to an earlier one, if any (`keys` are ranges of `out`).
fn repeated<'o>(out: &'o [u8], keys: &[(usize, usize)]) -> Option<&'o [u8]> {
    let key = |&(s, e): &(usize, usize)| out.get(s..e).unwrap_or(&[]);
    if keys.len() <= 16 {
        for (j, k) in keys.iter().enumerate() {
            let kj = key(k);
            if keys[..j].iter().any(|e| key(e) == kj) {
                return Some(kj);
            }
        }
        return None;
    }
    let mut seen = std::collections::HashSet::with_capacity(keys.len());
    keys.iter().map(key).find(|k| !seen.insert(*k))
}

/// Counts `n` more terms made; every `INTERRUPT_EVERY`, a look at pending signals.
fn charge(budget: &mut usize, py: Python<'_>, n: usize) -> R<()> {
    let before = *budget;
    *budget = before
        .checked_sub(n)
        .ok_or(EtfError::TooLarge { path: Vec::new() })?;
    if before / INTERRUPT_EVERY != *budget / INTERRUPT_EVERY
        && unsafe { ffi::PyErr_CheckSignals() } != 0
    {
        return Err(EtfError::Python(PyErr::fetch(py)));
    }
    Ok(())
}

/// A plain scalar of an exact built-in type written at once; false for anything else
/// (or an int beyond 64 bits, a str with lone surrogates: the general path takes those).
#[inline]
fn scalar(codec: &Codec<'_>, p: *mut ffi::PyObject, out: &mut Vec<u8>) -> bool {
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
