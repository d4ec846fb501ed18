//! One thread of ours for the work that must not run on a scheduler: injecting
//! `erlang.Cancelled` into Python code (needs the GIL), deadlines of dirty calls,
//! messages that scheduler threads cannot send, logs, and draining the decrefs that
//! handle destructors queue.
use crate::context::{self, JobShared, Pinned};
use crate::util::Outgoing;
use crossbeam_channel::{unbounded, RecvTimeoutError, Sender};
use pyo3::prelude::*;
use rustler::LocalPid;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// Idle wake-ups: how long dropped handles may wait for their decref.
const TICK: Duration = Duration::from_millis(100);

pub enum Task {
    Send(LocalPid, Outgoing),
    FlushLogs,
    Inject(Arc<JobShared>),
    /// A deadline earlier than the next planned wake-up was registered.
    Wake,
}

static TX: OnceLock<Sender<Task>> = OnceLock::new();

/// Dirty calls running now that have a deadline: at most one per dirty scheduler.
/// A call registers on entry and removes itself on exit, so nothing outlives its call,
/// and a call whose deadline is later than the next tick costs no message here.
static DIRTY_DEADLINES: Mutex<Vec<(Instant, Arc<JobShared>)>> = Mutex::new(Vec::new());
/// When this thread next wakes up, in nanoseconds since BASE.
static NEXT_WAKE: AtomicU64 = AtomicU64::new(0);
static BASE: OnceLock<Instant> = OnceLock::new();

fn since_base(t: Instant) -> u64 {
    t.saturating_duration_since(*BASE.get_or_init(Instant::now))
        .as_nanos() as u64
}

fn deadlines() -> MutexGuard<'static, Vec<(Instant, Arc<JobShared>)>> {
    DIRTY_DEADLINES.lock().unwrap_or_else(|p| p.into_inner())
}

/// Registers a dirty call's deadline; the call removes it with `unregister_deadline`.
pub fn register_deadline(at: Instant, job: Arc<JobShared>) {
    deadlines().push((at, job));
    if since_base(at) < NEXT_WAKE.load(Ordering::Acquire) {
        post(Task::Wake);
    }
}

pub fn unregister_deadline(job: &Arc<JobShared>) {
    deadlines().retain(|(_, j)| !Arc::ptr_eq(j, job));
}

pub fn post(task: Task) {
    if let Some(tx) = TX.get() {
        let _ = tx.send(task);
    }
}

pub fn start() {
    TX.get_or_init(|| {
        let (tx, rx) = unbounded::<Task>();
        let python = crate::interp::runtime().is_ok();
        let spawned = std::thread::Builder::new()
            .name("py-housekeeping".into())
            .spawn(move || {
                let _pinned = python.then(Pinned::new);
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
                        Ok(Task::Inject(job)) if python => Python::attach(|py| job.inject(py)),
                        Ok(Task::Inject(_)) | Ok(Task::Wake) => {}
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                    let now = Instant::now();
                    let due: Vec<Arc<JobShared>> = deadlines()
                        .iter()
                        .filter(|(at, _)| *at <= now)
                        .map(|(_, j)| j.clone())
                        .collect();
                    if python {
                        for job in &due {
                            context::expire(job);
                        }
                    }
                    if python && crate::handle::PENDING_DROPS.swap(0, Ordering::Relaxed) > 0 {
                        // Attaching is what drains pyo3's queue of deferred decrefs.
                        Python::attach(|_| {});
                    }
                }
            });
        if let Err(e) = spawned {
            eprintln!("py_nif: cannot start the housekeeping thread: {e}");
        }
        tx
    });
}
