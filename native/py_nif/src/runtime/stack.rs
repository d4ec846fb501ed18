//! Stacks big enough for Python. A dirty scheduler thread has a small stack (tens of
//! kilobytes to a few hundred, set by `+sssdcpu`), while CPython recurses on the C stack
//! (`sum(map(f, ...))`, `json.dumps` of nested data): 600 levels overflowed it and killed
//! the VM. Work that runs Python on a dirty scheduler therefore runs on a segment of our
//! own, as large as a context thread's stack, so anything that runs on a context runs
//! there too (a RecursionError at worst). The segment is made once per thread and kept:
//! switching to it costs a few nanoseconds, while mapping a fresh one per call costs
//! microseconds.
//!
//! Deep data is converted recursively; `maybe_grow` continues on a fresh segment when
//! the current stack runs low. It replaces `stacker::maybe_grow`, which reads the
//! bounds of the thread's own stack and would misjudge the room left on our segment.
use crate::base::tuning::{BIG_STACK, STACK_GROW, STACK_RED_ZONE};
use std::cell::{Cell, RefCell};

thread_local! {
    /// The lowest usable address of the stack this thread runs on now; 0 until known.
    static LIMIT: Cell<usize> = const { Cell::new(0) };
    /// This thread's big segment, made on first use (dirty scheduler threads only).
    static BIG_SEGMENT: RefCell<Option<Segment>> = const { RefCell::new(None) };
    static ON_BIG: Cell<bool> = const { Cell::new(false) };
}

/// A stack segment: anonymous memory with an inaccessible guard page at its low end, so
/// an overflow faults instead of writing over a neighbour.
struct Segment {
    base: *mut u8,
    len: usize,
}

impl Segment {
    fn new(size: usize) -> Option<Segment> {
        let page = page_size();
        let len = size.div_ceil(page) * page + page;
        unsafe {
            let base = libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            );
            if base == libc::MAP_FAILED {
                return None;
            }
            if libc::mprotect(base, page, libc::PROT_NONE) != 0 {
                libc::munmap(base, len);
                return None;
            }
            Some(Segment {
                base: base as *mut u8,
                len,
            })
        }
    }

    /// The usable part: above the guard page.
    fn usable(&self) -> (*mut u8, usize) {
        let page = page_size();
        (unsafe { self.base.add(page) }, self.len - page)
    }

    /// Runs `f` on this segment. A panic in `f` is carried across the switch (psm must
    /// not unwind through its frame) and resumed on the original stack.
    fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let (base, size) = self.usable();
        let old = LIMIT.with(|l| l.replace(base as usize));
        let result = unsafe {
            psm::on_stack(base, size, move || {
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
            })
        };
        LIMIT.with(|l| l.set(old));
        match result {
            Ok(r) => r,
            Err(p) => std::panic::resume_unwind(p),
        }
    }
}

impl Drop for Segment {
    fn drop(&mut self) {
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.len) };
    }
}

fn page_size() -> usize {
    match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        n if n > 0 => n as usize,
        _ => 4096,
    }
}

/// The lowest address of the calling thread's own stack, from the thread's attributes.
fn thread_stack_limit() -> usize {
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return 0;
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let ok = libc::pthread_attr_getstack(&attr, &mut addr, &mut size) == 0;
        libc::pthread_attr_destroy(&mut attr);
        if ok {
            addr as usize
        } else {
            0
        }
    }
}

/// Room left below the stack pointer on the stack this thread runs on now.
pub fn remaining() -> usize {
    let limit = LIMIT.with(|l| {
        if l.get() == 0 {
            l.set(thread_stack_limit());
        }
        l.get()
    });
    (psm::stack_pointer() as usize).saturating_sub(limit)
}

/// Runs `f` here when the stack has `STACK_RED_ZONE` left, else on a new segment. For
/// recursive conversion of deep data.
pub fn maybe_grow<R>(f: impl FnOnce() -> R) -> R {
    if remaining() >= STACK_RED_ZONE {
        return f();
    }
    match Segment::new(STACK_GROW) {
        Some(seg) => seg.run(f),
        // No memory for a segment: the depth limit still bounds the recursion.
        None => f(),
    }
}

/// Runs `f` on this thread's big segment (made on first use and kept), unless the
/// thread already runs on it. For the dirty-scheduler entry points that run Python.
pub fn on_big_stack<R>(f: impl FnOnce() -> R) -> R {
    if ON_BIG.with(Cell::get) {
        return f();
    }
    let seg = BIG_SEGMENT.with(|s| {
        let mut s = s.borrow_mut();
        if s.is_none() {
            *s = Segment::new(BIG_STACK);
        }
        s.as_ref().map(|seg| (seg.base, seg.len))
    });
    let Some((base, len)) = seg else {
        return f();
    };
    // The segment stays in the thread-local for the thread's life; a borrow of it
    // across the switch would forbid nested use, so it is rebuilt as a view.
    let view = std::mem::ManuallyDrop::new(Segment { base, len });
    ON_BIG.with(|b| b.set(true));
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            ON_BIG.with(|b| b.set(false));
        }
    }
    let _reset = Reset;
    view.run(f)
}
