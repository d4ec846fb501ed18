//! A call's inputs, read from a job term by the worker: the argument list as a tuple,
//! keyword arguments as a dict, and single named values (keyword arguments, `eval`
//! bindings), as `py_nif`'s `Decoder::decode_args`, `kwargs` and `Decoder::named` read
//! them. Each argument or value counts its depth from 0 (the list or map that holds
//! them is no level of data) and all of them share one `max_terms` budget.
use super::error::{EtfError, PathElem, Unsupported};
use super::tag::*;
use super::{Codec, Handles, Reader};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

type R<T> = Result<T, EtfError>;

impl Codec<'_> {
    /// The next term, a list, as a tuple of its elements; an element's error has its
    /// position in front of its path. An improper list is `{unsupported, [], List}`;
    /// a term that is no list is `Malformed` (a bad job).
    pub fn decode_args<'py>(
        &self,
        py: Python<'py>,
        r: &mut Reader<'_>,
        handles: &dyn Handles,
    ) -> R<Bound<'py, PyTuple>> {
        let whole = *r;
        let (n, proper) = r.list_header()?;
        if !proper {
            return Err(EtfError::Unsupported {
                path: Vec::new(),
                what: Unsupported::Term(raw(whole)?),
            });
        }
        let mut budget = self.limits.max_terms;
        budget = budget
            .checked_sub(n)
            .ok_or(EtfError::TooLarge { path: Vec::new() })?;
        // `n` elements were found by `list_header`: the size is real.
        let tuple = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyTuple_New(n as _)) }?;
        for i in 0..n {
            let item = r
                .python_counted(self, py, handles, &mut budget)
                .map_err(|e| e.at(PathElem::Index(i)))?;
            unsafe { ffi::PyTuple_SET_ITEM(tuple.as_ptr(), i as _, item.into_ptr()) };
        }
        if n > 0 {
            r.nil()?;
        }
        Ok(unsafe { tuple.cast_into_unchecked() })
    }

    /// The next term, keyword arguments: a map, or a proper list of pairs, whose keys
    /// are names (see [`Codec::named`]); `None` when there are none. Anything else is
    /// `{bad_kwargs, Kw}`.
    pub fn decode_kwargs<'py>(
        &self,
        py: Python<'py>,
        r: &mut Reader<'_>,
        handles: &dyn Handles,
    ) -> R<Option<Bound<'py, PyDict>>> {
        let whole = *r;
        let bad = || raw(whole).map(EtfError::BadKwargs).unwrap_or_else(|e| e);
        let dict = PyDict::new(py);
        let mut budget = self.limits.max_terms;
        let put = |r: &mut Reader<'_>, budget: &mut usize| -> R<()> {
            let taken = |name: &str| dict.contains(name).unwrap_or(false);
            let (name, value) = self.named_counted(py, r, handles, budget, taken)?;
            dict.set_item(name, value).map_err(EtfError::Python)
        };
        match r.peek_tag()? {
            MAP => {
                for _ in 0..r.map_header()? {
                    put(r, &mut budget)?;
                }
            }
            NIL | LIST | STRING => {
                let (n, proper) = r.list_header()?;
                for _ in 0..n {
                    if !matches!(r.peek_tag(), Ok(SMALL_TUPLE | LARGE_TUPLE)) {
                        return Err(bad());
                    }
                    if r.tuple_arity()? != 2 {
                        return Err(bad());
                    }
                    put(r, &mut budget)?;
                }
                if !proper {
                    return Err(bad());
                }
                if n > 0 {
                    r.nil()?;
                }
            }
            _ => return Err(bad()),
        }
        Ok((!dict.is_empty()).then_some(dict))
    }

    /// A keyword argument or a binding: the next two terms, a name (an atom, or a
    /// binary of UTF-8) and its value. A key of another kind is `{unsupported, [],
    /// Key}`; a name that `taken` says is there already (`a` and `<<"a">>`) is
    /// `{key_collision, [], Key}`; the value's errors have the name in front of their path.
    pub fn named<'py>(
        &self,
        py: Python<'py>,
        r: &mut Reader<'_>,
        handles: &dyn Handles,
        taken: impl FnOnce(&str) -> bool,
    ) -> R<(String, Bound<'py, PyAny>)> {
        let mut budget = self.limits.max_terms;
        self.named_counted(py, r, handles, &mut budget, taken)
    }

    fn named_counted<'py>(
        &self,
        py: Python<'py>,
        r: &mut Reader<'_>,
        handles: &dyn Handles,
        budget: &mut usize,
        taken: impl FnOnce(&str) -> bool,
    ) -> R<(String, Bound<'py, PyAny>)> {
        let key = raw(*r)?;
        let name = match r.peek_tag()? {
            ATOM | SMALL_ATOM | ATOM_UTF8 | SMALL_ATOM_UTF8 => Some(r.atom()?.into_owned()),
            BINARY | BIT_BINARY => r
                .binary()
                .ok()
                .and_then(|b| std::str::from_utf8(b).ok())
                .map(str::to_owned),
            _ => None,
        };
        let Some(name) = name else {
            return Err(EtfError::Unsupported {
                path: Vec::new(),
                what: Unsupported::Term(key),
            });
        };
        if taken(&name) {
            return Err(EtfError::KeyCollision {
                path: Vec::new(),
                key,
            });
        }
        let value = r
            .python_counted(self, py, handles, budget)
            .map_err(|e| e.at(PathElem::Name(name.clone())))?;
        Ok((name, value))
    }
}

/// The raw bytes of the term `r` is at.
fn raw(mut r: Reader<'_>) -> R<Vec<u8>> {
    r.skip().map(<[u8]>::to_vec)
}
