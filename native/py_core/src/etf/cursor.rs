//! [`Cur`], the bounds-checked cursor every reader of ETF here uses (no read past the
//! end, no panic: malformed input is `EtfError::Malformed`): fixed-size fields, atoms,
//! integers, the bodies of pids, ports, references and funs, and the skipper that finds
//! where a term ends without making anything (iterative: any depth).
use super::error::EtfError;
use super::tag::*;
use std::borrow::Cow;

type R<T> = Result<T, EtfError>;

fn truncated() -> EtfError {
    EtfError::malformed("truncated term")
}

/// A position in ETF bytes.
#[derive(Clone, Copy)]
pub(crate) struct Cur<'a> {
    pub buf: &'a [u8],
    pub pos: usize,
}

impl<'a> Cur<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Cur { buf, pos: 0 }
    }

    pub fn left(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub fn peek(&self) -> R<u8> {
        self.buf.get(self.pos).copied().ok_or_else(truncated)
    }

    pub fn u8(&mut self) -> R<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Ok(b)
    }

    pub fn take(&mut self, n: usize) -> R<&'a [u8]> {
        let end = self.pos.checked_add(n).ok_or_else(truncated)?;
        let s = self.buf.get(self.pos..end).ok_or_else(truncated)?;
        self.pos = end;
        Ok(s)
    }

    pub fn array<const N: usize>(&mut self) -> R<[u8; N]> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    pub fn u16(&mut self) -> R<u16> {
        Ok(u16::from_be_bytes(self.array()?))
    }

    pub fn u32(&mut self) -> R<u32> {
        Ok(u32::from_be_bytes(self.array()?))
    }

    /// The bytes from `start` to here.
    pub fn since(&self, start: usize) -> &'a [u8] {
        self.buf.get(start..self.pos).unwrap_or(&[])
    }

    /// The name of an atom (its tag already read). Latin-1 names are made UTF-8.
    pub fn atom_body(&mut self, tag: u8) -> R<Cow<'a, str>> {
        let (len, utf8) = match tag {
            ATOM => (self.u16()? as usize, false),
            SMALL_ATOM => (self.u8()? as usize, false),
            ATOM_UTF8 => (self.u16()? as usize, true),
            SMALL_ATOM_UTF8 => (self.u8()? as usize, true),
            ATOM_CACHE_REF => {
                return Err(EtfError::malformed(
                    "atom cache reference (term_to_binary never writes one)",
                ))
            }
            t => {
                return Err(EtfError::malformed(format!(
                    "expected an atom, got tag {t}"
                )))
            }
        };
        let bytes = self.take(len)?;
        if utf8 || bytes.is_ascii() {
            std::str::from_utf8(bytes)
                .map(Cow::Borrowed)
                .map_err(|_| EtfError::malformed("atom name is not UTF-8"))
        } else {
            Ok(Cow::Owned(bytes.iter().map(|&b| b as char).collect()))
        }
    }

    pub fn atom(&mut self) -> R<Cow<'a, str>> {
        let t = self.u8()?;
        self.atom_body(t)
    }

    /// Skips an atom (the node of a pid, say) without making its name.
    fn skip_atom(&mut self) -> R<()> {
        let t = self.u8()?;
        self.atom_body(t).map(|_| ())
    }

    /// Skips the body of a pid, port, reference or fun, whose tag was read.
    pub fn opaque_body(&mut self, tag: u8) -> R<()> {
        match tag {
            PID => {
                self.skip_atom()?;
                self.take(9)?;
            }
            NEW_PID => {
                self.skip_atom()?;
                self.take(12)?;
            }
            PORT => {
                self.skip_atom()?;
                self.take(5)?;
            }
            NEW_PORT => {
                self.skip_atom()?;
                self.take(8)?;
            }
            V4_PORT => {
                self.skip_atom()?;
                self.take(12)?;
            }
            REFERENCE => {
                self.skip_atom()?;
                self.take(5)?;
            }
            NEW_REFERENCE | NEWER_REFERENCE => {
                let n = self.u16()? as usize;
                self.skip_atom()?;
                self.take(if tag == NEW_REFERENCE { 1 } else { 4 })?;
                self.take(4 * n)?;
            }
            NEW_FUN => {
                // Size counts itself: the whole fun is Size bytes after the tag.
                let size = self.u32()? as usize;
                if size < 4 {
                    return Err(EtfError::malformed("fun size"));
                }
                self.take(size - 4)?;
            }
            EXPORT => {
                self.skip_atom()?;
                self.skip_atom()?;
                if self.u8()? != SMALL_INTEGER {
                    return Err(EtfError::malformed("export arity"));
                }
                self.u8()?;
            }
            t => return Err(EtfError::malformed(format!("tag {t} is not opaque"))),
        }
        Ok(())
    }

    /// Skips one whole term, iteratively (any depth), and gives its bytes.
    pub fn skip(&mut self) -> R<&'a [u8]> {
        let start = self.pos;
        let mut pending: usize = 1;
        while pending > 0 {
            pending -= 1;
            let t = self.u8()?;
            let more = match t {
                SMALL_INTEGER => self.take(1).map(|_| 0)?,
                INTEGER => self.take(4).map(|_| 0)?,
                FLOAT => self.take(31).map(|_| 0)?,
                NEW_FLOAT => self.take(8).map(|_| 0)?,
                SMALL_BIG => {
                    let n = self.u8()? as usize;
                    self.take(n + 1).map(|_| 0)?
                }
                LARGE_BIG => {
                    let n = self.u32()? as usize;
                    self.take(n.saturating_add(1)).map(|_| 0)?
                }
                ATOM | SMALL_ATOM | ATOM_UTF8 | SMALL_ATOM_UTF8 | ATOM_CACHE_REF => {
                    self.atom_body(t).map(|_| 0)?
                }
                NIL => 0,
                STRING => {
                    let n = self.u16()? as usize;
                    self.take(n).map(|_| 0)?
                }
                BINARY => {
                    let n = self.u32()? as usize;
                    self.take(n).map(|_| 0)?
                }
                BIT_BINARY => {
                    let n = self.u32()? as usize;
                    self.take(n.saturating_add(1)).map(|_| 0)?
                }
                SMALL_TUPLE => self.u8()? as usize,
                LARGE_TUPLE => self.u32()? as usize,
                LIST => (self.u32()? as usize).saturating_add(1),
                MAP => (self.u32()? as usize).saturating_mul(2),
                PID | NEW_PID | PORT | NEW_PORT | V4_PORT | REFERENCE | NEW_REFERENCE
                | NEWER_REFERENCE | NEW_FUN | EXPORT => self.opaque_body(t).map(|_| 0)?,
                t => return Err(unknown_tag(t)),
            };
            // Every term takes a byte at least: a count beyond the input is a lie.
            pending = pending.saturating_add(more);
            if pending > self.left() {
                return Err(truncated());
            }
        }
        Ok(self.since(start))
    }
}

