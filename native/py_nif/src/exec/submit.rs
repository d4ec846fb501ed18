//! Submission: a job copied into an environment of its own and handed to a context
//! (the one that owns its handle, else the pool's pick), and the caller's short wait
//! in the NIF for the reply of a job on an idle context.
use super::context::{ContextInner, CtxRes};
use super::dirty::pin_dirty_thread;
use super::job::{CbMsg, JobRes, JobShared, Payload, State};
use super::pool::Pool;
use crate::base::atoms;
use crate::base::env::{copy, lock, PooledEnv};
use crate::base::error::{DownReason, Error};
use crate::base::job::{Job, Return};
use crate::base::tuning::{CLOCK_EVERY, SUBMIT_BUDGET, WAIT};
use crate::convert::{handle, to_python};
use crate::runtime::outgoing::Outgoing;
use crate::runtime::{gil, interp};
use py_core::jobstate::Poll;
use pyo3::prelude::*;
use rustler::types::tuple::{get_tuple, make_tuple};
use rustler::{Encoder, Env, ResourceArc, Term};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Instant;

pub enum Place<'a> {
    Ctx(&'a CtxRes),
    Pool(&'a Pool),
    /// The job whose callback the caller is running: a call made meanwhile runs nested.
    Nested(&'a JobRes),
}

/// Where the submitting NIF runs.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum From {
    /// A normal scheduler: a big job answers `too_large` (copying it could hold the
    /// scheduler for a millisecond) and comes back through `submit_large/4`.
    Scheduler,
    /// A dirty scheduler (`submit_large/4`): big arguments are converted right here.
    Dirty,
}

/// Submits `term` to `place`. With `wait`, a job that an idle context finishes within
/// `WAIT` is answered here: the final message `{Ref, Result}` is returned instead of
/// sent (see `wait_for`).
pub fn submit<'a>(
    env: Env<'a>,
    place: Place<'_>,
    reference: Term<'a>,
    term: Term<'a>,
    ret: Return,
    from: From,
    wait: bool,
) -> Result<Term<'a>, Error> {
    interp::runtime()?;
    let job = Job::decode(term).ok_or(Error::BadJob(term.as_c_arg()))?;
    let budget = (from == From::Scheduler).then_some(SUBMIT_BUDGET);
    let Some(owner) = scan(&job, term, budget) else {
        return Ok(atoms::too_large().encode(env));
    };
    let prepared = match from {
        From::Dirty => prepare_args(env, &job)?,
        From::Scheduler => None,
    };
    let owned = PooledEnv::take();
    // With prepared arguments, only the job's small remainder is copied.
    let to_copy = prepared.as_ref().map(|p| p.rest).unwrap_or(term);
    // One copy of `{Ref, Job}`, not two: each copy allocates a heap fragment.
    let both = make_tuple(env, &[reference, to_copy]);
    let (job_raw, ref_raw) = owned.env().run(|e| {
        let copied = copy(e, both.as_c_arg());
        match get_tuple(copied).as_deref() {
            Ok([r, j]) => Ok((j.as_c_arg(), r.as_c_arg())),
            _ => Err(Error::BadJob(term.as_c_arg())),
        }
    })?;
    let shared = Arc::new(JobShared::new(Some(Payload {
        env: owned,
        job: job_raw,
        reference: ref_raw,
        caller: env.pid(),
        ret,
        submitted: Instant::now(),
    })));
    *lock(&shared.prepared) = prepared.map(|p| p.args);
    // The resource is made only when the caller gets one: a job answered here needs none.
    let res = |shared: Arc<JobShared>| ResourceArc::new(JobRes(shared));
    let target = match place {
        Place::Ctx(c) => c.inner.clone(),
        Place::Pool(p) => match owner {
            Some(ctx) => ctx,
            None => p.pick().ok_or(Error::ContextDown(DownReason::Stopped))?,
        },
        Place::Nested(outer) => {
            let outer = &outer.0;
            if outer.in_callback.load(Ordering::Acquire) && outer.state() == State::Running {
                let _ = shared.ctx.set(outer.ctx.get().cloned().unwrap_or_default());
                outer
                    .chan()
                    .0
                    .send(CbMsg::Nested(shared.clone()))
                    .map_err(|_| Error::ContextDown(DownReason::Stopped))?;
                return Ok((atoms::ok(), res(shared)).encode(env));
            }
            outer
                .ctx
                .get()
                .and_then(Weak::upgrade)
                .ok_or(Error::ContextDown(DownReason::Stopped))?
        }
    };
    // Wait only when the context is free (nothing queued or running): then it starts at
    // once. Whether the caller's scheduler has better things to do (other callers) is
    // py_exec's to judge: it asks for `call/4` only when no process waits to run.
    let wait = wait && target.readiness() != py_core::pool::Readiness::Busy;
    if wait {
        shared.state.wait_direct();
    }
    target.enqueue(shared.clone())?;
    if wait {
        if let Some(out) = wait_for(&shared) {
            return Ok(out.load(env));
        }
    }
    Ok((atoms::ok(), res(shared)).encode(env))
}

