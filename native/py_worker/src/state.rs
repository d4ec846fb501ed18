//! What the reader thread and the main thread share: the queue of work for the main
//! thread, the jobs on the main thread's stack (the running one last), and the jobs
//! marked cancelled. One mutex holds it all, so that a cancel and the main thread's
//! moves between running and waiting cannot cross (docs/worker-protocol.md,
//! "Interrupts" and "Nested calls").
use py_core::output::Sink;
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

/// A job packet, its header read.
pub struct JobMsg {
    pub id: u64,
    pub parent: u64,
    /// 0 term, 1 term with `None` as `nil`, 2 handle.
    pub ret: u8,
    /// ETF of `{Caller, Job}`.
    pub body: Vec<u8>,
}

/// Work for the main thread.
pub enum Msg {
    Job(JobMsg),
    /// A callback reply: the job that waits for it and the ETF of the reply.
    Reply {
        id: u64,
        body: Vec<u8>,
    },
    /// Cancel a job that waits for a callback reply.
    Cancel(u64),
    /// Drop these objects from the handle table.
    Release(Vec<u64>),
}

/// A job on the main thread's stack.
pub struct Running {
    pub id: u64,
    /// Waiting for a callback reply (not running Python).
    pub waiting: bool,
    /// Its output's back-pressure (acks reach it from the reader thread).
    pub output: Arc<Sink>,
}

#[derive(Default)]
pub struct Inner {
    pub queue: VecDeque<Msg>,
    pub stack: Vec<Running>,
    /// Jobs cancelled while on the stack (few at a time: the ids of a cancelled stack).
    pub marked: Vec<u64>,
    /// The main thread sleeps on the condition variable (a push must wake it).
    pub sleeping: bool,
}

impl Inner {
    /// The job running Python now, if any (the innermost job, unless it waits).
    pub fn executing(&self) -> Option<u64> {
        self.stack.last().filter(|r| !r.waiting).map(|r| r.id)
    }

    pub fn on_stack(&self, id: u64) -> Option<&Running> {
        self.stack.iter().rev().find(|r| r.id == id)
    }

    pub fn is_marked(&self, id: u64) -> bool {
        self.marked.contains(&id)
    }
}

pub struct Shared {
    inner: Mutex<Inner>,
    wake: Condvar,
}

static SHARED: OnceLock<Shared> = OnceLock::new();

pub fn shared() -> &'static Shared {
    SHARED.get_or_init(|| Shared {
        inner: Mutex::new(Inner::default()),
        wake: Condvar::new(),
    })
}

impl Shared {
    pub fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues work for the main thread, waking it if it sleeps.
    pub fn push(&self, msg: Msg) {
        let mut st = self.lock();
        st.queue.push_back(msg);
        let sleeping = st.sleeping;
        drop(st);
        if sleeping {
            self.wake.notify_one();
        }
    }

    /// The first queued message that `take` accepts, waiting for one (call without the
    /// GIL). Messages it passes over stay queued, in order.
    pub fn next(&self, take: impl Fn(&Inner, &Msg) -> bool) -> Msg {
        let mut st = self.lock();
        loop {
            let found = st.queue.iter().position(|m| take(&st, m));
            if let Some(i) = found {
                st.sleeping = false;
                if let Some(msg) = st.queue.remove(i) {
                    return msg;
                }
            }
            st.sleeping = true;
            st = self.wake.wait(st).unwrap_or_else(|p| p.into_inner());
        }
    }
}
