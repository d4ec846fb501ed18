//! What the reader thread and the main thread share: the queue of work for the main
//! thread, the jobs on the main thread's stack (the running one last), the jobs marked
//! cancelled, and fd 3 itself. One mutex holds it all, so that a cancel and the main
//! thread's moves between running and waiting cannot cross (docs/worker-protocol.md,
//! "Interrupts" and "Nested calls").
//!
//! Who reads fd 3: the main thread while it waits for work (a packet then wakes the
//! thread that acts on it, and no other), the reader thread while the main thread is
//! busy (a job runs Python) for longer than [`TAKE_OVER`] (so that a cancel or an output ack is seen while the
//! job runs). A trivial job thus costs one thread wake-up, not two (measured: about 4 µs
//! of worker CPU per round trip against 8). The reader thread gives fd 3 back when the
//! main thread waits again.
use crate::wire::Input;
use py_core::output::Sink;
use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// How long the main thread polls fd 3 for its next job before it sleeps (see
/// `wire::PollingFd`): a caller's next call usually comes within this, and a worker
/// with nothing to do stops polling after it.
const POLL_FOR_WORK: Duration = Duration::from_micros(50);

/// How long a job runs Python before the reader thread reads fd 3 (between one and two
/// of these: it looks this often while jobs run).
pub const TAKE_OVER: Duration = Duration::from_millis(1);

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
    /// Its output's back-pressure (acks reach it from whoever reads fd 3).
    pub output: Arc<Sink>,
}

pub struct Inner {
    pub queue: VecDeque<Msg>,
    pub stack: Vec<Running>,
    /// Jobs cancelled while on the stack (few at a time: the ids of a cancelled stack).
    pub marked: Vec<u64>,
    /// The main thread sleeps on `wake` (a push must wake it).
    pub sleeping: bool,
    /// Fd 3, when no thread is reading it.
    pub input: Option<Input>,
    /// The reader thread has fd 3.
    pub reader_reading: bool,
    /// The main thread wants fd 3 back from the reader thread.
    pub give_back: bool,
    /// The main thread is busy with a message (a job, a job resumed by a callback
    /// reply, a release), not waiting for one.
    pub busy: bool,
    /// Messages the main thread took: the reader thread compares it between two looks.
    pub runs: u64,
    /// The reader thread sleeps without a timeout (nothing ran for a while): the next
    /// run wakes it.
    pub reader_parked: bool,
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
    /// The thread that runs Python (SIGINT goes there).
    pub main: libc::pthread_t,
    inner: Mutex<Inner>,
    /// The main thread waits here.
    wake: Condvar,
    /// The reader thread waits here while it does not read.
    pub reader: Condvar,
    /// Wakes the reader thread from its `poll` of fd 3 (the main thread wants it back).
    pub give_back_fd: OwnedFd,
}

static SHARED: OnceLock<Shared> = OnceLock::new();

/// Gives fd 3 to the shared state (once, on the main thread, before the reader thread
/// starts).
pub fn init(input: Input) {
    let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if efd < 0 {
        crate::exit_now(1);
    }
    let _ = SHARED.set(Shared {
        main: unsafe { libc::pthread_self() },
        inner: Mutex::new(Inner {
            queue: VecDeque::new(),
            stack: Vec::new(),
            marked: Vec::new(),
            sleeping: false,
            input: Some(input),
            reader_reading: false,
            give_back: false,
            busy: false,
            runs: 0,
            reader_parked: false,
        }),
        wake: Condvar::new(),
        reader: Condvar::new(),
        give_back_fd: unsafe { OwnedFd::from_raw_fd(efd) },
    });
}

/// The state; set before the first job, so jobs take it as it is.
pub fn shared() -> &'static Shared {
    SHARED.get().expect("state::init at start-up")
}

/// The state, or `None` while the worker starts (for what Python can call or a signal
/// can trigger then: output, the SIGINT handler).
pub fn try_shared() -> Option<&'static Shared> {
    SHARED.get()
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

    /// Wakes the main thread (fd 3 given back).
    pub fn wake_main(&self) {
        self.wake.notify_one();
    }

    pub fn give_back_fd(&self) -> RawFd {
        self.give_back_fd.as_raw_fd()
    }

    /// The first queued message that `take` accepts, waiting for one (the main thread,
    /// without the GIL). Messages it passes over stay queued, in order. While it waits
    /// it reads fd 3 itself, or asks the reader thread to give it back.
    pub fn next(&self, take: impl Fn(&Inner, &Msg) -> bool) -> Msg {
        let mut st = self.lock();
        st.busy = false;
        let msg = self.wait_for(st, take);
        let mut st = self.lock();
        st.busy = true;
        st.runs += 1;
        if st.reader_parked {
            st.reader_parked = false;
            self.reader.notify_one();
        }
        msg
    }

    fn wait_for<'a>(
        &'a self,
        mut st: MutexGuard<'a, Inner>,
        take: impl Fn(&Inner, &Msg) -> bool,
    ) -> Msg {
        loop {
            if let Some(i) = st.queue.iter().position(|m| take(&st, m)) {
                st.sleeping = false;
                if let Some(msg) = st.queue.remove(i) {
                    return msg;
                }
            }
            if let Some(mut input) = st.input.take() {
                drop(st);
                loop {
                    match input.next_polling(POLL_FOR_WORK) {
                        Ok(Some(packet)) => crate::reader::handle(packet),
                        // The VM closed the port, or died: nobody is left to answer.
                        Ok(None) | Err(_) => crate::exit_now(0),
                    }
                    st = self.lock();
                    if let Some(i) = st.queue.iter().position(|m| take(&st, m)) {
                        // Back for the reader thread, before the job runs.
                        st.input = Some(input);
                        if let Some(msg) = st.queue.remove(i) {
                            return msg;
                        }
                        break;
                    }
                    drop(st);
                }
                continue;
            }
            if st.reader_reading && !st.give_back {
                st.give_back = true;
                let one: u64 = 1;
                unsafe {
                    libc::write(
                        self.give_back_fd(),
                        &one as *const u64 as *const libc::c_void,
                        8,
                    )
                };
            }
            st.sleeping = true;
            st = self.wake.wait(st).unwrap_or_else(|p| p.into_inner());
            st.sleeping = false;
        }
    }
}
