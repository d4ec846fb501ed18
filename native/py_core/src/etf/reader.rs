//! [`Reader`]: walking ETF by hand, for the worker's job decoder.
use super::cursor::{read_int, u64_of, Cur, Int};
use super::error::EtfError;
use super::tag::*;
use super::{Codec, Handles};
use pyo3::prelude::*;
use std::borrow::Cow;

type R<T> = Result<T, EtfError>;

/// The raw ETF of every small integer: a charlist's elements, as terms of their own.
static SMALL_INTS: [[u8; 2]; 256] = {
    let mut a = [[SMALL_INTEGER, 0]; 256];
    let mut i = 0;
    while i < 256 {
        a[i][1] = i as u8;
        i += 1;
    }
    a
};

/// A charlist (`STRING_EXT`) being read element by element after `list_header`.
#[derive(Clone, Copy)]
struct Chars {
    /// Where the next character is.
    next: usize,
    left: usize,
    /// The list's `[]` tail is still to be read (a charlist has none in the bytes).
    tail: bool,
}

/// Walking ETF by hand, for the worker's job decoder. Every method reads one term (or
/// a header) at the current position and moves past it; a term of another kind than
/// asked is `Malformed` and the position does not move.
///
/// Lists: `list_header` gives `(len, proper)`; then come `len` elements and, when `len`
/// is not 0, the tail (`nil()` reads it if the list is proper; `skip()` reads any tail).
/// A charlist (`STRING_EXT`, what `term_to_binary` makes of a list of bytes, `[1, 2]`)
/// reads the same way: its elements as small integers, then a `[]` tail.
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    cur: Cur<'a>,
    chars: Option<Chars>,
}

impl<'a> Reader<'a> {
    /// A reader of a whole ETF binary: checks the 131 version byte.
    pub fn new(etf: &'a [u8]) -> Result<Self, EtfError> {
        match etf.split_first() {
            Some((&VERSION, _)) => {
                let mut cur = Cur::new(etf);
                cur.pos = 1;
                Ok(Reader { cur, chars: None })
            }
            Some((v, _)) => Err(EtfError::malformed(format!("version byte {v}, not 131"))),
            None => Err(EtfError::malformed("empty")),
        }
    }

    /// A reader of raw term bytes (no version byte), such as [`Reader::skip`] gives.
    pub fn raw(bytes: &'a [u8]) -> Self {
        Reader {
            cur: Cur::new(bytes),
            chars: None,
        }
    }

