//! Pools: a fixed array of context slots and the choice of a context for a call
//! (the choice itself is py_core's, tested there).
use super::context::ContextInner;
use crate::base::atoms;
use rustler::Resource;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

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
