//! One thread of ours for the work that must not run on a scheduler: injecting
//! `erlang.Cancelled` into Python code (needs the GIL), deadlines of dirty calls,
//! messages that scheduler threads cannot send, logs, and draining the decrefs that
//! handle destructors queue.
use crate::context::{self, JobShared, Pinned};
use crate::util::Outgoing;
use crossbeam_channel::{unbounded, RecvTimeoutError, Sender};
use pyo3::prelude::*;
use rustler::LocalPid;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// Idle wake-ups: how long dropped handles may wait for their decref.
const TICK: Duration = Duration::from_millis(100);

pub enum Task {
    Send(LocalPid, Outgoing),
    FlushLogs,
    Inject(Arc<JobShared>),
    Deadline(Instant, Arc<JobShared>),
}

static TX: OnceLock<Sender<Task>> = OnceLock::new();

pub fn post(task: Task) {
    if let Some(tx) = TX.get() {
        let _ = tx.send(task);
    }
}

struct Due(Instant, Arc<JobShared>);
impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
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
                let mut deadlines: BinaryHeap<Reverse<Due>> = BinaryHeap::new();
                loop {
                    let wait = deadlines
                        .peek()
                        .map(|Reverse(d)| d.0.saturating_duration_since(Instant::now()))
                        .unwrap_or(TICK)
                        .min(TICK);
                    match rx.recv_timeout(wait) {
                        Ok(Task::Send(pid, out)) => out.send(pid),
                        Ok(Task::FlushLogs) => crate::logging::flush(),
                        Ok(Task::Inject(job)) if python => Python::attach(|py| job.inject(py)),
                        Ok(Task::Inject(_)) => {}
                        Ok(Task::Deadline(at, job)) => deadlines.push(Reverse(Due(at, job))),
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                    let now = Instant::now();
                    while deadlines.peek().is_some_and(|Reverse(d)| d.0 <= now) {
                        if let Some(Reverse(Due(_, job))) = deadlines.pop() {
                            if python {
                                context::expire(&job);
                            }
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
