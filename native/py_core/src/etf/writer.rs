//! Building ETF by hand ([`Writer`]), for the worker's replies, and conversion errors
//! rendered as the Erlang reasons `py_nif`'s `convert::reason` makes of them.
use super::error::{EtfError, PathElem, Unsupported};
use super::tag::*;
use super::{Codec, Handles};
use crate::bigint;
use pyo3::prelude::*;

/// ETF being built: each method appends one term or one container header (whose
/// elements the next calls append).
#[derive(Default, Debug, Clone)]
pub struct Writer {
    pub buf: Vec<u8>,
}

impl Writer {
    pub fn new() -> Self {
        Writer { buf: Vec::new() }
    }

    /// A writer that starts with the 131 version byte.
    pub fn term() -> Self {
        let mut w = Writer::new();
        w.version();
        w
    }

    pub fn into_bytes(self) -> Vec<u8> {
        self.buf
    }

    /// The 131 version byte.
    pub fn version(&mut self) -> &mut Self {
        self.buf.push(VERSION);
        self
    }

    /// A tuple header; `arity` terms follow.
    pub fn tuple(&mut self, arity: usize) -> &mut Self {
        put_tuple(&mut self.buf, arity);
        self
    }

    /// An atom (UTF-8). Erlang atoms have at most 255 characters: a longer name is cut.
    pub fn atom(&mut self, name: &str) -> &mut Self {
        let end = name.char_indices().nth(255).map_or(name.len(), |(i, _)| i);
        put_atom(&mut self.buf, &name[..end]);
        self
    }

    pub fn binary(&mut self, bytes: &[u8]) -> &mut Self {
        put_binary(&mut self.buf, bytes);
        self
    }

    pub fn int(&mut self, v: i64) -> &mut Self {
        put_int(&mut self.buf, v);
        self
    }

    pub fn uint(&mut self, v: u64) -> &mut Self {
        match i64::try_from(v) {
            Ok(v) => put_int(&mut self.buf, v),
            Err(_) => bigint::push_etf_bignum(&mut self.buf, false, &v.to_le_bytes()),
        }
        self
    }

    /// An integer from its sign and little-endian magnitude (a small one if it fits).
    pub fn bigint(&mut self, negative: bool, magnitude_le: &[u8]) -> &mut Self {
        match super::cursor::u64_of(magnitude_le) {
            Some(m) if !negative && m <= i64::MAX as u64 => put_int(&mut self.buf, m as i64),
            Some(m) if negative && m <= 1 << 63 => {
                put_int(&mut self.buf, 0i64.wrapping_sub_unsigned(m))
            }
            _ => bigint::push_etf_bignum(&mut self.buf, negative, magnitude_le),
        }
        self
    }

    /// A float (NEW_FLOAT_EXT); `nan`, `inf`, `-inf` as the atoms Python's go back as.
    pub fn float(&mut self, v: f64) -> &mut Self {
        put_float(&mut self.buf, v);
        self
    }

    /// A proper list's header; `len` terms follow, then `nil()`. `len` 0 is `nil()` alone.
    pub fn list(&mut self, len: usize) -> &mut Self {
        self.buf.push(LIST);
        self.buf.extend_from_slice(&(len as u32).to_be_bytes());
        self
    }

    pub fn nil(&mut self) -> &mut Self {
        self.buf.push(NIL);
        self
    }

    /// A map header; `arity` key-value pairs follow (key first).
    pub fn map(&mut self, arity: usize) -> &mut Self {
        self.buf.push(MAP);
        self.buf.extend_from_slice(&(arity as u32).to_be_bytes());
        self
    }

    /// Raw term bytes (no 131), as [`super::Reader::skip`] gives them.
    pub fn raw(&mut self, bytes: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(bytes);
        self
    }

    /// `{M, handle, Id}` for the marker's raw bytes `marker`.
    pub fn handle(&mut self, marker: &[u8], id: u64) -> &mut Self {
        self.tuple(3).raw(marker).atom("handle").uint(id)
    }

    /// A Python object as a handle: put in `handles`, written as `{M, handle, Id}`.
    /// Without a marker no handle can be written: the object's `repr` goes as a binary.
    pub fn object(
        &mut self,
        obj: &Bound<'_, PyAny>,
        codec: &Codec<'_>,
        handles: &mut dyn Handles,
    ) -> &mut Self {
        match &codec.marker {
            Some(m) => {
                let id = handles.put(obj.py(), obj.clone().unbind());
                self.handle(m, id)
            }
            None => {
                let text = obj
                    .repr()
                    .map(|r| r.to_string_lossy().into_owned())
                    .unwrap_or_else(|_| "<object>".into());
                self.binary(text.as_bytes())
            }
        }
    }

    /// The reason of a conversion error (without the `error` tag), as `py_nif` renders
    /// it: `{unsupported, Path, Term}` (a Python culprit as a handle), `{too_deep, Path}`,
    /// `{too_large, Path}`, `{key_collision, Path, Key}`, `{cycle, Path}`,
    /// `{python, Type, Msg, Traceback}`, `{no_handle, Id}`, `{bad_kwargs, Kw}`,
    /// `{bad_etf, Msg}`. Returns whether it wrote a handle (`{M, handle, Id}`: the
    /// result packet's flag).
    pub fn error(
        &mut self,
        err: &EtfError,
        codec: &Codec<'_>,
        py: Python<'_>,
        handles: &mut dyn Handles,
    ) -> bool {
        let mut counted = Counted {
            inner: handles,
            puts: 0,
        };
        self.reason(err, codec, py, &mut counted);
        counted.puts > 0
    }

