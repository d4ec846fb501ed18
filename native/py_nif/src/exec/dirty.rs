//! The dirty path: a job run right on a dirty CPU scheduler, with a thread state pinned
//! to the scheduler thread, on a stack of context size.
use super::callback::{Frame, FRAMES};
use super::job::JobShared;
use super::run;
use crate::base::error::{caught, Error};
use crate::base::job::Return;
use crate::runtime::gil::{self, Pinned};
use crate::runtime::housekeeping;
use crate::runtime::{interp, interrupt, stack};
use pyo3::ffi;
use pyo3::prelude::*;
use rustler::{Env, Term};
use std::cell::RefCell;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A job run right here, on a dirty CPU scheduler, with a thread state pinned to this
/// scheduler thread and on a stack of context size (see `stack`). No message, no copy
/// of the arguments; no callbacks into Erlang.
pub fn call_dirty<'a>(
    env: Env<'a>,
    job: Term<'a>,
    ret: Return,
    timeout_ms: Option<u64>,
) -> Term<'a> {
    if let Err(e) = interp::runtime() {
        return e.encode_tagged(env);
    }
    // A NIF waiting for the GIL cannot return at its deadline: rather than queue behind
    // a holder that has not let go for this long (C code), refuse at once.
    if let Some(stuck) = gil::stuck_for() {
        return Error::Busy {
            gil_stuck_ms: stuck.as_millis() as u64,
        }
        .encode_tagged(env);
    }
    stack::on_big_stack(|| caught(|| Ok(dirty_job(env, job, ret, timeout_ms))))
        .unwrap_or_else(|e| e.encode_tagged(env))
}

fn dirty_job<'a>(env: Env<'a>, job: Term<'a>, ret: Return, timeout_ms: Option<u64>) -> Term<'a> {
    let tid = pin_dirty_thread();
    let shared = Arc::new(JobShared::new(None));
    shared.start();
    shared.tid.store(tid, Ordering::Release);
    let deadline = timeout_ms.map(|ms| {
        housekeeping::Deadline::new(Instant::now() + Duration::from_millis(ms), shared.clone())
    });
    Python::attach(|py| {
        gil::taken();
        let frame = FrameGuard::push(Frame::Dirty(env.as_c_arg(), env.pid()));
        let running = interrupt::Running::new(&shared.given_up);
        shared.executing.store(true, Ordering::Release);
        let outcome = run::execute(py, env, job, None);
        shared.executing.store(false, Ordering::Release);
        drop(running);
        drop(frame);
        drop(deadline);
        if shared.state.complete() {
            run::reply(env, outcome, ret)
        } else {
            unsafe { ffi::PyThreadState_SetAsyncExc(tid as _, std::ptr::null_mut()) };
            Error::Timeout.encode_tagged(env)
        }
    })
}

/// The frame of a dirty call, popped however the call ends.
struct FrameGuard;

impl FrameGuard {
    fn push(frame: Frame) -> FrameGuard {
        FRAMES.with(|f| f.borrow_mut().push(frame));
        FrameGuard
    }
}

impl Drop for FrameGuard {
    fn drop(&mut self) {
        FRAMES.with(|f| f.borrow_mut().pop());
    }
}

thread_local! {
    static DIRTY_PIN: RefCell<Option<Pinned>> = const { RefCell::new(None) };
}

/// A dirty scheduler thread that runs Python keeps one thread state for its life.
pub fn pin_dirty_thread() -> u64 {
    DIRTY_PIN.with(|p| p.borrow_mut().get_or_insert_with(Pinned::new).tid)
}
