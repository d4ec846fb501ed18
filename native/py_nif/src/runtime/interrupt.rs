//! Whether the job this thread runs has been given up (timed out, cancelled), for long
//! conversions to stop early: a result that takes seconds to convert must not hold its
//! context past the caller's deadline.
use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

thread_local! {
    static CURRENT: RefCell<Vec<Arc<AtomicBool>>> = const { RefCell::new(Vec::new()) };
}

/// Marks `flag` as the running job's for as long as the guard lives (jobs nest during
/// callbacks: the innermost is the one running).
pub struct Running;

impl Running {
    pub fn new(flag: &Arc<AtomicBool>) -> Running {
        CURRENT.with(|c| c.borrow_mut().push(flag.clone()));
        Running
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        CURRENT.with(|c| c.borrow_mut().pop());
    }
}

/// True when the running job was given up.
pub fn requested() -> bool {
    CURRENT.with(|c| c.borrow().last().is_some_and(|f| f.load(Ordering::Relaxed)))
}
