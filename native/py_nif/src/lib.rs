//! The NIF behind the `py` application: CPython embedded in the BEAM.
//!
//! Python never runs on a normal scheduler: it runs on context threads owned by this
//! library (`context`), on dirty schedulers when asked (`context::call_dirty`), and on
//! the housekeeping thread. Conversion lives in `to_python` and `to_erlang`, errors in
//! `error`. The Erlang-facing contract is docs/internals.md.
mod atoms;
mod context;
mod error;
mod exception;
mod gil;
mod handle;
mod housekeeping;
mod interp;
mod interrupt;
mod job;
mod logging;
mod pymod;
mod stack;
mod terms;
mod to_erlang;
mod to_python;
mod util;

use context::{CtxRes, JobRes, Place, Pool};
use error::Error;
use handle::{Marker, MarkerKind};
use rustler::{Atom, Encoder, Env, LocalPid, ResourceArc, Term};
use std::sync::atomic::Ordering;

/// Above this many terms, copying a job's arguments could hold a normal scheduler for
/// about a millisecond: `submit/4` answers `too_large` and the caller uses `submit_large/4`.
const SUBMIT_BUDGET: isize = 20_000;

fn load<'a>(env: Env<'a>, info: Term<'a>) -> bool {
    logging::install();
    let info: interp::LoadInfo = match rustler::serde::from_term(normalize_load_info(env, info)) {
        Ok(i) => i,
        Err(e) => {
            // Nothing can reach the logger while the NIF fails to load: say it here.
            eprintln!("py_nif: bad load info {info:?}: {e:?}");
            return false;
        }
    };
    // `_erlang` must be registered before the interpreter starts.
    if unsafe { pyo3::ffi::Py_IsInitialized() } == 0 {
        pyo3::append_to_inittab!(_erlang_module);
    }
    interp::start(info);
    true
}

use pymod::_erlang as _erlang_module;

/// The load info as rustler's serde wants it: Erlang says `undefined` for "not set"
/// where serde's options want a missing key, and serde reads a Rust struct only from a
/// map tagged like an Elixir struct.
fn normalize_load_info<'a>(env: Env<'a>, info: Term<'a>) -> Term<'a> {
    let Some(iter) = rustler::types::map::MapIterator::new(info) else {
        return info;
    };
    let mut pairs: Vec<(Term<'a>, Term<'a>)> = iter
        .filter(|(_, v)| *v != atoms::undefined().encode(env))
        .collect();
    pairs.push((
        rustler::serde::atoms::__struct__().encode(env),
        rustler::serde::atoms::str_to_term(env, "LoadInfo"),
    ));
    Term::map_from_pairs(env, &pairs).unwrap_or(info)
}

fn result<'a>(env: Env<'a>, r: Result<Term<'a>, Error>) -> Term<'a> {
    r.unwrap_or_else(|e| e.encode_tagged(env))
}

#[rustler::nif]
fn versions(env: Env<'_>) -> Term<'_> {
    let bin = |v: &str| util::binary(env, v.as_bytes());
    match interp::runtime() {
        Ok(rt) => Term::map_from_pairs(
            env,
            &[
                (atoms::nif().encode(env), bin(env!("CARGO_PKG_VERSION"))),
                (atoms::python().encode(env), bin(&rt.version)),
                (atoms::executable().encode(env), bin(&rt.executable)),
            ],
        )
        .unwrap_or_else(|_| atoms::error().encode(env)),
        Err(e) => e.encode_tagged(env),
    }
}

#[rustler::nif]
fn set_server(pid: LocalPid) -> Atom {
    logging::set_server(pid);
    context::server_output_reset(pid);
    atoms::ok()
}

/// Output chunks as `[{stdout | stderr, binary()}]`.
fn chunks<'a>(env: Env<'a>, chunks: Vec<py_core::output::Chunk>) -> Term<'a> {
    let list: Vec<Term<'a>> = chunks
        .iter()
        .map(|c| {
            let stream = if c.stderr {
                atoms::stderr()
            } else {
                atoms::stdout()
            };
            (stream, util::binary(env, &c.data)).encode(env)
        })
        .collect();
    list.encode(env)
}

