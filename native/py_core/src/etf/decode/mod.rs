//! ETF -> Python, following docs/types.md as `py_nif`'s `convert::to_python` does. The
//! walk is iterative: containers being filled wait on a stack of frames, so no input can
//! overflow the native stack, and `max_depth` bounds the frames. Errors carry the path
//! the frames spell; an improper list is reported before anything found inside it, as
//! the NIF (which checks a list's length first) reports it. The terms themselves (what
//! each tag becomes, markers) are read in `leaves.rs`.

mod leaves;
use super::cursor::Cur;
use super::error::{EtfError, PathElem, Unsupported};
use super::tag::*;
use super::{Codec, Handles, INTERRUPT_EVERY};
use pyo3::ffi;
use pyo3::prelude::*;

type R<T> = Result<T, EtfError>;

/// Decodes the term at `cur` and moves past it.
pub(crate) fn decode<'py>(
    codec: &Codec<'_>,
    py: Python<'py>,
    cur: &mut Cur<'_>,
    handles: &dyn Handles,
) -> R<Bound<'py, PyAny>> {
    let mut budget = codec.limits.max_terms;
    decode_counted(codec, py, cur, handles, &mut budget)
}

/// `decode`, taking the terms it reads from `budget` (shared by a call's arguments).
pub(crate) fn decode_counted<'py>(
    codec: &Codec<'_>,
    py: Python<'py>,
    cur: &mut Cur<'_>,
    handles: &dyn Handles,
    budget: &mut usize,
) -> R<Bound<'py, PyAny>> {
    let mut d = Decoder {
        codec,
        py,
        handles,
        budget: *budget,
        stack: Vec::new(),
    };
    let r = d.run(cur);
    *budget = d.budget;
    r
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    List,
    Tuple,
    Map,
}

/// A container being filled.
struct Frame<'py> {
    kind: Kind,
    obj: Bound<'py, PyAny>,
    /// Elements (pairs for a map).
    len: usize,
    /// Elements (pairs) filled so far: the position of the one being read.
    i: usize,
    /// Where the container's term starts.
    start: usize,
    /// A map's key read, waiting for its value, with where its bytes are.
    key: Option<(Bound<'py, PyAny>, usize, usize)>,
    /// Where a map's next key starts.
    key_start: usize,
}

struct Decoder<'c, 't, 'py, 'h> {
    codec: &'c Codec<'t>,
    py: Python<'py>,
    handles: &'h dyn Handles,
    /// Terms this conversion may still read (`max_terms`).
    budget: usize,
    stack: Vec<Frame<'py>>,
}

/// A new object from a C call that returned a new reference (or NULL and an exception).
fn owned<'py>(py: Python<'py>, p: *mut ffi::PyObject) -> R<Bound<'py, PyAny>> {
    unsafe { Bound::from_owned_ptr_or_err(py, p) }.map_err(EtfError::Python)
}