    fn reason(
        &mut self,
        err: &EtfError,
        codec: &Codec<'_>,
        py: Python<'_>,
        handles: &mut dyn Handles,
    ) -> &mut Self {
        match err {
            EtfError::Unsupported { path, what } => {
                self.tuple(3).atom("unsupported");
                self.path(path, codec, py, handles);
                match what {
                    Unsupported::Term(raw) => self.raw(raw),
                    Unsupported::Object(obj) => self.object(obj.bind(py), codec, handles),
                }
            }
            EtfError::TooDeep { path } => {
                self.tuple(2).atom("too_deep");
                self.path(path, codec, py, handles)
            }
            EtfError::TooLarge { path } => {
                self.tuple(2).atom("too_large");
                self.path(path, codec, py, handles)
            }
            EtfError::KeyCollision { path, key } => {
                self.tuple(3).atom("key_collision");
                self.path(path, codec, py, handles).raw(key)
            }
            EtfError::Cycle { path } => {
                self.tuple(2).atom("cycle");
                self.path(path, codec, py, handles)
            }
            EtfError::NoHandle(id) => self.tuple(2).atom("no_handle").uint(*id),
            EtfError::BadKwargs(raw) => self.tuple(2).atom("bad_kwargs").raw(raw),
            EtfError::Malformed(msg) => self.tuple(2).atom("bad_etf").binary(msg.as_bytes()),
            EtfError::Python(e) => {
                let d = crate::exception::describe(py, e);
                self.tuple(4)
                    .atom("python")
                    .binary(d.ty.as_bytes())
                    .binary(d.msg.as_bytes());
                if !d.tb.is_empty() {
                    self.list(d.tb.len());
                    for line in &d.tb {
                        self.binary(line.as_bytes());
                    }
                }
                self.nil()
            }
        }
    }

    /// `{error, Reason}`; whether it wrote a handle.
    pub fn error_tagged(
        &mut self,
        err: &EtfError,
        codec: &Codec<'_>,
        py: Python<'_>,
        handles: &mut dyn Handles,
    ) -> bool {
        self.tuple(2).atom("error").error(err, codec, py, handles)
    }

    fn path(
        &mut self,
        path: &[PathElem],
        codec: &Codec<'_>,
        py: Python<'_>,
        handles: &mut dyn Handles,
    ) -> &mut Self {
        if !path.is_empty() {
            self.list(path.len());
            for elem in path {
                match elem {
                    PathElem::Index(i) => self.uint(*i as u64),
                    PathElem::Key(raw) => self.raw(raw),
                    PathElem::Name(n) => self.binary(n.as_bytes()),
                    PathElem::PyKey(k) => {
                        // As a term if it converts on its own, else as a handle.
                        let k = k.bind(py);
                        let mut tmp = Vec::new();
                        match codec.encode(py, k, &mut tmp, handles) {
                            Ok(_) => self.raw(&tmp),
                            Err(_) => self.object(k, codec, handles),
                        }
                    }
                };
            }
        }
        self.nil()
    }
}

/// A table that counts what is put in it (for [`Writer::error`]'s flag).
struct Counted<'h> {
    inner: &'h mut dyn Handles,
    puts: usize,
}

impl Handles for Counted<'_> {
    fn get(&self, py: Python<'_>, id: u64) -> Option<Py<PyAny>> {
        self.inner.get(py, id)
    }
    fn put(&mut self, py: Python<'_>, obj: Py<PyAny>) -> u64 {
        self.puts += 1;
        self.inner.put(py, obj)
    }
    fn forget(&mut self, py: Python<'_>, id: u64) {
        self.puts = self.puts.saturating_sub(1);
        self.inner.forget(py, id)
    }
}

pub(crate) fn put_tuple(out: &mut Vec<u8>, arity: usize) {
    if arity < 256 {
        out.extend_from_slice(&[SMALL_TUPLE, arity as u8]);
    } else {
        out.push(LARGE_TUPLE);
        out.extend_from_slice(&(arity as u32).to_be_bytes());
    }
}

/// An atom from a name of at most 255 characters (so at most 1020 bytes).
pub(crate) fn put_atom(out: &mut Vec<u8>, name: &str) {
    let b = name.as_bytes();
    if b.len() < 256 {
        out.extend_from_slice(&[SMALL_ATOM_UTF8, b.len() as u8]);
    } else {
        out.push(ATOM_UTF8);
        out.extend_from_slice(&(b.len() as u16).to_be_bytes());
    }
    out.extend_from_slice(b);
}

pub(crate) fn put_binary(out: &mut Vec<u8>, bytes: &[u8]) {
    out.reserve(5 + bytes.len());
    out.push(BINARY);
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// An integer as `term_to_binary` writes it: SMALL_INTEGER, INTEGER, else SMALL_BIG.
#[inline]
pub(crate) fn put_int(out: &mut Vec<u8>, v: i64) {
    if (0..256).contains(&v) {
        out.extend_from_slice(&[SMALL_INTEGER, v as u8]);
    } else if let Ok(v) = i32::try_from(v) {
        out.push(INTEGER);
        out.extend_from_slice(&v.to_be_bytes());
    } else {
        let mag = v.unsigned_abs().to_le_bytes();
        let n = 8 - (v.unsigned_abs().leading_zeros() / 8) as usize;
        out.extend_from_slice(&[SMALL_BIG, n as u8, (v < 0) as u8]);
        out.extend_from_slice(&mag[..n]);
    }
}

#[inline]
pub(crate) fn put_float(out: &mut Vec<u8>, v: f64) {
    if v.is_finite() {
        out.push(NEW_FLOAT);
        out.extend_from_slice(&v.to_bits().to_be_bytes());
    } else if v.is_nan() {
        put_atom(out, "nan");
    } else if v > 0.0 {
        put_atom(out, "inf");
    } else {
        put_atom(out, "-inf");
    }
}
