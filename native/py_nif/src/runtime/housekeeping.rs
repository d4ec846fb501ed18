//! Our threads for the work that must not run on a scheduler, split by what they may
//! wait on, so that nothing Python does can stop a timeout:
//! - the timer (`py-timer`) never touches Python: deadlines of dirty calls, messages
//!   that scheduler threads cannot send, logs;
//! - the canceller (`py-cancel`) takes the GIL only to inject `erlang.Cancelled` and to
//!   probe how long the GIL is held (see `gil`); it runs no user code, so at worst it
//!   waits for C code that holds the GIL;
//! - the janitor (`py-janitor`) drops the Python objects of collected handles. That runs
//!   their `__del__`, which may block or loop for ever: then only the janitor stops.
use super::gil::{self, Pinned};
use super::outgoing::Outgoing;
use crate::base::tuning::{JANITOR_BATCH, JANITOR_TICK, PROBE_EVERY, TIMER_TICK};
use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use pyo3::prelude::*;
use rustler::LocalPid;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

/// A running job as these threads see it (the job itself belongs to `exec`).
pub trait Interruptible: Send + Sync {
    /// Its deadline passed (on the timer thread, without the GIL): stop it. True when
    /// Python code of it may still run and must be interrupted.
    fn expire(&self) -> bool;
    /// Raises the cancellation in the thread that runs it (on the canceller, GIL held).
    fn interrupt(&self, py: Python<'_>);
}

type Job = Arc<dyn Interruptible>;

pub enum Task {
    Send(LocalPid, Outgoing),
    FlushLogs,
    /// A deadline earlier than the next planned wake-up was registered.
    Wake,
}

struct Threads {
    timer: Sender<Task>,
    cancel: Sender<Job>,
    janitor: Sender<usize>,
}

static THREADS: OnceLock<Threads> = OnceLock::new();

/// Dirty calls running now that have a deadline: at most one per dirty scheduler. A
/// call registers through a `Deadline` guard, which removes it however the call ends.
static DIRTY_DEADLINES: Mutex<Vec<(Instant, Job)>> = Mutex::new(Vec::new());
/// When the timer next wakes up, in nanoseconds since BASE.
static NEXT_WAKE: AtomicU64 = AtomicU64::new(0);
static BASE: OnceLock<Instant> = OnceLock::new();

fn since_base(t: Instant) -> u64 {
    t.saturating_duration_since(*BASE.get_or_init(Instant::now))
        .as_nanos() as u64
}

fn deadlines() -> MutexGuard<'static, Vec<(Instant, Job)>> {
    DIRTY_DEADLINES.lock().unwrap_or_else(|p| p.into_inner())
}

/// A dirty call's deadline, registered for as long as the guard lives.
pub struct Deadline(Job);

impl Deadline {
    pub fn new(at: Instant, job: Job) -> Deadline {
        deadlines().push((at, job.clone()));
        if since_base(at) < NEXT_WAKE.load(Ordering::Acquire) {
            post(Task::Wake);
        }
        Deadline(job)
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        deadlines().retain(|(_, j)| !Arc::ptr_eq(j, &self.0));
    }
}

pub fn post(task: Task) {
    if let Some(t) = THREADS.get() {
        let _ = t.timer.send(task);
    }
}

/// Asks the canceller to raise `erlang.Cancelled` in the thread that runs `job`.
pub fn cancel(job: Job) {
    if let Some(t) = THREADS.get() {
        let _ = t.cancel.send(job);
    }
}

/// Hands a Python object whose last Erlang reference is gone to the janitor, which
/// drops it with the GIL. Without Python running, the object is left as it is.
pub fn release(obj: Py<PyAny>) {
    if let Some(t) = THREADS.get() {
        let _ = t.janitor.send(obj.into_ptr() as usize);
    } else {
        std::mem::forget(obj);
    }
}

pub fn start() {
    THREADS.get_or_init(|| {
        let python = super::interp::runtime().is_ok();
        let (timer, timer_rx) = unbounded::<Task>();
        let (cancel, cancel_rx) = unbounded::<Job>();
        let (janitor, janitor_rx) = unbounded::<usize>();
        spawn("py-timer", move || timer_loop(timer_rx));
        if python {
            spawn("py-cancel", move || cancel_loop(cancel_rx));
            spawn("py-janitor", move || janitor_loop(janitor_rx));
        }
        Threads {
            timer,
            cancel,
            janitor,
        }
    });
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) {
    if let Err(e) = std::thread::Builder::new().name(name.into()).spawn(f) {
        eprintln!("py_nif: cannot start thread {name}: {e}");
    }
}

fn timer_loop(rx: Receiver<Task>) {
    loop {
        let now = Instant::now();
        let earliest = deadlines().iter().map(|(at, _)| *at).min();
        let wait = earliest
            .map(|at| at.saturating_duration_since(now))
            .unwrap_or(TIMER_TICK)
            .min(TIMER_TICK);
        NEXT_WAKE.store(since_base(now + wait), Ordering::Release);
        match rx.recv_timeout(wait) {
            Ok(Task::Send(pid, out)) => out.send(pid),
            Ok(Task::FlushLogs) => super::logging::flush(),
            Ok(Task::Wake) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        // Due deadlines leave the list: each fires once, and a call that ends without
        // noticing (a panic) cannot make this loop spin.
        let due: Vec<Job> = {
            let mut list = deadlines();
            let (due, rest): (Vec<_>, Vec<_>) = list.drain(..).partition(|(at, _)| *at <= now);
            *list = rest;
            due.into_iter().map(|(_, j)| j).collect()
        };
        for job in due {
            if job.expire() {
                cancel(job);
            }
        }
    }
}

fn cancel_loop(rx: Receiver<Job>) {
    let pinned = Pinned::new();
    loop {
        match rx.recv_timeout(PROBE_EVERY) {
            Ok(job) => gil::probe(&pinned, |py| {
                job.interrupt(py);
                while let Ok(more) = rx.try_recv() {
                    more.interrupt(py);
                }
            }),
            Err(RecvTimeoutError::Timeout) => gil::probe(&pinned, |_| {}),
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}

fn janitor_loop(rx: Receiver<usize>) {
    let _pinned = Pinned::new();
    loop {
        let first = match rx.recv_timeout(JANITOR_TICK) {
            Ok(ptr) => Some(ptr),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        // Attaching also runs pyo3's queue of deferred decrefs.
        Python::attach(|py| {
            gil::taken();
            let batch = first
                .into_iter()
                .chain(std::iter::from_fn(|| rx.try_recv().ok()))
                .take(JANITOR_BATCH);
            for ptr in batch {
                // Each pointer is one reference given up by `release`.
                drop(unsafe {
                    Bound::<PyAny>::from_owned_ptr(py, ptr as *mut pyo3::ffi::PyObject)
                });
            }
        });
    }
}
