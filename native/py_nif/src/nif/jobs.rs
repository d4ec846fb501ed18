//! Jobs: submit (to a context, a pool, or nested in a callback), the dirty path,
//! cancel, and the replies a caller gives (callbacks).
use super::result;
use crate::base::atoms;
use crate::base::error::caught;
use crate::base::job::Return;
use crate::exec::job::{JobRes, State};
use crate::exec::submit::{self, From, Place};
use crate::exec::{callback, context::CtxRes, dirty, pool::Pool};
use crate::runtime::stack;
use rustler::{Atom, Env, ResourceArc, Term};

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

fn ret(t: Term<'_>) -> Result<Return, rustler::Error> {
    Return::decode(t).ok_or(rustler::Error::BadArg)
}

fn do_submit<'a>(
    env: Env<'a>,
    place_term: Term<'a>,
    reference: Term<'a>,
    job: Term<'a>,
    ret_term: Term<'a>,
    from: From,
    wait: bool,
) -> Result<Term<'a>, rustler::Error> {
    let ret = ret(ret_term)?;
    let p = place(&place_term).ok_or(rustler::Error::BadArg)?;
    // A panic here is a bug of ours; the caller gets it as an error, never an exception.
    let submitted = caught(|| submit::submit(env, p, reference, job, ret, from, wait));
    Ok(result(env, submitted))
}

#[rustler::nif]
fn submit<'a>(
    env: Env<'a>,
    place: Term<'a>,
    reference: Term<'a>,
    job: Term<'a>,
    ret: Term<'a>,
) -> Result<Term<'a>, rustler::Error> {
    do_submit(env, place, reference, job, ret, From::Scheduler, false)
}

/// `submit/4` for a caller that waits for the result at once: a short job on an idle
/// context is answered by returning its final message `{Ref, Result}`.
#[rustler::nif]
fn call<'a>(
    env: Env<'a>,
    place: Term<'a>,
    reference: Term<'a>,
    job: Term<'a>,
    ret: Term<'a>,
) -> Result<Term<'a>, rustler::Error> {
    do_submit(env, place, reference, job, ret, From::Scheduler, true)
}

/// The same as `submit/4` for big arguments: the copy runs on a dirty CPU scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn submit_large<'a>(
    env: Env<'a>,
    place: Term<'a>,
    reference: Term<'a>,
    job: Term<'a>,
    ret: Term<'a>,
) -> Result<Term<'a>, rustler::Error> {
    // Converting the arguments may recurse deeply: not on the scheduler's small stack.
    stack::on_big_stack(|| do_submit(env, place, reference, job, ret, From::Dirty, false))
}

#[rustler::nif(schedule = "DirtyCpu")]
fn call_dirty<'a>(
    env: Env<'a>,
    job: Term<'a>,
    ret_term: Term<'a>,
    timeout: Term<'a>,
) -> Result<Term<'a>, rustler::Error> {
    let ret = ret(ret_term)?;
    let timeout_ms = match timeout.decode::<u64>() {
        Ok(ms) => Some(ms),
        Err(_) if timeout.decode::<Atom>().ok() == Some(atoms::infinity()) => None,
        Err(_) => return Err(rustler::Error::BadArg),
    };
    Ok(dirty::call_dirty(env, job, ret, timeout_ms))
}

#[rustler::nif]
fn cancel(job: ResourceArc<JobRes>) -> Atom {
    match job.0.cancel(None) {
        State::Sending | State::Ready | State::Done => atoms::sent(),
        _ => atoms::ok(),
    }
}

#[rustler::nif]
fn elapsed(job: ResourceArc<JobRes>) -> u64 {
    job.0.elapsed_ms()
}

#[rustler::nif]
fn callback_reply(job: ResourceArc<JobRes>, reply: Term<'_>) -> Atom {
    callback::callback_reply(reply, &job);
    atoms::ok()
}