/// One walk over the job before it is copied. It finds the context that owns the job's
/// handle: the object it works on, or else the first top-level argument of a call that
/// is a handle (thread-bound objects, like sqlite3 connections, only work there). On a
/// normal scheduler it also counts the job's terms against `budget`: `None` when the
/// copy would be too large for a scheduler. Iterative: a scheduler's stack is small,
/// and the data may be of any depth.
fn scan<'a>(
    job: &Job<'a>,
    term: Term<'a>,
    budget: Option<isize>,
) -> Option<Option<Arc<ContextInner>>> {
    let mut owner = job.object().and_then(owner_of);
    let mut left = budget.unwrap_or(isize::MAX);
    let mut todo: Vec<Term<'a>> = Vec::new();
    let args = job.args();
    if let Some(args) = args {
        let mut rest = args;
        while let Ok((head, tail)) = rest.list_get_cell() {
            if owner.is_none() && matches!(job, Job::Call { .. }) {
                owner = owner_of(head);
            }
            if budget.is_some() && left >= 0 {
                todo.push(head);
                left -= 1;
            }
            rest = tail;
        }
    }
    if budget.is_none() {
        return Some(owner);
    }
    if left < 0 {
        return None;
    }
    // The rest of the job (names, code, keyword arguments) counts too.
    if let Ok(parts) = get_tuple(term) {
        let args = args.map(|a| a.as_c_arg());
        todo.extend(parts.into_iter().filter(|p| Some(p.as_c_arg()) != args));
    }
    // Over budget, stop at once: a big list is not walked (nor pushed) to its end.
    while let Some(t) = todo.pop() {
        left -= 1;
        if left < 0 {
            return None;
        }
        if t.is_list() {
            let mut rest = t;
            while let Ok((head, tail)) = rest.list_get_cell() {
                todo.push(head);
                rest = tail;
                left -= 1;
                if left < 0 {
                    return None;
                }
            }
        } else if t.is_tuple() {
            if let Ok(elems) = get_tuple(t) {
                todo.extend(elems);
            }
        } else if t.is_map() {
            if let Some(iter) = rustler::types::map::MapIterator::new(t) {
                for (k, v) in iter {
                    todo.push(k);
                    todo.push(v);
                    left -= 1;
                    if left < 0 {
                        return None;
                    }
                }
            }
        }
    }
    Some(owner)
}

/// The live context that made the handle `t`, if `t` is one.
fn owner_of(t: Term<'_>) -> Option<Arc<ContextInner>> {
    // Only references can be handles: skip the resource lookup for everything else.
    if !t.is_ref() {
        return None;
    }
    let h = t.try_get_resource::<handle::PyHandle>()?;
    h.owner()?
        .downcast::<ContextInner>()
        .ok()
        .filter(|c| c.alive())
}

/// Waits up to `WAIT` for the final reply of a job submitted with `wait`, or until the
/// job sends something else (output, a callback request: the caller must serve those).
///
/// Why wait on a normal scheduler at all: a trivial call takes a context about a
/// microsecond, while a reply by message to a process that has gone to sleep in
/// `receive` costs a scheduler wake-up and a process switch, several microseconds on
/// a small machine. Python never runs here; the wait is bounded far below the
/// millisecond a NIF may take, and it yields the CPU, so a context that shares this
/// core gets it at once. A longer job answers by message as usual.
fn wait_for(job: &JobShared) -> Option<Outgoing> {
    let start = Instant::now();
    let mut round = 0u32;
    loop {
        match job.state.poll() {
            Poll::Ready(out) => return Some(out),
            Poll::Gone => return job.state.stop_waiting(),
            Poll::Pending => {}
        }
        round += 1;
        if round.is_multiple_of(CLOCK_EVERY) {
            let waited = start.elapsed();
            if waited >= WAIT {
                return job.state.stop_waiting();
            }
            // A context on this very core cannot run while we spin: after a while,
            // give it the CPU. Yielding from the start costs more than it saves when
            // the context has a core of its own (the usual case).
            if waited >= WAIT / 2 {
                std::thread::yield_now();
            }
        }
        std::hint::spin_loop();
    }
}

/// A job's argument list converted to Python ahead of time, and the job without it.
pub struct Prepared<'a> {
    args: Py<pyo3::types::PyTuple>,
    rest: Term<'a>,
}

/// For a big argument list: converts it to Python right here, on the dirty scheduler
/// that `submit_large` runs on, instead of copying the whole term into the job's
/// environment for the context to convert later (the copy of a million floats costs
/// as much as their conversion). Ok(None): not a job with an argument list.
fn prepare_args<'a>(env: Env<'a>, job: &Job<'a>) -> Result<Option<Prepared<'a>>, Error> {
    let Some(args) = job.args().filter(|a| a.is_list()) else {
        return Ok(None);
    };
    // Converting here needs the GIL; when a holder has not let go for long, copy the
    // term instead and let the context convert it: the caller then waits in `receive`,
    // where its timeout holds.
    if gil::stuck_for().is_some() {
        return Ok(None);
    }
    pin_dirty_thread();
    let args = Python::attach(|py| -> Result<Py<pyo3::types::PyTuple>, Error> {
        gil::taken();
        Ok(to_python::Decoder::new(py, env)
            .decode_args(args.as_c_arg())?
            .unbind())
    })?;
    let Some(rest) = job.with_args(env, Vec::<Term<'a>>::new().encode(env)) else {
        return Ok(None);
    };
    Ok(Some(Prepared { args, rest }))
}