/// The caller wrote one output message of this job: what the job wrote meanwhile.
#[rustler::nif]
fn output_ack(env: Env<'_>, job: ResourceArc<JobRes>) -> Term<'_> {
    chunks(env, job.0.output.ack())
}

/// The py server wrote one output message: what was written meanwhile.
#[rustler::nif]
fn server_output_ack(env: Env<'_>) -> Term<'_> {
    chunks(env, context::server_output_ack())
}

#[rustler::nif]
fn handle_count() -> i64 {
    handle::LIVE.load(Ordering::Relaxed)
}

#[rustler::nif]
fn context_new(env: Env<'_>, owner: LocalPid) -> Term<'_> {
    result(env, context::context_new(env, owner).map(|c| c.encode(env)))
}

#[rustler::nif]
fn context_stop(ctx: ResourceArc<CtxRes>) -> Atom {
    ctx.inner.shut_down(error::DownReason::Stopped);
    atoms::ok()
}

#[rustler::nif]
fn context_info(env: Env<'_>, ctx: ResourceArc<CtxRes>) -> Term<'_> {
    let c = &ctx.inner;
    Term::map_from_pairs(
        env,
        &[
            (atoms::id().encode(env), c.id.encode(env)),
            (atoms::alive().encode(env), c.alive().encode(env)),
            (
                atoms::busy().encode(env),
                (c.load() > 0 && c.alive()).encode(env),
            ),
            (
                atoms::queued().encode(env),
                c.load().saturating_sub(1).encode(env),
            ),
        ],
    )
    .unwrap_or_else(|_| atoms::error().encode(env))
}

#[rustler::nif]
fn pool_new(size: usize, strategy: Atom) -> Result<ResourceArc<Pool>, rustler::Error> {
    if size == 0 || !(strategy == atoms::round_robin() || strategy == atoms::least_busy()) {
        return Err(rustler::Error::BadArg);
    }
    Ok(ResourceArc::new(Pool::new(
        size,
        strategy == atoms::least_busy(),
    )))
}

#[rustler::nif]
fn pool_set(
    pool: ResourceArc<Pool>,
    index: usize,
    ctx: ResourceArc<CtxRes>,
) -> Result<Atom, rustler::Error> {
    if pool.set(index, ctx.inner.clone()) {
        Ok(atoms::ok())
    } else {
        Err(rustler::Error::BadArg)
    }
}

fn opt_ms(env: Env<'_>, ms: Option<u64>) -> Term<'_> {
    match ms {
        Some(ms) => ms.encode(env),
        None => atoms::undefined().encode(env),
    }
}

#[rustler::nif]
fn pool_info(env: Env<'_>, pool: ResourceArc<Pool>) -> Term<'_> {
    let map = |pairs: &[(Term<'_>, Term<'_>)]| {
        Term::map_from_pairs(env, pairs).unwrap_or_else(|_| atoms::error().encode(env))
    };
    // Contexts are reported by id: the pool holds contexts, not their Erlang resources.
    let ctxs: Vec<Term<'_>> = pool
        .contexts()
        .iter()
        .map(|c| match c {
            Some(c) if c.alive() => map(&[
                (atoms::id().encode(env), c.id.encode(env)),
                (atoms::busy().encode(env), (c.load() > 0).encode(env)),
                (
                    atoms::queued().encode(env),
                    c.load().saturating_sub(1).encode(env),
                ),
                (atoms::running_ms().encode(env), opt_ms(env, c.running_ms())),
            ]),
            _ => atoms::undefined().encode(env),
        })
        .collect();
    let stuck = gil::stuck_for().map(|d| d.as_millis() as u64);
    map(&[
        (atoms::size().encode(env), pool.size().encode(env)),
        (atoms::strategy().encode(env), pool.strategy().encode(env)),
        (atoms::restarts().encode(env), pool.restarts().encode(env)),
        (atoms::contexts().encode(env), ctxs.encode(env)),
        (
            atoms::gil().encode(env),
            map(&[(atoms::stuck_ms().encode(env), opt_ms(env, stuck))]),
        ),
    ])
}

fn place<'t>(t: &'t Term<'_>) -> Option<Place<'t>> {
    // Most calls go to a pool: look for that first.
    if let Some(p) = t.try_get_resource::<Pool>() {
        return Some(Place::Pool(p));
    }
    if let Some(c) = t.try_get_resource::<CtxRes>() {
        return Some(Place::Ctx(c));
    }
    t.try_get_resource::<JobRes>().map(Place::Nested)
}

fn want_handle(ret: Atom) -> Result<bool, rustler::Error> {
    if ret == atoms::handle() {
        Ok(true)
    } else if ret == atoms::term() {
        Ok(false)
    } else {
        Err(rustler::Error::BadArg)
    }
}

fn do_submit<'a>(
    env: Env<'a>,
    place_term: Term<'a>,
    reference: Term<'a>,
    job: Term<'a>,
    ret: Atom,
    check: bool,
    wait: bool,
) -> Result<Term<'a>, rustler::Error> {
    let want = want_handle(ret)?;
    let p = place(&place_term).ok_or(rustler::Error::BadArg)?;
    // A panic here is a bug of ours; the caller gets it as an error, never an exception.
    let submitted = context::caught(|| {
        if check && !context::small_enough(job, SUBMIT_BUDGET) {
            return Ok(atoms::too_large().encode(env));
        }
        // submit_large runs on a dirty scheduler: there the arguments are converted at once.
        let prepared = if check {
            None
        } else {
            context::prepare_args(env, job)?
        };
        context::submit(env, p, reference, job, want, prepared, wait)
    });
    Ok(result(env, submitted))
}

#[rustler::nif]
fn submit<'a>(
    env: Env<'a>,
    place: Term<'a>,
    reference: Term<'a>,
    job: Term<'a>,
    ret: Atom,
) -> Result<Term<'a>, rustler::Error> {
    do_submit(env, place, reference, job, ret, true, false)
}

/// `submit/4` for a caller that waits for the result at once: a short job on an idle
/// context is answered by returning its final message `{Ref, Result}`.
#[rustler::nif]
fn call<'a>(
    env: Env<'a>,
    place: Term<'a>,
    reference: Term<'a>,
    job: Term<'a>,
    ret: Atom,
) -> Result<Term<'a>, rustler::Error> {
    do_submit(env, place, reference, job, ret, true, true)
}

