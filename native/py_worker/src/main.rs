//! `py_worker`: CPython in an OS process of its own, driven by the VM over an Erlang port
//! (docs/worker-protocol.md is the contract). The main thread runs Python, and reads
//! fd 3 while it waits for work; a reader thread reads fd 3 while a job runs (cancels,
//! output acks), and queues jobs and replies for the main thread.
//!
//! The modules: `wire` (packets on fds 3/4), `hello` (start-up settings and `ready`),
//! `state` (what the two threads share, and who reads fd 3), `reader` (the reader
//! thread, and what each packet does), `stack` (a big stack for the main thread), `ctx`
//! (what every job needs, and the stack of running jobs as Python sees it), `jobs`
//! (what a job does and its reply), `code` (eval/exec), `table` (the handle table),
//! `output` (Python's output with back-pressure), `pymod` (the `_erlang` module).
mod code;
mod ctx;
mod hello;
mod jobs;
mod output;
mod pymod;
mod reader;
mod stack;
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
    stack::grow_main_stack();
    widen_pipes();
    keep_freed_memory();

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

/// Pipes of 1 MiB (Linux's default `pipe-max-size`) instead of 64 KiB, so that a big
/// argument or result crosses in a few writes instead of many rounds of a full pipe
/// waking its reader. Where the kernel refuses, the pipes stay as they are.
fn widen_pipes() {
    for fd in [wire::IN_FD, wire::OUT_FD] {
        // SAFETY: fcntl on the protocol's own fds; a failure changes nothing.
        unsafe { libc::fcntl(fd, libc::F_SETPIPE_SZ, 1 << 20) };
    }
}

/// Big blocks (a 1 MiB argument, its `str`) come from the heap and go back to it
/// instead of being mapped and unmapped each time: fresh pages fault in one by one,
/// which cost more than the copy itself on this kind of virtual machine.
fn keep_freed_memory() {
    // SAFETY: plain settings of glibc's allocator, before anything is allocated in bulk.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 << 20);
    }
}
