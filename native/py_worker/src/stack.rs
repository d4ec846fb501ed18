//! A big stack for the main thread, which runs Python. CPython recursion through C code
//! (`sorted(key=f)` inside `f`, `sum(map(f, ...))`) uses the C stack at every level,
//! several KiB for some, so a recursion limit raised by user code (10,000) overflows the
//! usual 8 MiB: a segfault where a RecursionError was due.
//!
//! The main thread's stack mapping is grown once, at start, to [`MAIN_STACK`]: the soft
//! `RLIMIT_STACK` is raised for a moment, one page that far down is read (the kernel
//! extends the mapping; nothing is committed but that page), and the limit is put back,
//! so that processes Python starts do not inherit a raised limit (a thread's default
//! stack size follows it). The mapping is stack, not data: `max_memory` (RLIMIT_DATA)
//! does not count it, as it would count a thread's stack of that size.
use std::io::BufRead;

/// How far the main thread's stack may grow.
pub const MAIN_STACK: usize = 64 << 20;
/// Room kept free below the stack (the kernel keeps a guard gap of 1 MiB by default).
const KEEP_BELOW: usize = 4 << 20;

/// The stack mapping that holds `addr`, and the end of the mapping below it.
fn stack_mapping(addr: usize) -> Option<(usize, usize, usize)> {
    let maps = std::fs::File::open("/proc/self/maps").ok()?;
    let mut below = 0;
    for line in std::io::BufReader::new(maps).lines() {
        let line = line.ok()?;
        let range = line.split_whitespace().next()?;
        let (a, b) = range.split_once('-')?;
        let (start, end) = (
            usize::from_str_radix(a, 16).ok()?,
            usize::from_str_radix(b, 16).ok()?,
        );
        if (start..end).contains(&addr) {
            return Some((below, start, end));
        }
        below = end;
    }
    None
}

/// Grows the calling thread's (the main thread's) stack mapping to `MAIN_STACK`, as far
/// as the hard limit and the mappings below allow. Does nothing it cannot check first.
pub fn grow_main_stack() {
    let marker = 0u8;
    let here = std::hint::black_box(&marker) as *const u8 as usize;
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as usize;
    let Some((below, start, end)) = stack_mapping(here) else {
        return;
    };
    let mut old: libc::rlimit = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrlimit(libc::RLIMIT_STACK, &mut old) } != 0 {
        return;
    }
    // The size the mapping may have: MAIN_STACK, within the hard limit.
    let size = match old.rlim_max {
        libc::RLIM_INFINITY => MAIN_STACK,
        max => MAIN_STACK.min(max as usize),
    };
    // Its new low end: a page inside that size, and well above the mapping below.
    let want = (end.saturating_sub(size) + page)
        .max(below.saturating_add(KEEP_BELOW))
        .div_ceil(page)
        * page;
    if want >= start {
        return;
    }
    let raise = old.rlim_cur != libc::RLIM_INFINITY && (old.rlim_cur as usize) < size;
    if raise {
        let lim = libc::rlimit {
            rlim_cur: size as libc::rlim_t,
            rlim_max: old.rlim_max,
        };
        if unsafe { libc::setrlimit(libc::RLIMIT_STACK, &lim) } != 0 {
            return;
        }
    }
    // The kernel extends a stack mapping down to a faulting address below it.
    unsafe { std::ptr::read_volatile(want as *const u8) };
    if raise {
        unsafe { libc::setrlimit(libc::RLIMIT_STACK, &old) };
    }
}
