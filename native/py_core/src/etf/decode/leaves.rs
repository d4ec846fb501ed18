//! ETF -> Python, one term at a time: what each tag becomes (docs/types.md), the markers
//! `{M, handle, Id}`, `{M, bytes, Bin}`, `{M, buffer, Bin}`, and containers opened (a
//! frame pushed for `mod.rs`'s walk to fill).
use super::{owned, Decoder, Kind, R};
use crate::etf::cursor::{read_int, u64_of, unknown_tag, Cur, Int};
use crate::etf::error::{EtfError, Unsupported};
use crate::etf::tag::*;
use crate::etf::terms;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

impl<'py> Decoder<'_, '_, 'py, '_> {
    /// Reads one term: a value, or `None` when it opened a container (pushed a frame).
    pub(super) fn term(&mut self, cur: &mut Cur<'_>) -> R<Option<Bound<'py, PyAny>>> {
        let py = self.py;
        let start = cur.pos;
        let t = cur.u8()?;
        let v = match t {
            SMALL_INTEGER => owned(py, unsafe { ffi::PyLong_FromLong(cur.u8()? as _) })?,
            INTEGER => {
                let v = i32::from_be_bytes(cur.array()?);
                owned(py, unsafe { ffi::PyLong_FromLong(v as _) })?
            }
            SMALL_BIG | LARGE_BIG => {
                cur.pos = start;
                match read_int(cur)? {
                    Int::Small(v) => owned(py, unsafe { ffi::PyLong_FromLongLong(v) })?,
                    Int::Big(negative, mag) => bignum(py, negative, mag)?,
                }
            }
            NEW_FLOAT => {
                let f = f64::from_bits(u64::from_be_bytes(cur.array()?));
                owned(py, unsafe { ffi::PyFloat_FromDouble(f) })?
            }
            FLOAT => {
                let f = old_float(cur.take(31)?)?;
                owned(py, unsafe { ffi::PyFloat_FromDouble(f) })?
            }
            ATOM | SMALL_ATOM | ATOM_UTF8 | SMALL_ATOM_UTF8 | ATOM_CACHE_REF => {
                let name = cur.atom_body(t)?;
                self.atom(&name)?
            }
            BINARY => {
                let n = cur.u32()? as usize;
                text(py, cur.take(n)?)?
            }
            BIT_BINARY => {
                let n = cur.u32()? as usize;
                let bits = cur.u8()?;
                let data = cur.take(n)?;
                match bits {
                    8 => text(py, data)?,
                    1..=7 => {
                        return Err(EtfError::Unsupported {
                            path: Vec::new(),
                            what: Unsupported::Term(cur.since(start).to_vec()),
                        })
                    }
                    _ => return Err(EtfError::malformed("bitstring's bit count")),
                }
            }
            NIL => {
                self.deeper()?;
                owned(py, unsafe { ffi::PyList_New(0) })?
            }
            STRING => {
                self.deeper()?;
                let n = cur.u16()? as usize;
                let chars = cur.take(n)?;
                self.charge(n)?;
                let list = owned(py, unsafe { ffi::PyList_New(n as _) })?;
                for (i, &b) in chars.iter().enumerate() {
                    let item = owned(py, unsafe { ffi::PyLong_FromLong(b as _) })?;
                    unsafe { ffi::PyList_SET_ITEM(list.as_ptr(), i as _, item.into_ptr()) };
                }
                list
            }
            LIST => {
                self.deeper()?;
                let n = cur.u32()? as usize;
                if n == 0 {
                    // [|Tail] is Tail itself: read it as this term.
                    return Ok(None);
                }
                if n >= cur.left() {
                    return Err(EtfError::malformed("truncated term"));
                }
                if let Err(e) = self.charge(n) {
                    // An improper list is refused before its size is counted.
                    return Err(self.improper_first(cur, start, n).unwrap_or(e));
                }
                let list = owned(py, unsafe { ffi::PyList_New(n as _) })?;
                self.push(Kind::List, list, n, start, cur.pos);
                return Ok(None);
            }
            SMALL_TUPLE | LARGE_TUPLE => {
                let n = if t == SMALL_TUPLE {
                    cur.u8()? as usize
                } else {
                    cur.u32()? as usize
                };
                if n == 3 {
                    if let Some(v) = self.marker(cur, start)? {
                        return Ok(Some(v));
                    }
                }
                self.deeper()?;
                if n > cur.left() {
                    return Err(EtfError::malformed("truncated term"));
                }
                self.charge(n)?;
                let tuple = owned(py, unsafe { ffi::PyTuple_New(n as _) })?;
                if n == 0 {
                    return Ok(Some(tuple));
                }
                self.push(Kind::Tuple, tuple, n, start, cur.pos);
                return Ok(None);
            }
            MAP => {
                self.deeper()?;
                let n = cur.u32()? as usize;
                if n.saturating_mul(2) > cur.left() {
                    return Err(EtfError::malformed("truncated term"));
                }
                self.charge(2 * n)?;
                let dict = PyDict::new(py).into_any();
                if n == 0 {
                    return Ok(Some(dict));
                }
                self.push(Kind::Map, dict, n, start, cur.pos);
                return Ok(None);
            }
            PID | NEW_PID | PORT | NEW_PORT | V4_PORT | REFERENCE | NEW_REFERENCE
            | NEWER_REFERENCE | NEW_FUN | EXPORT => {
                cur.opaque_body(t)?;
                let raw = cur.since(start);
                match t {
                    PID | NEW_PID => Bound::new(py, terms::Pid::new(raw))?.into_any(),
                    PORT | NEW_PORT | V4_PORT => Bound::new(py, terms::Port::new(raw))?.into_any(),
                    NEW_FUN | EXPORT => Bound::new(py, terms::Fun::new(raw))?.into_any(),
                    _ => Bound::new(py, terms::Ref::new(raw))?.into_any(),
                }
            }
            t => return Err(unknown_tag(t)),
        };
        Ok(Some(v))
    }

    /// The list of `n` elements starting at `start` (body at `cur`), if it is improper.
    fn improper_first(&self, cur: &Cur<'_>, start: usize, n: usize) -> Option<EtfError> {
        let mut c = *cur;
        for _ in 0..n {
            if let Err(e) = c.skip() {
                return Some(e);
            }
        }
        if c.peek().ok()? == NIL {
            return None;
        }
        if let Err(e) = c.skip() {
            return Some(e);
        }
        Some(EtfError::Unsupported {
            path: Vec::new(),
            what: Unsupported::Term(c.since(start).to_vec()),
        })
    }

    fn atom(&self, name: &str) -> R<Bound<'py, PyAny>> {
        let py = self.py;
        Ok(match name {
            "true" => unsafe { Bound::from_borrowed_ptr(py, ffi::Py_True()) },
            "false" => unsafe { Bound::from_borrowed_ptr(py, ffi::Py_False()) },
            "undefined" | "nil" => py.None().into_bound(py),
            _ => self.codec.types.atom(py, name)?,
        })
    }

    /// `{M, handle, Id}`, `{M, bytes, Bin}`, `{M, buffer, Bin}` (the tuple header read,
    /// `start` where it began); `None` if the tuple is not a marker. A tuple that starts
    /// with `M` but is none of these is unsupported.
    fn marker(&self, cur: &mut Cur<'_>, start: usize) -> R<Option<Bound<'py, PyAny>>> {
        let Some(m) = self.codec.marker.as_deref() else {
            return Ok(None);
        };
        if m.is_empty() || !cur.buf.get(cur.pos..).is_some_and(|b| b.starts_with(m)) {
            return Ok(None);
        }
        let py = self.py;
        let mut c = *cur;
        c.pos += m.len();
        let kind = c.atom().ok();
        let value = match kind.as_deref() {
            Some("handle") => match read_int(&mut c) {
                Ok(Int::Small(id)) if id >= 0 => Some(self.handle(id as u64)?),
                Ok(Int::Big(false, mag)) => match u64_of(mag) {
                    Some(id) => Some(self.handle(id)?),
                    None => None,
                },
                _ => None,
            },
            Some(kind @ ("bytes" | "buffer")) => match (c.u8(), c.u32()) {
                (Ok(BINARY), Ok(n)) => match c.take(n as usize) {
                    Ok(data) => {
                        let bytes = PyBytes::new(py, data);
                        Some(if kind == "bytes" {
                            bytes.into_any()
                        } else {
                            owned(py, unsafe { ffi::PyMemoryView_FromObject(bytes.as_ptr()) })?
                        })
                    }
                    Err(_) => None,
                },
                _ => None,
            },
            _ => None,
        };
        if let Some(v) = value {
            *cur = c;
            return Ok(Some(v));
        }
        for _ in 0..3 {
            cur.skip()?;
        }
        Err(EtfError::Unsupported {
            path: Vec::new(),
            what: Unsupported::Term(cur.since(start).to_vec()),
        })
    }

    fn handle(&self, id: u64) -> R<Bound<'py, PyAny>> {
        self.handles
            .get(self.py, id)
            .map(|o| o.into_bound(self.py))
            .ok_or(EtfError::NoHandle(id))
    }
}

