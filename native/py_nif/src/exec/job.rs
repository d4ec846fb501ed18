//! One job's shared state: what the caller gave (in an environment of its own), the
//! state machine that decides who sends the final reply, the channel of callback
//! replies and nested jobs, its output to the caller, and how it is stopped.
use super::context::ContextInner;
use super::output::stream_atom;
use crate::base::atoms;
use crate::base::env::{binary, copy, PooledEnv};
use crate::base::error::{DownReason, Error};
use crate::base::job::Return;
use crate::runtime::housekeeping::{self, Interruptible};
use crate::runtime::outgoing::Outgoing;
use crate::runtime::pytypes;
use crossbeam_channel::{unbounded, Receiver, Sender};
use pyo3::ffi;
use pyo3::prelude::*;
use rustler::{Encoder, Env, LocalPid, Resource, Term};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Instant;

pub use py_core::jobstate::State;
use py_core::jobstate::{Finish, JobState};
use py_core::output::{Chunk, Sink};

/// What the submitting process gave: the job and the tag of its reply, in an
/// environment of the job's own (read-only once made, so any thread may read it).
pub struct Payload {
    pub env: PooledEnv,
    pub job: rustler::sys::ErlNifTerm,
    pub reference: rustler::sys::ErlNifTerm,
    pub caller: LocalPid,
    pub ret: Return,
    /// For the deadline of a wait resumed after a callback: the caller reads no clock
    /// on the common path, where the reply is the first message.
    pub submitted: Instant,
}

pub enum CbMsg {
    /// `callback_reply/2`: the result of erlang.call.
    Reply(Outgoing),
    /// A py call made by the caller while it runs a callback: it runs here, nested.
    Nested(Arc<JobShared>),
    Cancel,
}

pub struct JobShared {
    pub(super) payload: Option<Payload>,
    pub(super) state: JobState<Outgoing>,
    pub(super) chan: OnceLock<(Sender<CbMsg>, Receiver<CbMsg>)>,
    /// True while this job's Python code is what its thread runs (not waiting in a callback):
    /// only then may an exception be injected into the thread for it.
    pub(super) executing: AtomicBool,
    pub(super) in_callback: AtomicBool,
    pub(super) tid: AtomicU64,
    pub(super) ctx: OnceLock<Weak<ContextInner>>,
    /// The call's arguments, already Python objects (see `prepare_args`).
    pub(super) prepared: Mutex<Option<Py<pyo3::types::PyTuple>>>,
    /// Output to the caller, with back-pressure (see `py_core::output`).
    pub output: Sink,
    /// Set when the job is given up, for conversions to stop early (`interrupt`).
    pub(super) given_up: Arc<AtomicBool>,
}
// The payload environment is never written after submission.
unsafe impl Sync for JobShared {}

impl JobShared {
    pub(super) fn new(payload: Option<Payload>) -> JobShared {
        JobShared {
            payload,
            state: JobState::default(),
            chan: OnceLock::new(),
            executing: AtomicBool::new(false),
            in_callback: AtomicBool::new(false),
            tid: AtomicU64::new(0),
            ctx: OnceLock::new(),
            prepared: Mutex::new(None),
            output: Sink::default(),
            given_up: Arc::new(AtomicBool::new(false)),
        }
    }

    pub(super) fn chan(&self) -> &(Sender<CbMsg>, Receiver<CbMsg>) {
        self.chan.get_or_init(unbounded)
    }

    pub fn state(&self) -> State {
        self.state.get()
    }

    /// Milliseconds since the job was submitted (0 for a dirty call, which has no wait).
    pub fn elapsed_ms(&self) -> u64 {
        self.payload
            .as_ref()
            .map_or(0, |p| p.submitted.elapsed().as_millis() as u64)
    }

    pub(super) fn start(&self) -> bool {
        self.state.start()
    }

