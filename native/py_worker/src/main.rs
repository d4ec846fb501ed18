//! `py_worker`: CPython in an OS process of its own, driven by the VM over an Erlang port
//! (docs/worker-protocol.md is the contract). The main thread runs Python; a reader
//! thread reads fd 3 all the time, queues jobs and replies for the main thread, and
//! handles cancels and output acks itself.
//!
//! The modules: `wire` (packets on fds 3/4), `hello` (start-up settings and `ready`),
//! `state` (what the two threads share), `reader` (the reader thread), `ctx` (what
//! every job needs, and the stack of running jobs as Python sees it), `jobs` (what a
//! job does and its reply), `code` (eval/exec), `table` (the handle table), `output`
//! (Python's output with back-pressure), `pymod` (the `_erlang` module).
mod code;
mod ctx;
mod hello;
mod jobs;
mod output;
mod pymod;
mod reader;
mod state;
mod table;
mod wire;

use pymod::_erlang as _erlang_module;
use wire::{out, to_vm, Packet, PacketReader};

/// Ends the process at once: no destructors, no atexit handlers, no interpreter
/// finalization (another thread may be running Python).
pub fn exit_now(code: i32) -> ! {
    unsafe { libc::_exit(code) }
}

/// The main thread's stack may grow to this (soft `RLIMIT_STACK`, when the hard limit
/// allows): CPython recursion through C code (`sum(map(f, ...))`) uses the C stack at
/// every level, and a recursion limit raised by user code must end in RecursionError,
/// not a segfault. The main thread's stack counts as stack, not data, so `max_memory`
/// (RLIMIT_DATA) is not spent on it; the kernel leaves at least 128 MiB below it.
const MAIN_STACK: u64 = 120 * 1024 * 1024;

fn raise_stack_limit() {
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_STACK, &mut lim) != 0 {
            return;
        }
        let want = if lim.rlim_max == libc::RLIM_INFINITY {
            MAIN_STACK
        } else {
            MAIN_STACK.min(lim.rlim_max)
        };
        if lim.rlim_cur != libc::RLIM_INFINITY && lim.rlim_cur < want {
            lim.rlim_cur = want;
            libc::setrlimit(libc::RLIMIT_STACK, &lim);
        }
    }
}

fn set_memory_limit(bytes: u64) -> Result<(), String> {
    let lim = libc::rlimit {
        rlim_cur: bytes,
        rlim_max: bytes,
    };
    if unsafe { libc::setrlimit(libc::RLIMIT_DATA, &lim) } != 0 {
        return Err(format!(
            "setrlimit(RLIMIT_DATA, {bytes}): {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Answers `{error, Msg}` in place of `ready`, and exits with status 1.
fn fail(msg: &str) -> ! {
    let mut p = Packet::new(to_vm::READY);
    p.extend(&hello::failed(msg));
    out().send(&mut p);
    exit_now(1)
}

fn main() {
    // Die with the VM. If the VM died before this line, we were re-parented: the
    // signal will never come, so look.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
    if unsafe { libc::getppid() } == 1 {
        exit_now(0);
    }
    raise_stack_limit();

    let mut input = PacketReader::stdin3();
    let hello = match input.next() {
        Ok(Some(p)) if p.first() == Some(&wire::from_vm::HELLO) => hello::parse(&p[1..]),
        Ok(Some(_)) => Err("the first packet is not hello".to_string()),
        Ok(None) | Err(_) => exit_now(0),
    };
    let hello = hello.unwrap_or_else(|msg| fail(&msg));
    if let Some(bytes) = hello.max_memory {
        set_memory_limit(bytes).unwrap_or_else(|msg| fail(&msg));
    }

    // `_erlang` must be registered before the interpreter starts; the `erlang` package
    // imports it.
    pyo3::append_to_inittab!(_erlang_module);
    // SAFETY: once, first use of Python in this process, on the thread that runs it.
    let started =
        unsafe { py_core::startup::initialize(&hello.settings, |py| ctx::setup(py, &hello)) }
            .unwrap_or_else(|msg| fail(&msg));
    let mut p = Packet::new(to_vm::READY);
    p.extend(&hello::ready(&started));
    out().send(&mut p);

    state::init(input);
    reader::spawn();
    pyo3::Python::attach(|py| jobs::serve(py))
}