/// A binary as `str`: UTF-8, with `surrogateescape` for bytes that are not.
fn text<'py>(py: Python<'py>, b: &[u8]) -> R<Bound<'py, PyAny>> {
    owned(py, unsafe {
        ffi::PyUnicode_DecodeUTF8(b.as_ptr().cast(), b.len() as _, c"surrogateescape".as_ptr())
    })
}

/// An integer from its sign and little-endian magnitude.
fn bignum<'py>(py: Python<'py>, negative: bool, mag: &[u8]) -> R<Bound<'py, PyAny>> {
    match u64_of(mag) {
        Some(v) if !negative => owned(py, unsafe { ffi::PyLong_FromUnsignedLongLong(v) }),
        Some(v) if v <= 1 << 63 => owned(py, unsafe {
            ffi::PyLong_FromLongLong(0i64.wrapping_sub_unsigned(v))
        }),
        _ => {
            let n = owned(py, unsafe {
                ffi::_PyLong_FromByteArray(mag.as_ptr(), mag.len(), 1, 0)
            })?;
            if negative {
                owned(py, unsafe { ffi::PyNumber_Negative(n.as_ptr()) })
            } else {
                Ok(n)
            }
        }
    }
}

/// FLOAT_EXT: the float as text (`%.20e`), padded with NULs to 31 bytes.
fn old_float(b: &[u8]) -> R<f64> {
    let end = b.iter().position(|&x| x == 0).unwrap_or(b.len());
    std::str::from_utf8(&b[..end])
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|f| f.is_finite())
        .ok_or_else(|| EtfError::malformed("float text"))
}
