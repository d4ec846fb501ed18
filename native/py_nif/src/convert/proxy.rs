//! Proxy handles, and jobs written out for a worker (docs/worker-protocol.md).
//!
//! A proxy handle stands for an object that lives elsewhere (in a worker process): it
//! holds the local process that owns the object's table, the generation of the worker
//! that made it, and the object's number there. When the BEAM collects it, its owner is
//! told, so the worker drops the object.
//!
//! A job for a worker crosses as the external term format. `term_to_binary` would turn
//! a resource into a plain reference, so the resources a job holds are first written as
//! marker tuples `{M, Kind, Payload}`: proxies as `{M, handle, Id}`, `py:bytes/1` and
//! `py:buffer/1` as `{M, bytes, Bin}` and `{M, buffer, Bin}`.
use super::handle::{Marker, MarkerKind, PyHandle};
use crate::base::atoms;
use crate::base::env::binary;
use crate::runtime::outgoing::Outgoing;
use py_core::etf::{tag, Writer};
use rustler::types::map::MapIterator;
use rustler::types::tuple::get_tuple;
use rustler::{Encoder, Env, LocalPid, Resource, ResourceArc, Term, TermType};
use std::collections::HashMap;

pub struct Proxy {
    pub owner: LocalPid,
    pub generation: u64,
    pub id: u64,
}

#[rustler::resource_impl]
impl Resource for Proxy {}

impl Drop for Proxy {
    fn drop(&mut self) {
        // Runs in the garbage collector, on any thread: the message goes through
        // `Outgoing`, which knows whether this thread may send.
        let (generation, id) = (self.generation, self.id);
        if let Ok(msg) =
            Outgoing::build(|env| Ok::<_, ()>((atoms::py_release(), generation, id).encode(env)))
        {
            msg.send(self.owner);
        }
    }
}

/// A proxy handle for object `id` of the worker that `owner` holds in its generation
/// `generation`.
pub fn make<'a>(env: Env<'a>, owner: LocalPid, generation: u64, id: u64) -> Term<'a> {
    ResourceArc::new(Proxy {
        owner,
        generation,
        id,
    })
    .encode(env)
}

/// Why a job cannot go to a worker as it is.
pub enum Refused<'a> {
    /// A handle of a context in this VM (or a proxy of another worker than the job's
    /// other proxies): its object is not in the worker.
    WrongPlace(Term<'a>),
    /// More than the budget of a normal scheduler: write it on a dirty one.
    OverBudget,
}

/// What a job written for a worker needs besides its bytes: the worker its proxies
/// belong to, if it holds any.
pub struct Written<'a> {
    pub etf: Term<'a>,
    pub owner: Option<(LocalPid, u64)>,
}

/// `term` as the external term format, with its resources as markers (see the module
/// doc). Terms with no resource (the common case) go through `term_to_binary` itself.
/// With a `budget` (on a normal scheduler), a job bigger than that many terms is
/// `OverBudget`; a binary counts one term per 512 bytes, about what copying it costs.
pub fn write<'a>(
    env: Env<'a>,
    term: Term<'a>,
    marker: Term<'a>,
    budget: Option<isize>,
) -> Result<Written<'a>, Refused<'a>> {
    let mut owner = None;
    let found = has_resources(term, &mut owner, budget.unwrap_or(isize::MAX))?;
    if !found.resources && !found.big_binary {
        return Ok(Written {
            etf: binary_of(env, term),
            owner,
        });
    }
    let mut out = IoList {
        done: Vec::new(),
        w: Writer::term(),
        atoms: HashMap::new(),
    };
    write_term(env, term, marker, &mut out)?;
    Ok(Written {
        etf: out.finish(env),
        owner,
    })
}

/// A binary at least this big is not copied into the written job: the job becomes an
/// iolist that refers to it, which the port writes with `writev`. Copying 1 MiB into
/// a fresh binary cost about 2 ms here, mostly page faults of the new memory.
const BIG_BINARY: usize = 64 * 1024;

/// The written job: binaries already made, and the bytes after them.
struct IoList<'a> {
    done: Vec<Term<'a>>,
    w: Writer,
    /// Each atom's bytes, written once by `term_to_binary` (an atom is an immediate
    /// term: its raw value names it).
    atoms: HashMap<rustler::sys::ErlNifTerm, Vec<u8>>,
}