    /// `{Ref, Msg}` to the caller, only while the job runs: after a cancel the caller
    /// must never see another message for this job.
    pub(super) fn send_if_running(&self, build: impl for<'a> FnOnce(Env<'a>) -> Term<'a>) -> bool {
        let Some(p) = &self.payload else { return false };
        self.state.while_running(|| {
            if let Ok(out) =
                Outgoing::build(|e| Ok::<_, ()>((copy(e, p.reference), build(e)).encode(e)))
            {
                out.send(p.caller);
            }
        })
    }

    /// Sends one output message to the caller, if the job still runs.
    pub(super) fn send_output(&self, chunk: &Chunk) -> bool {
        let stream = stream_atom(chunk.stderr);
        self.send_if_running(|e| (atoms::output(), stream, binary(e, &chunk.data)).encode(e))
    }

    /// Output coalesced while the caller was behind goes out before a message that
    /// must follow it (the final reply, a callback request).
    pub(super) fn flush_output(&self) {
        for chunk in self.output.take_for_send() {
            self.send_output(&chunk);
        }
    }

    /// The final reply: built outside the lock (it may be large), then handed over to a
    /// caller that waits for it in the NIF, or sent with the state at Sending meanwhile
    /// so that `cancel` knows it is coming.
    pub(super) fn finish(&self, build: impl for<'a> FnOnce(Env<'a>) -> Term<'a>) {
        let Some(p) = &self.payload else { return };
        if !matches!(self.state.get(), State::Running) {
            return;
        }
        let Ok(out) = Outgoing::build(|e| Ok::<_, ()>((copy(e, p.reference), build(e)).encode(e)))
        else {
            return;
        };
        if let Finish::Send(out) = self.state.finish(out) {
            out.send(p.caller);
            self.state.end_send();
        }
    }

    /// Stops the job: `down` = Some sends the caller `{error, {context_down, R}}` as the
    /// final reply; None means the caller gave up and wants nothing more.
    pub fn cancel(self: &Arc<Self>, down: Option<&DownReason>) -> State {
        let mut answer = || {
            if let (Some(reason), Some(p)) = (down, &self.payload) {
                if let Ok(out) = Outgoing::build(|e| {
                    let err = Error::ContextDown(reason.clone()).encode_tagged(e);
                    Ok::<_, ()>((copy(e, p.reference), err).encode(e))
                }) {
                    out.send(p.caller);
                }
            }
        };
        let final_reply: Option<&mut dyn FnMut()> = match (down, &self.payload) {
            (Some(_), Some(_)) => Some(&mut answer),
            _ => None,
        };
        let before = self.state.stop(final_reply);
        if before == State::Running {
            self.given_up.store(true, Ordering::Relaxed);
            // Wake a wait for a callback reply, and interrupt Python code that runs.
            let _ = self.chan().0.send(CbMsg::Cancel);
            housekeeping::cancel(self.clone());
        }
        before
    }
}

impl Interruptible for JobShared {
    /// A dirty call's deadline passed. The timer thread never takes the GIL: the
    /// canceller injects the exception.
    fn expire(&self) -> bool {
        let running = self.state.stop(None) == State::Running;
        if running {
            self.given_up.store(true, Ordering::Relaxed);
        }
        running
    }

    fn interrupt(&self, py: Python<'_>) {
        let tid = self.tid.load(Ordering::Acquire);
        if tid != 0 && self.executing.load(Ordering::Acquire) {
            unsafe {
                ffi::PyThreadState_SetAsyncExc(tid as _, pytypes::cancelled_type(py).as_ptr())
            };
        }
    }
}

/// The term the caller holds for a job (for `cancel/1` and `callback_reply/2`). The
/// caller keeps it until the job's final reply; if it is garbage-collected before that,
/// the caller died (or gave up without a word), so the job is cancelled: a runaway loop
/// whose caller is gone does not hold its context forever, and a job waiting for the
/// reply to a callback stops waiting.
pub struct JobRes(pub Arc<JobShared>);

#[rustler::resource_impl]
impl Resource for JobRes {}

impl Drop for JobRes {
    fn drop(&mut self) {
        self.0.cancel(None);
    }
}