    /// The bytes not read yet.
    pub fn rest(&self) -> &'a [u8] {
        self.cur.buf.get(self.cur.pos..).unwrap_or(&[])
    }

    /// Where the reader is in the bytes it was given.
    pub fn position(&self) -> usize {
        self.cur.pos
    }

    /// In a charlist: its next element (a small integer) or its `[]` tail.
    fn in_chars(&self) -> Option<Chars> {
        self.chars.filter(|c| c.left > 0 || c.tail)
    }

    /// Takes the charlist's next element, if a charlist is being read and has one.
    fn char(&mut self) -> Option<u8> {
        let c = self.in_chars()?;
        if c.left == 0 {
            return None;
        }
        let b = self.cur.buf.get(c.next).copied()?;
        self.chars = Some(Chars {
            next: c.next + 1,
            left: c.left - 1,
            tail: c.tail,
        });
        Some(b)
    }

    /// Takes the charlist's `[]` tail, if that is what comes next.
    fn chars_tail(&mut self) -> bool {
        match self.in_chars() {
            Some(c) if c.left == 0 => {
                self.chars = None;
                true
            }
            _ => false,
        }
    }

    /// The tag of the next term, without moving.
    pub fn peek_tag(&self) -> Result<u8, EtfError> {
        match self.in_chars() {
            Some(c) if c.left > 0 => Ok(SMALL_INTEGER),
            Some(_) => Ok(NIL),
            None => self.cur.peek(),
        }
    }

    /// Whether the next term is `[]`.
    pub fn is_nil(&self) -> bool {
        matches!(self.peek_tag(), Ok(NIL))
    }

    /// Reads `[]`.
    pub fn nil(&mut self) -> Result<(), EtfError> {
        if self.chars_tail() {
            return Ok(());
        }
        self.expect(|c| match c.u8()? {
            NIL => Ok(()),
            t => Err(EtfError::malformed(format!("expected [], got tag {t}"))),
        })
    }

    /// Runs `f` on a copy of the cursor and moves only if it succeeds.
    fn expect<T>(&mut self, f: impl FnOnce(&mut Cur<'a>) -> R<T>) -> R<T> {
        if self.in_chars().is_some() {
            return Err(EtfError::malformed("expected another term in a charlist"));
        }
        let mut c = self.cur;
        let v = f(&mut c)?;
        self.cur = c;
        Ok(v)
    }

    /// Reads a tuple header: its arity; its elements follow.
    pub fn tuple_arity(&mut self) -> Result<usize, EtfError> {
        self.expect(|c| match c.u8()? {
            SMALL_TUPLE => Ok(c.u8()? as usize),
            LARGE_TUPLE => Ok(c.u32()? as usize),
            t => Err(EtfError::malformed(format!(
                "expected a tuple, got tag {t}"
            ))),
        })
    }

    /// Reads a map header: its number of pairs; key, value, key, value... follow.
    pub fn map_header(&mut self) -> Result<usize, EtfError> {
        self.expect(|c| match c.u8()? {
            MAP => Ok(c.u32()? as usize),
            t => Err(EtfError::malformed(format!("expected a map, got tag {t}"))),
        })
    }

    /// Reads a list header: `(len, proper)` (see the type's doc for what follows).
    /// Whether the list is proper is found by skipping to its tail (no Python).
    pub fn list_header(&mut self) -> Result<(usize, bool), EtfError> {
        let mut chars = None;
        let r = self.expect(|c| match c.u8()? {
            NIL => Ok((0, true)),
            STRING => {
                let n = c.u16()? as usize;
                let start = c.pos;
                c.take(n)?;
                chars = Some(Chars {
                    next: start,
                    left: n,
                    tail: n > 0,
                });
                Ok((n, true))
            }
            LIST => {
                let n = c.u32()? as usize;
                let mut ahead = *c;
                for _ in 0..n {
                    ahead.skip()?;
                }
                Ok((n, ahead.peek()? == NIL))
            }
            t => Err(EtfError::malformed(format!("expected a list, got tag {t}"))),
        })?;
        if chars.is_some() {
            self.chars = chars;
        }
        Ok(r)
    }

    /// Reads an atom's name.
    pub fn atom(&mut self) -> Result<Cow<'a, str>, EtfError> {
        self.expect(|c| c.atom())
    }

    /// Reads an integer that fits in an `i64`.
    pub fn integer(&mut self) -> Result<i64, EtfError> {
        if let Some(b) = self.char() {
            return Ok(b as i64);
        }
        self.expect(|c| match read_int(c)? {
            Int::Small(v) => Ok(v),
            Int::Big(false, m) => u64_of(m)
                .and_then(|v| i64::try_from(v).ok())
                .ok_or_else(|| EtfError::malformed("integer beyond 64 bits")),
            Int::Big(true, m) => u64_of(m)
                .and_then(|v| 0i64.checked_sub_unsigned(v))
                .ok_or_else(|| EtfError::malformed("integer beyond 64 bits")),
        })
    }

    /// Reads a non-negative integer that fits in a `u64` (job and handle numbers).
    pub fn unsigned(&mut self) -> Result<u64, EtfError> {
        if let Some(b) = self.char() {
            return Ok(b as u64);
        }
        self.expect(|c| match read_int(c)? {
            Int::Small(v) if v >= 0 => Ok(v as u64),
            Int::Big(false, m) => {
                u64_of(m).ok_or_else(|| EtfError::malformed("integer beyond 64 bits"))
            }
            _ => Err(EtfError::malformed("expected a non-negative integer")),
        })
    }

    /// Reads a binary's bytes (a bitstring only if it is whole bytes).
    pub fn binary(&mut self) -> Result<&'a [u8], EtfError> {
        self.expect(|c| match c.u8()? {
            BINARY => {
                let n = c.u32()? as usize;
                c.take(n)
            }
            BIT_BINARY => {
                let n = c.u32()? as usize;
                let bits = c.u8()?;
                let data = c.take(n)?;
                if bits == 8 || (n == 0 && bits == 0) {
                    Ok(data)
                } else {
                    Err(EtfError::malformed("bitstring is not whole bytes"))
                }
            }
            t => Err(EtfError::malformed(format!(
                "expected a binary, got tag {t}"
            ))),
        })
    }

    /// Skips the next term and gives its raw bytes (no 131).
    pub fn skip(&mut self) -> Result<&'a [u8], EtfError> {
        if let Some(b) = self.char() {
            return Ok(&SMALL_INTS[b as usize]);
        }
        if self.chars_tail() {
            return Ok(&[NIL]);
        }
        self.expect(|c| c.skip())
    }

    /// Decodes the next term to Python, as [`Codec::decode`] does a whole binary.
    pub fn python<'py>(
        &mut self,
        codec: &Codec<'_>,
        py: Python<'py>,
        handles: &dyn Handles,
    ) -> Result<Bound<'py, PyAny>, EtfError> {
        if let Some(b) = self.char() {
            return Ok(pyo3::types::PyInt::new(py, b).into_any());
        }
        if self.chars_tail() {
            return Ok(pyo3::types::PyList::empty(py).into_any());
        }
        self.expect(|c| super::decode::decode(codec, py, c, handles))
    }

    /// `python`, taking the terms it reads from `budget`.
    pub(crate) fn python_counted<'py>(
        &mut self,
        codec: &Codec<'_>,
        py: Python<'py>,
        handles: &dyn Handles,
        budget: &mut usize,
    ) -> Result<Bound<'py, PyAny>, EtfError> {
        if let Some(b) = self.char() {
            return Ok(pyo3::types::PyInt::new(py, b).into_any());
        }
        if self.chars_tail() {
            return Ok(pyo3::types::PyList::empty(py).into_any());
        }
        self.expect(|c| super::decode::decode_counted(codec, py, c, handles, budget))
    }
}
