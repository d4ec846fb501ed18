//! Python -> ETF, following docs/types.md as `py_nif`'s `convert::to_erlang` does: the
//! same order of type checks, registered encoders and numpy scalars, handles for what is
//! not data, `max_depth`, `max_terms` and cycles. Iterative: containers being written
//! wait on a stack of frames. Lists and tuples of plain scalars are written in a tight
//! loop that allocates nothing per element. What each Python type becomes is decided in
//! `leaves.rs`.

mod leaves;
use super::error::{EtfError, PathElem};
use super::tag::*;
use super::writer::put_tuple;
use super::{Codec, Handles, CYCLE_CHECK_DEPTH, INTERRUPT_EVERY};
use leaves::scalar;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyIterator;
use std::collections::HashMap;

type R<T> = Result<T, EtfError>;

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
        seen: HashMap::new(),
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
    /// From `CYCLE_CHECK_DEPTH` down, the containers on the stack (by address, with how
    /// often each is there): a cycle check per container in constant time.
    seen: HashMap<usize, u32>,
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
                    Ok(None) => self.pop(),
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
    fn guard(&mut self, obj: &Bound<'py, PyAny>) -> R<()> {
        let depth = self.stack.len();
        if depth >= self.codec.limits.max_depth {
            return Err(EtfError::TooDeep { path: Vec::new() });
        }
        if depth >= CYCLE_CHECK_DEPTH {
            if self.seen.is_empty() {
                for f in &self.stack {
                    *self.seen.entry(f.obj.as_ptr() as usize).or_default() += 1;
                }
            }
            if self.seen.contains_key(&(obj.as_ptr() as usize)) {
                return Err(EtfError::Cycle { path: Vec::new() });
            }
        }
        Ok(())
    }

    fn pop(&mut self) {
        let Some(f) = self.stack.pop() else {
            return;
        };
        if self.stack.len() < CYCLE_CHECK_DEPTH {
            self.seen.clear();
        } else if let Some(n) = self.seen.get_mut(&(f.obj.as_ptr() as usize)) {
            *n -= 1;
            if *n == 0 {
                self.seen.remove(&(f.obj.as_ptr() as usize));
            }
        }
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
        if !self.seen.is_empty() {
            *self.seen.entry(obj.as_ptr() as usize).or_default() += 1;
        }
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
                    out.push(NIL);
                } else {
                    let len = u32::try_from(n).map_err(|_| EtfError::TooLarge { path: vec![] })?;
                    if let Some(slot) = out.get_mut(header + 1..header + 5) {
                        slot.copy_from_slice(&len.to_be_bytes());
                    }
                    if !charlist(out, *header, n) {
                        out.push(NIL);
                    }
                }
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

/// A list of `n` small integers (0..=255) written at `header` becomes a STRING_EXT, as
/// `term_to_binary` writes it (half the size); true if it did (the tail included).
fn charlist(out: &mut Vec<u8>, header: usize, n: usize) -> bool {
    let body = header + 5;
    // `n` terms in `2n` bytes each starting with SMALL_INTEGER can only be small ints.
    if n > u16::MAX as usize || out.len() != body + 2 * n {
        return false;
    }
    if !out[body..].chunks_exact(2).all(|c| c[0] == SMALL_INTEGER) {
        return false;
    }
    out[header] = STRING;
    out[header + 1..header + 3].copy_from_slice(&(n as u16).to_be_bytes());
    for i in 0..n {
        out[header + 3 + i] = out[body + 2 * i + 1];
    }
    out.truncate(header + 3 + n);
    true
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