impl<'py> Decoder<'_, '_, 'py, '_> {
    fn run(&mut self, cur: &mut Cur<'_>) -> R<Bound<'py, PyAny>> {
        loop {
            let start = cur.pos;
            let mut v = match self.term(cur) {
                Ok(Some(v)) => v,
                Ok(None) => continue, // a container opened: its first element is next
                Err(mut e) => {
                    let n = self.stack.len();
                    if let Some(p) = e.path_mut() {
                        *p = self.path(cur.buf, n);
                    }
                    return Err(self.fail(cur.buf, e, n, start));
                }
            };
            // Hand the value to the container being filled; a container that is full
            // is itself a value for the one below it.
            loop {
                let Some(top) = self.stack.last_mut() else {
                    return Ok(v);
                };
                match top.kind {
                    Kind::List => unsafe {
                        ffi::PyList_SET_ITEM(top.obj.as_ptr(), top.i as _, v.into_ptr());
                        top.i += 1;
                        if top.i < top.len {
                            break;
                        }
                        if cur.peek()? == NIL {
                            cur.pos += 1;
                        } else {
                            let start = top.start;
                            cur.skip()?;
                            let what = Unsupported::Term(cur.since(start).to_vec());
                            return Err(self.container_error(cur.buf, |path| {
                                EtfError::Unsupported { path, what }
                            }));
                        }
                    },
                    Kind::Tuple => unsafe {
                        ffi::PyTuple_SET_ITEM(top.obj.as_ptr(), top.i as _, v.into_ptr());
                        top.i += 1;
                        if top.i < top.len {
                            break;
                        }
                    },
                    Kind::Map => match top.key.take() {
                        None => {
                            top.key = Some((v, top.key_start, cur.pos));
                            break;
                        }
                        Some((k, ks, ke)) => {
                            let dict = top.obj.as_ptr();
                            let before = unsafe { ffi::PyDict_Size(dict) };
                            if unsafe { ffi::PyDict_SetItem(dict, k.as_ptr(), v.as_ptr()) } != 0 {
                                // A fresh dict refuses a key only when it is unhashable.
                                unsafe { ffi::PyErr_Clear() };
                                let key = cur.buf.get(ks..ke).unwrap_or(&[]).to_vec();
                                return Err(self.container_error(cur.buf, |mut path| {
                                    path.push(PathElem::Key(key.clone()));
                                    EtfError::Unsupported {
                                        path,
                                        what: Unsupported::Term(key),
                                    }
                                }));
                            }
                            if unsafe { ffi::PyDict_Size(dict) } == before {
                                // Two keys that are one in Python (1 and 1.0, a and
                                // <<"a">>): merging them would lose a value.
                                let key = cur.buf.get(ks..ke).unwrap_or(&[]).to_vec();
                                return Err(self.container_error(cur.buf, |path| {
                                    EtfError::KeyCollision { path, key }
                                }));
                            }
                            top.i += 1;
                            top.key_start = cur.pos;
                            if top.i < top.len {
                                break;
                            }
                        }
                    },
                }
                // The frame just filled is on top (`top` above): it becomes the value.
                match self.stack.pop() {
                    Some(f) => v = f.obj,
                    None => return Err(EtfError::malformed("decoder stack")),
                }
            }
        }
    }

    /// An error about the container on top of the stack: its path leads to it.
    fn container_error(
        &self,
        buf: &[u8],
        make: impl FnOnce(Vec<PathElem>) -> EtfError,
    ) -> EtfError {
        let n = self.stack.len().saturating_sub(1);
        let e = make(self.path(buf, n));
        let start = self.stack.last().map_or(0, |f| f.start);
        self.fail(buf, e, n, start)
    }

    /// The path through the first `n` frames: each one's element being read.
    fn path(&self, buf: &[u8], n: usize) -> Vec<PathElem> {
        self.stack[..n.min(self.stack.len())]
            .iter()
            .filter_map(|f| match f.kind {
                Kind::List | Kind::Tuple => Some(PathElem::Index(f.i)),
                // While its key is read, a map adds nothing; while its value is, the key.
                Kind::Map => f
                    .key
                    .as_ref()
                    .map(|(_, s, e)| PathElem::Key(buf.get(*s..*e).unwrap_or(&[]).to_vec())),
            })
            .collect()
    }

    /// `err`, met inside the first `n` frames while reading the element that starts at
    /// `child`, unless one of those frames is an improper list: the NIF checks that a
    /// list is proper before it reads any element, so that is the error. The rest of each
    /// frame is skipped once, innermost first (linear, however deep).
    fn fail(&self, buf: &[u8], err: EtfError, n: usize, child: usize) -> EtfError {
        let frames = &self.stack[..n.min(self.stack.len())];
        if matches!(err, EtfError::Malformed(_)) || frames.iter().all(|f| f.kind != Kind::List) {
            return err;
        }
        let mut c = Cur { buf, pos: child };
        if let Err(e) = c.skip() {
            return e;
        }
        let mut improper = None;
        for (depth, f) in frames.iter().enumerate().rev() {
            let after = f.len.saturating_sub(f.i + 1);
            let left = match f.kind {
                Kind::List | Kind::Tuple => after,
                // Reading the key: its value is left too.
                Kind::Map => 2 * after + usize::from(f.key.is_none()),
            };
            for _ in 0..left {
                if let Err(e) = c.skip() {
                    return e;
                }
            }
            if f.kind == Kind::List {
                match c.peek() {
                    Ok(NIL) => c.pos += 1,
                    Ok(_) => match c.skip() {
                        Ok(_) => improper = Some((depth, c.pos)),
                        Err(e) => return e,
                    },
                    Err(e) => return e,
                }
            }
        }
        match improper {
            Some((depth, end)) => EtfError::Unsupported {
                path: self.path(buf, depth),
                what: Unsupported::Term(buf.get(frames[depth].start..end).unwrap_or(&[]).to_vec()),
            },
            None => err,
        }
    }

    /// Counts `n` more terms read; every `INTERRUPT_EVERY`, a look at pending signals
    /// (the worker's SIGINT handler raises `erlang.Cancelled` there).
    fn charge(&mut self, n: usize) -> R<()> {
        let before = self.budget;
        self.budget = before
            .checked_sub(n)
            .ok_or(EtfError::TooLarge { path: Vec::new() })?;
        if before / INTERRUPT_EVERY != self.budget / INTERRUPT_EVERY
            && unsafe { ffi::PyErr_CheckSignals() } != 0
        {
            return Err(EtfError::Python(PyErr::fetch(self.py)));
        }
        Ok(())
    }

    /// Room for one more container.
    fn deeper(&self) -> R<()> {
        if self.stack.len() >= self.codec.limits.max_depth {
            return Err(EtfError::TooDeep { path: Vec::new() });
        }
        Ok(())
    }

    fn push(&mut self, kind: Kind, obj: Bound<'py, PyAny>, len: usize, start: usize, body: usize) {
        self.stack.push(Frame {
            kind,
            obj,
            len,
            i: 0,
            start,
            key: None,
            key_start: body,
        });
    }
}
