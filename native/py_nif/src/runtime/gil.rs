//! The GIL as our own threads take it: thread states pinned for a thread's life, a way
//! to take the GIL that runs no user code, and a probe that tells when some thread has
//! held the GIL for too long (C code that never lets go).
use crate::base::tuning::STUCK_AFTER;
use pyo3::ffi;
use pyo3::prelude::*;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Keeps one thread state on this thread for its whole life: `Python::attach` then finds
/// it instead of creating and destroying one per call.
pub struct Pinned {
    gstate: ffi::PyGILState_STATE,
    saved: *mut ffi::PyThreadState,
    pub tid: u64,
}

impl Pinned {
    pub fn new() -> Pinned {
        unsafe {
            let gstate = ffi::PyGILState_Ensure();
            let tid = ffi::PyThread_get_thread_ident() as u64;
            let saved = ffi::PyEval_SaveThread();
            Pinned { gstate, saved, tid }
        }
    }

    /// Runs `f` with the GIL, taken with this thread's state directly. Unlike
    /// `Python::attach`, this does not first run the decrefs that other threads queued
    /// (pyo3's pool): those can run any `__del__`, which may block for ever, and the
    /// threads that use this (cancellation, the probe) must never run user code.
    /// `f` must not drop a `Py<T>`: pyo3 does not know the GIL is held here.
    pub fn with_gil<R>(&self, f: impl FnOnce(Python<'_>) -> R) -> R {
        unsafe {
            ffi::PyEval_RestoreThread(self.saved);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                f(Python::assume_attached())
            }));
            ffi::PyEval_SaveThread();
            r.unwrap_or_else(|p| std::panic::resume_unwind(p))
        }
    }
}

impl Default for Pinned {
    fn default() -> Self {
        Pinned::new()
    }
}

impl Drop for Pinned {
    fn drop(&mut self) {
        unsafe {
            ffi::PyEval_RestoreThread(self.saved);
            ffi::PyGILState_Release(self.gstate);
        }
    }
}

static BASE: OnceLock<Instant> = OnceLock::new();
/// When one of our threads last took the GIL (a context's batch, a dirty call, the
/// janitor), like `WAITING_SINCE`. A probe that waits long while the GIL still changes
/// hands only waits in a crowd: the GIL is not stuck.
static LAST_TAKEN: AtomicU64 = AtomicU64::new(0);

/// Notes one taking of the GIL by one of our threads (called with the GIL held).
pub fn taken() {
    LAST_TAKEN.store(now_ns(), Ordering::Relaxed);
}
/// When the probe began to wait for the GIL, in nanoseconds since `BASE` plus one; 0
/// while it is not waiting.
static WAITING_SINCE: AtomicU64 = AtomicU64::new(0);

fn now_ns() -> u64 {
    BASE.get_or_init(Instant::now).elapsed().as_nanos() as u64 + 1
}

/// Takes and releases the GIL on the probing thread (the canceller), recording how long
/// it waits, and runs `f` while it holds it.
pub fn probe<R>(pinned: &Pinned, f: impl FnOnce(Python<'_>) -> R) -> R {
    WAITING_SINCE.store(now_ns(), Ordering::Release);
    pinned.with_gil(|py| {
        WAITING_SINCE.store(0, Ordering::Release);
        f(py)
    })
}

/// How long the GIL has been held without a release, when that is past `STUCK_AFTER`:
/// the probe has waited that long, and none of our threads took the GIL in that time
/// either (a crowd of waiters is not a holder that never lets go).
pub fn stuck_for() -> Option<Duration> {
    let since = WAITING_SINCE.load(Ordering::Acquire);
    if since == 0 {
        return None;
    }
    let since = since.max(LAST_TAKEN.load(Ordering::Relaxed));
    let waited = Duration::from_nanos(now_ns().saturating_sub(since));
    (waited >= STUCK_AFTER).then_some(waited)
}
