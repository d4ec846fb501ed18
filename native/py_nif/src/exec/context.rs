//! Contexts: threads owned by the NIF, each with one Python thread state for its whole
//! life and its own globals; jobs reach them through a channel and answer by message.
use super::callback::{Frame, FRAMES};
use super::job::{CbMsg, JobShared, State};
use super::run;
use crate::base::atoms;
use crate::base::env::lock;
use crate::base::error::{caught, DownReason, Error};
use crate::base::tuning::{BATCH, BIG_STACK, CLOCK_EVERY, SPIN, YIELD_EVERY};
use crate::convert::handle;
use crate::runtime::gil::Pinned;
use crate::runtime::outgoing::Outgoing;
use crossbeam_channel::{unbounded, Receiver, Sender, TryRecvError};
use pyo3::ffi;
use pyo3::prelude::*;
use rustler::{Encoder, Env, LocalPid, Monitor, Resource, ResourceArc, Term};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static START: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the first use: a clock that fits an atomic.
fn since_start() -> u64 {
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

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
    crate::runtime::interp::runtime()?;
    let inner = ContextInner::new();
    let res = ResourceArc::new(CtxRes {
        inner: inner.clone(),
    });
    res.monitor(Some(env), &owner);
    let thread_res = res.clone();
    std::thread::Builder::new()
        .name(format!("py-ctx-{}", inner.id))
        .stack_size(BIG_STACK)
        .spawn(move || thread_main(thread_res, owner))
        .map_err(|e| Error::ContextDown(DownReason::Panic(format!("cannot start thread: {e}"))))?;
    Ok(res)
}

thread_local! {
    static TID: Cell<u64> = const { Cell::new(0) };
}

fn thread_main(res: ResourceArc<CtxRes>, owner: LocalPid) {
    let inner = res.inner.clone();
    let pinned = Pinned::new();
    TID.with(|t| t.set(pinned.tid));
    let me: handle::Owner = Arc::downgrade(&inner) as std::sync::Weak<_>;
    handle::set_thread_owner(me);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| serve(&inner)));
    if let Err(payload) = result {
        let msg = crate::base::env::panic_message(&*payload);
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
            crate::runtime::gil::taken();
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

pub(super) fn run_job(py: Python<'_>, inner: &Arc<ContextInner>, job: Arc<JobShared>) {
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
    let _running = crate::runtime::interrupt::Running::new(&job.given_up);
    p.env.env().run(|jenv| {
        let term = unsafe { Term::new(jenv, p.job) };
        // A panic (a bug of ours) is this job's error, not the context's death: a
        // burst of bad calls must never exhaust the supervisor's restart intensity.
        let outcome = caught(|| run::execute(py, jenv, term, prepared));
        job.executing.store(false, Ordering::Release);
        job.flush_output();
        inner.active.fetch_sub(1, Ordering::AcqRel);
        job.finish(|renv| {
            caught(|| Ok(run::reply(renv, outcome, p.ret)))
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