pub(crate) fn unknown_tag(t: u8) -> EtfError {
    match t {
        80 => EtfError::malformed("compressed term (term_to_binary/2 with compressed)"),
        _ => EtfError::malformed(format!("unknown tag {t}")),
    }
}

/// An integer as read: small (fits in i64) or a bignum's sign and magnitude.
pub(crate) enum Int<'a> {
    Small(i64),
    Big(bool, &'a [u8]),
}

pub(crate) fn read_int<'a>(c: &mut Cur<'a>) -> R<Int<'a>> {
    match c.u8()? {
        SMALL_INTEGER => Ok(Int::Small(c.u8()? as i64)),
        INTEGER => Ok(Int::Small(i32::from_be_bytes(c.array()?) as i64)),
        SMALL_BIG => {
            let n = c.u8()? as usize;
            let sign = c.u8()?;
            Ok(Int::Big(sign != 0, c.take(n)?))
        }
        LARGE_BIG => {
            let n = c.u32()? as usize;
            let sign = c.u8()?;
            Ok(Int::Big(sign != 0, c.take(n)?))
        }
        t => Err(EtfError::malformed(format!(
            "expected an integer, got tag {t}"
        ))),
    }
}

/// A little-endian magnitude as a u64, if it fits.
pub(crate) fn u64_of(mag: &[u8]) -> Option<u64> {
    let mut v: u64 = 0;
    for (i, &b) in mag.iter().enumerate() {
        if b == 0 {
            continue;
        }
        if i >= 8 {
            return None;
        }
        v |= (b as u64) << (8 * i);
    }
    Some(v)
}