impl<'a> IoList<'a> {
    /// A big binary, by reference, after the bytes so far.
    fn binary_ref(&mut self, env: Env<'a>, bin: Term<'a>) {
        let pending = std::mem::take(&mut self.w.buf);
        self.done.push(binary(env, &pending));
        self.done.push(bin);
    }

    fn finish(mut self, env: Env<'a>) -> Term<'a> {
        let last = binary(env, &self.w.buf);
        self.done.push(last);
        self.done.encode(env)
    }
}

/// What the walk of a job found.
struct Found {
    /// Proxies or markers, written as marker tuples.
    resources: bool,
    /// A binary of at least `BIG_BINARY` bytes, written by reference.
    big_binary: bool,
}

fn binary_of<'a>(env: Env<'a>, term: Term<'a>) -> Term<'a> {
    term.to_binary().release(env).encode(env)
}

/// Pushes the children of a container onto `todo`, charging each to `budget`, and
/// stops once it is spent (for the iterative walk below: a scheduler's stack is
/// small, and the data may be of any depth).
fn children<'a>(t: Term<'a>, todo: &mut Vec<Term<'a>>, budget: &mut isize) {
    match t.get_type() {
        TermType::Tuple => {
            if let Ok(items) = get_tuple(t) {
                *budget -= items.len() as isize;
                todo.extend(items);
            }
        }
        TermType::List => {
            let mut cell = t;
            while let Ok((head, tail)) = cell.list_get_cell() {
                todo.push(head);
                cell = tail;
                *budget -= 1;
                if *budget < 0 {
                    return;
                }
            }
            if !cell.is_empty_list() {
                todo.push(cell);
            }
        }
        TermType::Map => {
            if let Some(iter) = MapIterator::new(t) {
                for (k, v) in iter {
                    todo.push(k);
                    todo.push(v);
                    *budget -= 2;
                    if *budget < 0 {
                        return;
                    }
                }
            }
        }
        _ => {}
    }
}

/// Whether `term` holds a resource: a proxy (whose owner is noted: all proxies of one
/// job must belong to one worker), a marker, or a local handle (refused).
fn has_resources<'a>(
    term: Term<'a>,
    owner: &mut Option<(LocalPid, u64)>,
    mut budget: isize,
) -> Result<Found, Refused<'a>> {
    let mut found = false;
    let mut big_binary = false;
    let mut todo = vec![term];
    while let Some(t) = todo.pop() {
        if budget < 0 {
            return Err(Refused::OverBudget);
        }
        match t.get_type() {
            TermType::Binary => {
                let len = rustler::Binary::from_term(t).map_or(0, |b| b.len());
                if len >= BIG_BINARY {
                    // Written by reference: no copy to pay for.
                    big_binary = true;
                } else {
                    budget -= (len / 512) as isize;
                }
            }
            TermType::Ref => {
                if let Ok(p) = t.decode::<ResourceArc<Proxy>>() {
                    let this = (p.owner, p.generation);
                    match owner {
                        Some(o) if *o != this => return Err(Refused::WrongPlace(t)),
                        _ => *owner = Some(this),
                    }
                    found = true;
                } else if t.decode::<ResourceArc<Marker>>().is_ok() {
                    found = true;
                } else if t.decode::<ResourceArc<PyHandle>>().is_ok() {
                    return Err(Refused::WrongPlace(t));
                }
            }
            TermType::Tuple | TermType::List | TermType::Map => children(t, &mut todo, &mut budget),
            _ => {}
        }
    }
    Ok(Found {
        resources: found,
        big_binary,
    })
}

