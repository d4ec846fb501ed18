//! Our threads for the work that must not run on a scheduler, split by what they may
//! wait on, so that nothing Python does can stop a timeout:
//! - the timer (`py-timer`) never touches Python: deadlines of dirty calls, messages
//!   that scheduler threads cannot send, logs;
//! - the canceller (`py-cancel`) takes the GIL only to inject `erlang.Cancelled` and to
//!   probe how long the GIL is held (see `gil`); it runs no user code, so at worst it
//!   waits for C code that holds the GIL;
//! - the janitor (`py-janitor`) drops the Python objects of collected handles. That runs
//!   their `__del__`, which may block or loop for ever: then only the janitor stops.
use crate::context::{self, JobShared};
use crate::gil::{self, Pinned};
use crate::util::Outgoing;
use crossbeam_channel::{unbounded, Receiver, RecvTimeoutError, Sender};
use pyo3::prelude::*;
use rustler::LocalPid;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// The timer's longest sleep when no deadline is near.
const TICK: Duration = Duration::from_millis(100);
/// How often an idle janitor attaches anyway, to run decrefs that pyo3 queued for
/// objects dropped without the GIL elsewhere (bytes kept by binaries, say).
const JANITOR_TICK: Duration = Duration::from_secs(1);
/// Objects the janitor drops under one taking of the GIL.
const JANITOR_BATCH: usize = 1024;

pub enum Task {
    Send(LocalPid, Outgoing),
    FlushLogs,
    /// A deadline earlier than the next planned wake-up was registered.
    Wake,
}

struct Threads {
    timer: Sender<Task>,
    cancel: Sender<Arc<JobShared>>,
    janitor: Sender<usize>,
}

static THREADS: OnceLock<Threads> = OnceLock::new();

/// Dirty calls running now that have a deadline: at most one per dirty scheduler. A
/// call registers through a `Deadline` guard, which removes it however the call ends.
static DIRTY_DEADLINES: Mutex<Vec<(Instant, Arc<JobShared>)>> = Mutex::new(Vec::new());
/// When the timer next wakes up, in nanoseconds since BASE.
static NEXT_WAKE: AtomicU64 = AtomicU64::new(0);
static BASE: OnceLock<Instant> = OnceLock::new();

fn since_base(t: Instant) -> u64 {
    t.saturating_duration_since(*BASE.get_or_init(Instant::now))
        .as_nanos() as u64
}

fn deadlines() -> MutexGuard<'static, Vec<(Instant, Arc<JobShared>)>> {
    DIRTY_DEADLINES.lock().unwrap_or_else(|p| p.into_inner())
}

/// A dirty call's deadline, registered for as long as the guard lives.
pub struct Deadline(Arc<JobShared>);

impl Deadline {
    pub fn new(at: Instant, job: Arc<JobShared>) -> Deadline {
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
pub fn cancel(job: Arc<JobShared>) {
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
        let python = crate::interp::runtime().is_ok();
        let (timer, timer_rx) = unbounded::<Task>();
        let (cancel, cancel_rx) = unbounded::<Arc<JobShared>>();
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
            .unwrap_or(TICK)
            .min(TICK);
        NEXT_WAKE.store(since_base(now + wait), Ordering::Release);
        match rx.recv_timeout(wait) {
            Ok(Task::Send(pid, out)) => out.send(pid),
            Ok(Task::FlushLogs) => crate::logging::flush(),
            Ok(Task::Wake) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let now = Instant::now();
        // Due deadlines leave the list: each fires once, and a call that ends without
        // noticing (a panic) cannot make this loop spin.
        let due: Vec<Arc<JobShared>> = {
            let mut list = deadlines();
            let (due, rest): (Vec<_>, Vec<_>) = list.drain(..).partition(|(at, _)| *at <= now);
            *list = rest;
            due.into_iter().map(|(_, j)| j).collect()
        };
        for job in due {
            context::expire(&job);
        }
    }
}

fn cancel_loop(rx: Receiver<Arc<JobShared>>) {
    let pinned = Pinned::new();
    loop {
        match rx.recv_timeout(gil::PROBE_EVERY) {
            Ok(job) => gil::probe(&pinned, |py| {
                job.inject(py);
                while let Ok(more) = rx.try_recv() {
                    more.inject(py);
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
