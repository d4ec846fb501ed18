//! Contexts: threads owned by the NIF, each with one Python thread state for its whole
//! life and its own globals; jobs reach them through a channel and answer by message.
//! Also the job state machine shared by every path, callbacks into Erlang, output, and
//! the dirty-scheduler path.
use crate::error::{DownReason, Error};
use crate::gil::Pinned;
use crate::util::Outgoing;
use crate::{atoms, handle, housekeeping, job, logging, pymod, to_python};
use crossbeam_channel::{unbounded, Receiver, Sender, TryRecvError};
use pyo3::ffi;
use pyo3::prelude::*;
use rustler::{Encoder, Env, LocalPid, Monitor, Resource, ResourceArc, Term};
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, Weak};
use std::time::{Duration, Instant};

/// How long an idle context polls its queue before it parks: a call that comes within
/// this window skips the wake-up of a parked thread (several microseconds).
const SPIN: Duration = Duration::from_micros(40);
/// How often a spinning context gives up the CPU to a thread that waits for it.
const YIELD_EVERY: Duration = Duration::from_micros(10);
/// Polls between two readings of the clock while spinning or waiting.
const CLOCK_EVERY: u32 = 16;
/// Jobs run back to back without giving up the GIL, when they are queued.
const BATCH: usize = 32;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static START: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the first use: a clock that fits an atomic.
fn since_start() -> u64 {
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------- jobs

pub use py_core::jobstate::State;
use py_core::jobstate::{Finish, JobState, Poll};
use py_core::output::{Chunk, Sink};

/// What the submitting process gave: the job and the tag of its reply, in an
/// environment of the job's own (read-only once made, so any thread may read it).
pub struct Payload {
    env: crate::util::PooledEnv,
    job: rustler::sys::ErlNifTerm,
    reference: rustler::sys::ErlNifTerm,
    pub caller: LocalPid,
    want_handle: bool,
    /// For the deadline of a wait resumed after a callback: the caller reads no clock
    /// on the common path, where the reply is the first message.
    submitted: Instant,
}

pub enum CbMsg {
    /// `callback_reply/2`: the result of erlang.call.
    Reply(Outgoing),
    /// A py call made by the caller while it runs a callback: it runs here, nested.
    Nested(Arc<JobShared>),
    Cancel,
}

pub struct JobShared {
    payload: Option<Payload>,
    state: JobState<Outgoing>,
    chan: OnceLock<(Sender<CbMsg>, Receiver<CbMsg>)>,
    /// True while this job's Python code is what its thread runs (not waiting in a callback):
    /// only then may an exception be injected into the thread for it.
    executing: AtomicBool,
    in_callback: AtomicBool,
    tid: AtomicU64,
    ctx: OnceLock<Weak<ContextInner>>,
    /// The call's arguments, already Python objects (see `prepare_args`).
    prepared: Mutex<Option<Py<pyo3::types::PyTuple>>>,
    /// Output to the caller, with back-pressure (see `py_core::output`).
    pub output: Sink,
    /// Set when the job is given up, for conversions to stop early (`interrupt`).
    given_up: Arc<AtomicBool>,
}
// The payload environment is never written after submission.
unsafe impl Sync for JobShared {}

impl JobShared {
    fn new(payload: Option<Payload>) -> JobShared {
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

    fn chan(&self) -> &(Sender<CbMsg>, Receiver<CbMsg>) {
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

    fn start(&self) -> bool {
        self.state.start()
    }

    /// `{Ref, Msg}` to the caller, only while the job runs: after a cancel the caller
    /// must never see another message for this job.
    fn send_if_running(&self, build: impl for<'a> FnOnce(Env<'a>) -> Term<'a>) -> bool {
        let Some(p) = &self.payload else { return false };
        self.state.while_running(|| {
            if let Ok(out) = Outgoing::build(|e| {
                Ok::<_, ()>((crate::util::copy(e, p.reference), build(e)).encode(e))
            }) {
                out.send(p.caller);
            }
        })
    }

    /// Sends one output message to the caller, if the job still runs.
    fn send_output(&self, chunk: &Chunk) -> bool {
        let stream = stream_atom(chunk.stderr);
        self.send_if_running(|e| {
            (atoms::output(), stream, crate::util::binary(e, &chunk.data)).encode(e)
        })
    }

    /// Output coalesced while the caller was behind goes out before a message that
    /// must follow it (the final reply, a callback request).
    fn flush_output(&self) {
        for chunk in self.output.take_for_send() {
            self.send_output(&chunk);
        }
    }

    /// The final reply: built outside the lock (it may be large), then handed over to a
    /// caller that waits for it in the NIF, or sent with the state at Sending meanwhile
    /// so that `cancel` knows it is coming.
    fn finish(&self, build: impl for<'a> FnOnce(Env<'a>) -> Term<'a>) {
        let Some(p) = &self.payload else { return };
        if !matches!(self.state.get(), State::Running) {
            return;
        }
        let Ok(out) = Outgoing::build(|e| {
            Ok::<_, ()>((crate::util::copy(e, p.reference), build(e)).encode(e))
        }) else {
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
                    Ok::<_, ()>((crate::util::copy(e, p.reference), err).encode(e))
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

    /// Called by the canceller thread with the GIL held.
    pub fn inject(&self, _py: Python<'_>) {
        let tid = self.tid.load(Ordering::Acquire);
        if tid != 0 && self.executing.load(Ordering::Acquire) {
            unsafe {
                ffi::PyThreadState_SetAsyncExc(tid as _, pymod::cancelled_type(_py).as_ptr())
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

// ---------------------------------------------------------------- contexts

pub enum Msg {
    Job(Arc<JobShared>),
    Stop,
}

pub struct ContextInner {
    pub id: u64,
    tx: Sender<Msg>,
    rx: Receiver<Msg>,
    alive: AtomicBool,
    /// Jobs begun and not yet answered (a job waiting for a callback counts, and so does
    /// the nested job it runs meanwhile). Decremented just before the final reply leaves,
    /// so a caller that gets its answer sees the context free at once.
    active: AtomicUsize,
    /// Idle but awake (polling its queue): a call sent here starts without a wake-up.
    spinning: AtomicBool,
    down: Mutex<Option<DownReason>>,
    /// Jobs this thread is inside of, outermost first (nested jobs run during callbacks).
    running: Mutex<Vec<Arc<JobShared>>>,
    /// When the outermost running job started (`since_start` + 1), 0 when idle: for
    /// `pool_info`, to show a context stuck in a long job and since when.
    job_started: AtomicU64,
}

impl ContextInner {
    pub fn alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    pub fn readiness(&self) -> py_core::pool::Readiness {
        use py_core::pool::Readiness;
        if self.active.load(Ordering::Acquire) > 0 || !self.tx.is_empty() {
            Readiness::Busy
        } else if self.spinning.load(Ordering::Relaxed) {
            Readiness::Awake
        } else {
            Readiness::Idle
        }
    }

    /// Milliseconds the current (outermost) job has run, if one runs.
    pub fn running_ms(&self) -> Option<u64> {
        match self.job_started.load(Ordering::Relaxed) {
            0 => None,
            t => Some(since_start().saturating_sub(t - 1) / 1_000_000),
        }
    }

    pub fn load(&self) -> usize {
        self.tx.len() + self.active.load(Ordering::Acquire)
    }

    pub fn enqueue(self: &Arc<Self>, job: Arc<JobShared>) -> Result<(), Error> {
        if !self.alive() {
            return Err(Error::ContextDown(self.down_reason()));
        }
        let _ = job.ctx.set(Arc::downgrade(self));
        self.tx
            .send(Msg::Job(job))
            .map_err(|_| Error::ContextDown(DownReason::Stopped))
    }

    fn down_reason(&self) -> DownReason {
        lock(&self.down).clone().unwrap_or(DownReason::Stopped)
    }

    /// Stops the context once: running and queued jobs get `context_down` at once (not
    /// when Python next returns: it may be blocked in C), and the thread exits after.
    pub fn shut_down(&self, reason: DownReason) {
        if !self.alive.swap(false, Ordering::AcqRel) {
            return;
        }
        *lock(&self.down) = Some(reason.clone());
        for job in lock(&self.running).iter() {
            job.cancel(Some(&reason));
        }
        while let Ok(msg) = self.rx.try_recv() {
            if let Msg::Job(job) = msg {
                job.cancel(Some(&reason));
            }
        }
        let _ = self.tx.send(Msg::Stop);
    }
}

pub struct CtxRes {
    pub inner: Arc<ContextInner>,
}

#[rustler::resource_impl]
impl Resource for CtxRes {
    fn down<'a>(&'a self, _env: Env<'a>, _pid: LocalPid, _mon: Monitor) {
        self.inner.shut_down(DownReason::OwnerDown);
    }
}

impl ContextInner {
    fn new() -> Arc<ContextInner> {
        let (tx, rx) = unbounded();
        Arc::new(ContextInner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            tx,
            rx,
            alive: AtomicBool::new(true),
            active: AtomicUsize::new(0),
            spinning: AtomicBool::new(false),
            down: Mutex::new(None),
            running: Mutex::new(Vec::new()),
            job_started: AtomicU64::new(0),
        })
    }
}

pub fn context_new(env: Env<'_>, owner: LocalPid) -> Result<ResourceArc<CtxRes>, Error> {
    crate::interp::runtime()?;
    let inner = ContextInner::new();
    let res = ResourceArc::new(CtxRes {
        inner: inner.clone(),
    });
    res.monitor(Some(env), &owner);
    let thread_res = res.clone();
    std::thread::Builder::new()
        .name(format!("py-ctx-{}", inner.id))
        .stack_size(crate::stack::BIG)
        .spawn(move || thread_main(thread_res, owner))
        .map_err(|e| Error::ContextDown(DownReason::Panic(format!("cannot start thread: {e}"))))?;
    Ok(res)
}

thread_local! {
    static TID: Cell<u64> = const { Cell::new(0) };
    static DIRTY_PIN: RefCell<Option<Pinned>> = const { RefCell::new(None) };
}

fn thread_main(res: ResourceArc<CtxRes>, owner: LocalPid) {
    let inner = res.inner.clone();
    let pinned = Pinned::new();
    TID.with(|t| t.set(pinned.tid));
    handle::CURRENT_CONTEXT.with(|c| *c.borrow_mut() = Some(Arc::downgrade(&inner)));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| serve(&inner)));
    if let Err(payload) = result {
        let msg = crate::util::panic_message(&*payload);
        tracing::error!("context {} died: {msg}", inner.id);
        let reason = DownReason::Panic(msg);
        inner.shut_down(reason.clone());
        if let Ok(out) = Outgoing::build(|e| {
            Ok::<_, ()>((atoms::py_context_down(), res.encode(e), reason.encode(e)).encode(e))
        }) {
            out.send(owner);
        }
    }
    drop(pinned);
}

/// The next message, polling the queue for up to `SPIN` before parking. The poll is a
/// busy spin that gives up the CPU every `YIELD_EVERY`, not a yield on every poll: with
/// two idle contexts on one CPU, yielding each time hands the CPU back and forth between
/// them, a system call and a thread switch per poll, while the scheduler that is about
/// to send the next job waits for a CPU.
fn next_msg(inner: &ContextInner) -> Msg {
    let start = Instant::now();
    let mut last_yield = start;
    let mut polls = 0u32;
    inner.spinning.store(true, Ordering::Relaxed);
    let msg = loop {
        match inner.rx.try_recv() {
            Ok(m) => break m,
            Err(TryRecvError::Disconnected) => break Msg::Stop,
            Err(TryRecvError::Empty) => {}
        }
        polls = polls.wrapping_add(1);
        if !polls.is_multiple_of(CLOCK_EVERY) {
            std::hint::spin_loop();
            continue;
        }
        let now = Instant::now();
        if now - start >= SPIN {
            inner.spinning.store(false, Ordering::Relaxed);
            break inner.rx.recv().unwrap_or(Msg::Stop);
        }
        if now - last_yield >= YIELD_EVERY {
            std::thread::yield_now();
            last_yield = now;
        }
    };
    inner.spinning.store(false, Ordering::Relaxed);
    msg
}

fn serve(inner: &Arc<ContextInner>) {
    let mut carried: Option<Arc<JobShared>> = None;
    loop {
        let first = match carried.take() {
            Some(job) => job,
            None => match next_msg(inner) {
                Msg::Stop => return,
                Msg::Job(job) => job,
            },
        };
        if !inner.alive() {
            first.cancel(Some(&inner.down_reason()));
            continue;
        }
        let stop = Python::attach(|py| {
            let mut job = first;
            for _ in 0..BATCH {
                run_job(py, inner, job);
                job = match inner.rx.try_recv() {
                    Ok(Msg::Job(j)) if inner.alive() => j,
                    Ok(Msg::Job(j)) => {
                        j.cancel(Some(&inner.down_reason()));
                        return false;
                    }
                    Ok(Msg::Stop) => return true,
                    Err(_) => return false,
                };
            }
            // The batch is full: let other threads have the GIL; this job runs first next.
            carried = Some(job);
            false
        });
        if stop {
            return;
        }
    }
}

/// What the running Python code on this thread belongs to.
#[derive(Clone)]
pub enum Frame {
    Context(Arc<JobShared>),
    /// A dirty NIF call: the environment of the calling process.
    Dirty(*mut rustler::sys::ErlNifEnv, LocalPid),
}

thread_local! {
    static FRAMES: RefCell<Vec<Frame>> = const { RefCell::new(Vec::new()) };
}

pub fn current_frame() -> Option<Frame> {
    FRAMES.with(|f| f.borrow().last().cloned())
}

pub fn current_caller() -> Option<LocalPid> {
    match current_frame()? {
        Frame::Context(job) => job.payload.as_ref().map(|p| p.caller),
        Frame::Dirty(_, pid) => Some(pid),
    }
}

fn run_job(py: Python<'_>, inner: &Arc<ContextInner>, job: Arc<JobShared>) {
    if !job.start() {
        // Cancelled while queued.
        return;
    }
    let Some(p) = &job.payload else { return };
    inner.active.fetch_add(1, Ordering::AcqRel);
    let outermost = inner
        .job_started
        .compare_exchange(0, since_start() + 1, Ordering::Relaxed, Ordering::Relaxed)
        .is_ok();
    job.tid.store(TID.with(Cell::get), Ordering::Release);
    job.executing.store(true, Ordering::Release);
    lock(&inner.running).push(job.clone());
    FRAMES.with(|f| f.borrow_mut().push(Frame::Context(job.clone())));
    let prepared = lock(&job.prepared).take().map(|t| t.into_bound(py));
    let _running = crate::interrupt::Running::new(&job.given_up);
    p.env.env().run(|jenv| {
        let term = unsafe { Term::new(jenv, p.job) };
        // A panic (a bug of ours) is this job's error, not the context's death: a
        // burst of bad calls must never exhaust the supervisor's restart intensity.
        let outcome = caught(|| job::execute(py, jenv, term, prepared));
        job.executing.store(false, Ordering::Release);
        job.flush_output();
        inner.active.fetch_sub(1, Ordering::AcqRel);
        job.finish(|renv| {
            caught(|| Ok(job::reply(renv, outcome, p.want_handle)))
                .unwrap_or_else(|e| e.encode_tagged(renv))
        });
    });
    FRAMES.with(|f| f.borrow_mut().pop());
    lock(&inner.running).pop();
    if outermost {
        inner.job_started.store(0, Ordering::Relaxed);
    }
    if !matches!(job.state(), State::Done | State::Ready) || job.executing.load(Ordering::Acquire) {
        // A cancel may have left an exception pending for this thread: it must not hit
        // the next job.
        unsafe { ffi::PyThreadState_SetAsyncExc(TID.with(Cell::get) as _, std::ptr::null_mut()) };
    }
    // Nested jobs that arrived too late for the callback they were meant for.
    if let Some((_, rx)) = job.chan.get() {
        while let Ok(msg) = rx.try_recv() {
            if let CbMsg::Nested(n) = msg {
                let _ = inner.enqueue(n);
            }
        }
    }
}

/// `erlang.call`: asks the caller to run the request and waits, GIL released, serving
/// the caller's own nested py calls meanwhile (that is what makes re-entry safe).
pub fn callback(
    py: Python<'_>,
    job: &Arc<JobShared>,
    request: impl for<'a> FnOnce(Env<'a>) -> PyResult<Term<'a>>,
) -> PyResult<Py<PyAny>> {
    if job.payload.is_none() {
        return Err(pyo3::exceptions::PyRuntimeError::new_err(
            "no calling process",
        ));
    }
    let req = Outgoing::build(|e| request(e).map(|r| (atoms::callback(), r).encode(e)))?;
    let (_, rx) = job.chan();
    job.flush_output();
    // Set before the request leaves: the caller may submit a nested call at once.
    job.in_callback.store(true, Ordering::Release);
    job.executing.store(false, Ordering::Release);
    let sent = job.send_if_running(|e| req.load(e));
    let reply = if sent {
        let inner = handle::CURRENT_CONTEXT.with(|c| c.borrow().as_ref().and_then(Weak::upgrade));
        py.detach(|| loop {
            match rx.recv() {
                Ok(CbMsg::Reply(out)) => break Some(out),
                Ok(CbMsg::Nested(nested)) => match &inner {
                    Some(inner) => Python::attach(|py| run_job(py, inner, nested)),
                    None => {
                        nested.cancel(Some(&DownReason::Stopped));
                    }
                },
                Ok(CbMsg::Cancel) | Err(_) => break None,
            }
        })
    } else {
        None
    };
    job.in_callback.store(false, Ordering::Release);
    job.executing.store(true, Ordering::Release);
    let Some(out) = reply else {
        return Err(PyErr::from_type(
            pymod::cancelled_type(py).clone(),
            "the py call was cancelled",
        ));
    };
    out.run(|e, t| callback_result(py, e, t))
}

/// `{ok, Value}` -> Value; `{error, {Class, Reason, Stack}}` -> raise erlang.Error.
fn callback_result(py: Python<'_>, env: Env<'_>, t: Term<'_>) -> PyResult<Py<PyAny>> {
    let parts = rustler::types::tuple::get_tuple(t).unwrap_or_default();
    match parts.as_slice() {
        [tag, v] if atoms::ok() == *tag => to_python::decode(py, *v)
            .map(|b| b.unbind())
            .map_err(|e| pymod::to_pyerr(py, e)),
        [tag, detail] if atoms::error() == *tag => {
            let d = rustler::types::tuple::get_tuple(*detail).unwrap_or_default();
            let conv = |t: Term<'_>| {
                to_python::decode(py, t)
                    .map(|b| b.unbind())
                    .unwrap_or_else(|_| py.None())
            };
            let (class, reason, stack) = match d.as_slice() {
                [c, r, s] => (conv(*c), conv(*r), conv(*s)),
                _ => (py.None(), conv(*detail), py.None()),
            };
            let _ = env;
            Err(PyErr::from_value(
                pymod::error_type(py).call1((class, reason, stack))?,
            ))
        }
        _ => Err(pyo3::exceptions::PyRuntimeError::new_err(
            "malformed callback reply",
        )),
    }
}

/// Output to the py server (from dirty calls and threads outside any call), with the
/// same back-pressure as a caller's.
static SERVER_OUTPUT: Sink = Sink::new();

fn stream_atom(stderr: bool) -> rustler::Atom {
    if stderr {
        atoms::stderr()
    } else {
        atoms::stdout()
    }
}

/// Output from Python: to the calling process (which writes it to its group leader),
/// else to the py server (which writes it to `user`). A writer far ahead of its reader
/// waits here, with the GIL released.
pub fn output(py: Python<'_>, stderr: bool, data: Vec<u8>) {
    let mut data = data;
    if let Some(Frame::Context(job)) = current_frame() {
        if job.state() == State::Running {
            match job.output.offer(stderr, data) {
                Some(chunk) if job.send_output(&chunk) => return,
                // The job stopped meanwhile: the server gets it.
                Some(chunk) => data = chunk.data,
                None => {
                    if job.output.full() {
                        py.detach(|| job.output.wait_for_room(|| job.state() == State::Running));
                    }
                    return;
                }
            }
        }
    }
    let Some(server) = logging::server() else {
        return;
    };
    match SERVER_OUTPUT.offer(stderr, data) {
        Some(chunk) => send_to_server(server, &chunk),
        None if SERVER_OUTPUT.full() => {
            py.detach(|| SERVER_OUTPUT.wait_for_room(|| logging::server().is_some()))
        }
        None => {}
    }
}

fn send_to_server(server: LocalPid, chunk: &Chunk) {
    let stream = stream_atom(chunk.stderr);
    if let Ok(out) = Outgoing::build(|e| {
        Ok::<_, ()>(
            (
                atoms::py_output(),
                stream,
                crate::util::binary(e, &chunk.data),
            )
                .encode(e),
        )
    }) {
        out.send(server);
    }
}

/// The py server wrote one output message: what was written meanwhile.
pub fn server_output_ack() -> Vec<Chunk> {
    SERVER_OUTPUT.ack()
}

/// A new py server: whatever was pending goes to it.
pub fn server_output_reset(server: LocalPid) {
    for chunk in SERVER_OUTPUT.reset() {
        send_to_server(server, &chunk);
    }
}

// ---------------------------------------------------------------- pools

pub struct Pool {
    slots: RwLock<Vec<Option<Arc<ContextInner>>>>,
    least_busy: bool,
    next: AtomicUsize,
    /// Contexts put in a slot that already had one: replacements after a death.
    restarts: AtomicU64,
}

#[rustler::resource_impl]
impl Resource for Pool {}

impl Pool {
    pub fn new(size: usize, least_busy: bool) -> Pool {
        Pool {
            slots: RwLock::new(vec![None; size]),
            least_busy,
            next: AtomicUsize::new(0),
            restarts: AtomicU64::new(0),
        }
    }

    pub fn set(&self, index: usize, ctx: Arc<ContextInner>) -> bool {
        let mut slots = self.slots.write().unwrap_or_else(|p| p.into_inner());
        match slots.get_mut(index) {
            Some(slot) => {
                if slot.replace(ctx).is_some() {
                    self.restarts.fetch_add(1, Ordering::Relaxed);
                }
                true
            }
            None => false,
        }
    }

    pub fn restarts(&self) -> u64 {
        self.restarts.load(Ordering::Relaxed)
    }

    pub fn size(&self) -> usize {
        self.slots.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn strategy(&self) -> rustler::Atom {
        if self.least_busy {
            atoms::least_busy()
        } else {
            atoms::round_robin()
        }
    }

    pub fn contexts(&self) -> Vec<Option<Arc<ContextInner>>> {
        self.slots.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A live context: round robin, or the one with the fewest queued jobs.
    pub fn pick(&self) -> Option<Arc<ContextInner>> {
        let slots = self.slots.read().unwrap_or_else(|p| p.into_inner());
        let n = slots.len();
        if n == 0 {
            return None;
        }
        let live = |i: usize| slots[i].as_ref().filter(|c| c.alive());
        let chosen = if self.least_busy {
            py_core::pool::least_busy((0..n).map(|i| live(i).map(|c| c.load())))
        } else {
            let start = self.next.fetch_add(1, Ordering::Relaxed);
            py_core::pool::round_robin_ready(n, start, |i| live(i).map(|c| c.readiness()))
        };
        chosen.and_then(|i| slots[i].clone())
    }
}

// ---------------------------------------------------------------- submission

pub enum Place<'a> {
    Ctx(&'a CtxRes),
    Pool(&'a Pool),
    Nested(&'a JobRes),
}

/// Copies the job into its own environment and hands it to a context. With `wait`, a
/// job that an idle context finishes within `WAIT` is answered here: the final message
/// `{Ref, Result}` is returned instead of sent (see `wait_for`).
pub fn submit<'a>(
    env: Env<'a>,
    place: Place<'_>,
    reference: Term<'a>,
    job: Term<'a>,
    want_handle: bool,
    prepared: Option<Prepared<'a>>,
    wait: bool,
) -> Result<Term<'a>, Error> {
    crate::interp::runtime()?;
    let owned = crate::util::PooledEnv::take();
    // With prepared arguments, only the job's small remainder is copied.
    let to_copy = prepared.as_ref().map(|p| p.rest).unwrap_or(job);
    // One copy of `{Ref, Job}`, not two: each copy allocates a heap fragment.
    let both = rustler::types::tuple::make_tuple(env, &[reference, to_copy]);
    let (job_raw, ref_raw) = owned.env().run(|e| {
        let copied = crate::util::copy(e, both.as_c_arg());
        match rustler::types::tuple::get_tuple(copied).as_deref() {
            Ok([r, j]) => Ok((j.as_c_arg(), r.as_c_arg())),
            _ => Err(Error::BadJob(job.as_c_arg())),
        }
    })?;
    let shared = Arc::new(JobShared::new(Some(Payload {
        env: owned,
        job: job_raw,
        reference: ref_raw,
        caller: env.pid(),
        want_handle,
        submitted: Instant::now(),
    })));
    *lock(&shared.prepared) = prepared.map(|p| p.args);
    // The resource is made only when the caller gets one: a job answered here needs none.
    let res = |shared: Arc<JobShared>| ResourceArc::new(JobRes(shared));
    let target = match place {
        Place::Ctx(c) => c.inner.clone(),
        Place::Pool(p) => match affinity(job) {
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

/// How long a caller waits in the NIF for a job it gave to an idle context.
const WAIT: Duration = Duration::from_micros(10);

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
pub fn prepare_args<'a>(env: Env<'a>, job: Term<'a>) -> Result<Option<Prepared<'a>>, Error> {
    let Ok(parts) = rustler::types::tuple::get_tuple(job) else {
        return Ok(None);
    };
    let at = match parts.first() {
        Some(t) if atoms::call() == *t && parts.len() == 4 => 2,
        Some(t) if atoms::call_obj() == *t && parts.len() == 4 => 2,
        Some(t) if atoms::method() == *t && parts.len() == 5 => 3,
        _ => return Ok(None),
    };
    if !parts[at].is_list() {
        return Ok(None);
    }
    // Converting here needs the GIL; when a holder has not let go for long, copy the
    // term instead and let the context convert it: the caller then waits in `receive`,
    // where its timeout holds.
    if crate::gil::stuck_for().is_some() {
        return Ok(None);
    }
    pin_dirty_thread();
    let args = Python::attach(|py| -> Result<Py<pyo3::types::PyTuple>, Error> {
        Ok(to_python::Decoder::new(py, env)
            .decode_args(parts[at].as_c_arg())?
            .unbind())
    })?;
    let mut rest = parts.clone();
    rest[at] = Vec::<Term<'a>>::new().encode(env);
    Ok(Some(Prepared {
        args,
        rest: rustler::types::tuple::make_tuple(env, &rest),
    }))
}

/// A dirty scheduler thread that runs Python keeps one thread state for its life.
fn pin_dirty_thread() -> u64 {
    let tid = DIRTY_PIN.with(|p| p.borrow_mut().get_or_insert_with(Pinned::new).tid);
    TID.with(|t| t.set(tid));
    tid
}

/// A job on a handle goes to the context that made the handle (thread-bound objects,
/// like sqlite3 connections, only work there): the target object, or else the first
/// top-level argument that is a handle.
fn affinity(job: Term<'_>) -> Option<Arc<ContextInner>> {
    let parts = rustler::types::tuple::get_tuple(job).ok()?;
    let from = |t: Term<'_>| {
        // Only references can be handles: skip the resource lookup for everything else.
        if !t.is_ref() {
            return None;
        }
        t.try_get_resource::<handle::PyHandle>()
            .and_then(|h| h.context())
            .filter(|c| c.alive())
    };
    let tag = *parts.first()?;
    if atoms::call() == tag {
        let mut rest = *parts.get(2)?;
        while let Ok((head, tail)) = rest.list_get_cell() {
            if let Some(ctx) = from(head) {
                return Some(ctx);
            }
            rest = tail;
        }
        return None;
    }
    parts.get(1).and_then(|t| from(*t))
}

/// A cheap bound on the work of copying `t`: counts terms, stopping once over `budget`.
/// Iterative: it runs on a normal scheduler, whose stack is small, over data of any depth.
pub fn small_enough(t: Term<'_>, mut budget: isize) -> bool {
    let mut todo = vec![t];
    while let Some(t) = todo.pop() {
        budget -= 1;
        if budget < 0 {
            return false;
        }
        if t.is_list() {
            let mut rest = t;
            while let Ok((head, tail)) = rest.list_get_cell() {
                todo.push(head);
                rest = tail;
                budget -= 1;
                if budget < 0 {
                    return false;
                }
            }
        } else if t.is_tuple() {
            if let Ok(elems) = rustler::types::tuple::get_tuple(t) {
                todo.extend(elems);
            }
        } else if t.is_map() {
            if let Some(iter) = rustler::types::map::MapIterator::new(t) {
                for (k, v) in iter {
                    todo.push(k);
                    todo.push(v);
                    budget -= 1;
                    if budget < 0 {
                        return false;
                    }
                }
            }
        }
    }
    true
}

pub fn callback_reply(reply: Term<'_>, job: &JobRes) {
    if let Ok(out) = Outgoing::build(|e| Ok::<_, ()>(crate::util::copy(e, reply.as_c_arg()))) {
        let _ = job.0.chan().0.send(CbMsg::Reply(out));
    }
}

// ---------------------------------------------------------------- dirty path

/// A job run right here, on a dirty CPU scheduler, with a thread state pinned to this
/// scheduler thread and on a stack of context size (see `stack`). No message, no copy
/// of the arguments; no callbacks into Erlang.
pub fn call_dirty<'a>(
    env: Env<'a>,
    job: Term<'a>,
    want_handle: bool,
    timeout_ms: Option<u64>,
) -> Term<'a> {
    if let Err(e) = crate::interp::runtime() {
        return e.encode_tagged(env);
    }
    // A NIF waiting for the GIL cannot return at its deadline: rather than queue behind
    // a holder that has not let go for this long (C code), refuse at once.
    if let Some(stuck) = crate::gil::stuck_for() {
        return Error::Busy {
            gil_stuck_ms: stuck.as_millis() as u64,
        }
        .encode_tagged(env);
    }
    crate::stack::on_big_stack(|| caught(|| Ok(dirty_job(env, job, want_handle, timeout_ms))))
        .unwrap_or_else(|e| e.encode_tagged(env))
}

fn dirty_job<'a>(
    env: Env<'a>,
    job: Term<'a>,
    want_handle: bool,
    timeout_ms: Option<u64>,
) -> Term<'a> {
    let tid = pin_dirty_thread();
    let shared = Arc::new(JobShared::new(None));
    shared.start();
    shared.tid.store(tid, Ordering::Release);
    let deadline = timeout_ms.map(|ms| {
        housekeeping::Deadline::new(Instant::now() + Duration::from_millis(ms), shared.clone())
    });
    Python::attach(|py| {
        let frame = FrameGuard::push(Frame::Dirty(env.as_c_arg(), env.pid()));
        let running = crate::interrupt::Running::new(&shared.given_up);
        shared.executing.store(true, Ordering::Release);
        let outcome = job::execute(py, env, job, None);
        shared.executing.store(false, Ordering::Release);
        drop(running);
        drop(frame);
        drop(deadline);
        if shared.state.complete() {
            job::reply(env, outcome, want_handle)
        } else {
            unsafe { ffi::PyThreadState_SetAsyncExc(tid as _, std::ptr::null_mut()) };
            Error::Timeout.encode_tagged(env)
        }
    })
}

/// A dirty call's deadline passed: stop its Python code. Runs on the timer thread,
/// which never takes the GIL: the canceller injects the exception.
pub fn expire(job: &Arc<JobShared>) {
    if job.state.stop(None) == State::Running {
        job.given_up.store(true, Ordering::Relaxed);
        housekeeping::cancel(job.clone());
    }
}

/// Runs `f`, turning a panic into `Error::Panic`.
pub fn caught<T>(f: impl FnOnce() -> Result<T, Error>) -> Result<T, Error> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
        .unwrap_or_else(|p| Err(Error::Panic(crate::util::panic_message(&*p))))
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