/// Writes `term` in prefix order: each container's header, then its children. Leaves
/// are written by `term_to_binary` (this path only runs for jobs holding resources).
fn write_term<'a>(
    env: Env<'a>,
    term: Term<'a>,
    marker: Term<'a>,
    out: &mut IoList<'a>,
) -> Result<(), Refused<'a>> {
    let mut todo = vec![term];
    while let Some(t) = todo.pop() {
        match t.get_type() {
            TermType::Tuple => {
                let items = get_tuple(t).map_err(|_| Refused::WrongPlace(t))?;
                if items.iter().all(|&i| plain_leaf(i)) {
                    out.whole(t);
                    continue;
                }
                out.w.tuple(items.len());
                todo.extend(items.into_iter().rev());
            }
            TermType::List if !t.is_empty_list() => {
                let mut items = Vec::new();
                let mut cell = t;
                while let Ok((head, tail)) = cell.list_get_cell() {
                    items.push(head);
                    cell = tail;
                }
                if cell.is_empty_list() && items.iter().all(|&i| plain_leaf(i)) {
                    out.whole(t);
                    continue;
                }
                out.w.list(items.len());
                // The tail last: `[]` for a proper list.
                todo.push(cell);
                todo.extend(items.into_iter().rev());
            }
            TermType::Map => {
                let mut pairs = Vec::new();
                if let Some(iter) = MapIterator::new(t) {
                    pairs.extend(iter);
                }
                out.w.map(pairs.len());
                for (k, v) in pairs.into_iter().rev() {
                    todo.push(v);
                    todo.push(k);
                }
            }
            TermType::Ref => {
                if let Ok(p) = t.decode::<ResourceArc<Proxy>>() {
                    let m = (marker, atoms::handle(), p.id).encode(env);
                    out.leaf(m);
                } else if let Ok(m) = t.decode::<ResourceArc<Marker>>() {
                    let kind = match m.kind {
                        MarkerKind::Bytes => atoms::bytes(),
                        MarkerKind::Buffer => atoms::buffer(),
                    };
                    // `{M, Kind, Bin}`, the binary itself written like any other.
                    out.w.tuple(3);
                    out.leaf(marker);
                    out.leaf(kind.encode(env));
                    todo.push(m.binary(env));
                } else {
                    out.leaf(t);
                }
            }
            TermType::Binary => match rustler::Binary::from_term(t) {
                Ok(b) if b.len() >= BIG_BINARY => {
                    // The header here, the bytes by reference.
                    out.w.raw(&[tag::BINARY]);
                    out.w.raw(&(b.len() as u32).to_be_bytes());
                    out.binary_ref(env, t);
                }
                _ => out.leaf(t),
            },
            _ => out.leaf(t),
        }
    }
    Ok(())
}

impl IoList<'_> {
    /// A term with no resource inside, appended without its version byte, as
    /// `term_to_binary` writes it. Integers, floats, binaries, atoms and `[]` are
    /// written here: `term_to_binary` per term allocates a binary each time, which made
    /// a job of 2 million integers beside a big binary take 320 ms to write (20 ms now).
    fn leaf(&mut self, t: Term<'_>) {
        match t.get_type() {
            TermType::Integer => {
                if let Ok(i) = t.decode::<i64>() {
                    self.w.int(i);
                    return;
                }
            }
            TermType::Float => {
                // Always finite in Erlang: NEW_FLOAT_EXT, as term_to_binary writes it.
                if let Ok(f) = t.decode::<f64>() {
                    self.w.float(f);
                    return;
                }
            }
            TermType::Binary => {
                // Not for a bitstring (no `Binary`), nor past BINARY_EXT's 32-bit
                // length: `term_to_binary` writes (or refuses) those.
                if let Ok(b) = rustler::Binary::from_term(t) {
                    if u32::try_from(b.len()).is_ok() {
                        self.w.binary(b.as_slice());
                        return;
                    }
                }
            }
            TermType::Atom => {
                let bytes = self
                    .atoms
                    .entry(t.as_c_arg())
                    .or_insert_with(|| t.to_binary().as_slice()[1..].to_vec());
                self.w.raw(bytes);
                return;
            }
            TermType::List if t.is_empty_list() => {
                self.w.nil();
                return;
            }
            _ => {}
        }
        self.whole(t);
    }

    /// A term with no resource inside, written by `term_to_binary` whole: one call for
    /// a list or tuple of plain leaves (`plain_leaf`) instead of one per element.
    fn whole(&mut self, t: Term<'_>) {
        let bin = t.to_binary();
        self.w.raw(&bin.as_slice()[1..]);
    }
}

/// A term that holds no resource and is no big binary, without looking inside
/// anything: `term_to_binary` writes it as the walk would.
fn plain_leaf(t: Term<'_>) -> bool {
    match t.get_type() {
        TermType::Integer | TermType::Float | TermType::Atom | TermType::Pid | TermType::Port => {
            true
        }
        TermType::Binary => rustler::Binary::from_term(t).is_ok_and(|b| b.len() < BIG_BINARY),
        TermType::List => t.is_empty_list(),
        _ => false,
    }
}

/// The proxy a term is, if it is one: `(owner, generation, id)`.
pub fn info(t: Term<'_>) -> Option<(LocalPid, u64, u64)> {
    t.decode::<ResourceArc<Proxy>>()
        .ok()
        .map(|p| (p.owner, p.generation, p.id))
}