/// The same as `submit/4` for big arguments: the copy runs on a dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn submit_large<'a>(
    env: Env<'a>,
    place: Term<'a>,
    reference: Term<'a>,
    job: Term<'a>,
    ret: Atom,
) -> Result<Term<'a>, rustler::Error> {
    // Converting the arguments may recurse deeply: not on the scheduler's small stack.
    stack::on_big_stack(|| do_submit(env, place, reference, job, ret, false, false))
}

#[rustler::nif(schedule = "DirtyCpu")]
fn call_dirty<'a>(
    env: Env<'a>,
    job: Term<'a>,
    ret: Atom,
    timeout: Term<'a>,
) -> Result<Term<'a>, rustler::Error> {
    let want = want_handle(ret)?;
    let timeout_ms = match timeout.decode::<u64>() {
        Ok(ms) => Some(ms),
        Err(_) if timeout.decode::<Atom>().ok() == Some(atoms::infinity()) => None,
        Err(_) => return Err(rustler::Error::BadArg),
    };
    Ok(context::call_dirty(env, job, want, timeout_ms))
}

#[rustler::nif]
fn cancel(job: ResourceArc<JobRes>) -> Atom {
    match job.0.cancel(None) {
        context::State::Sending | context::State::Ready | context::State::Done => atoms::sent(),
        _ => atoms::ok(),
    }
}

#[rustler::nif]
fn elapsed(job: ResourceArc<JobRes>) -> u64 {
    job.0.elapsed_ms()
}

#[rustler::nif]
fn callback_reply(job: ResourceArc<JobRes>, reply: Term<'_>) -> Atom {
    context::callback_reply(reply, &job);
    atoms::ok()
}

fn marker<'a>(env: Env<'a>, kind: MarkerKind, bin: Term<'a>) -> Result<Term<'a>, rustler::Error> {
    if !bin.is_binary() {
        return Err(rustler::Error::BadArg);
    }
    let m = Marker::new(kind, bin).ok_or(rustler::Error::BadArg)?;
    Ok(ResourceArc::new(m).encode(env))
}

#[rustler::nif]
fn bytes<'a>(env: Env<'a>, bin: Term<'a>) -> Result<Term<'a>, rustler::Error> {
    marker(env, MarkerKind::Bytes, bin)
}

#[rustler::nif]
fn buffer<'a>(env: Env<'a>, bin: Term<'a>) -> Result<Term<'a>, rustler::Error> {
    marker(env, MarkerKind::Buffer, bin)
}

#[rustler::nif]
fn is_handle(t: Term<'_>) -> bool {
    t.try_get_resource::<handle::PyHandle>().is_some()
}

rustler::init!("py_nif", load = load);
