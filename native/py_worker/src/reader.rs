//! The reader thread, and what a packet from the VM does whichever thread reads it.
//! The reader thread reads fd 3 while the main thread is busy, a job running Python
//! say (after [`TAKE_OVER`], see `state`), so that a cancel or an output ack is seen at once; it gives fd 3 back to
//! the main thread when that waits for work again. Jobs, callback replies and releases
//! go to the main thread's queue; cancels and acks are handled by the thread that reads
//! them, without the GIL (the reader thread never takes it). End of input ends the
//! process.
use crate::state::{shared, JobMsg, Msg, TAKE_OVER};
use crate::wire::{self, from_vm, out, Input, Packet};

/// Starts the reader thread.
pub fn spawn() {
    let started = std::thread::Builder::new()
        .name("py-reader".into())
        .stack_size(256 * 1024)
        .spawn(run);
    if started.is_err() {
        crate::exit_now(1);
    }
}

fn run() {
    // SIGINT is for the main thread (a process-directed one must not land here).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    loop {
        let input = wait_for_a_long_run();
        read_while_running(input);
    }
}

/// Waits until the main thread has been busy with one message (a job, a job resumed
/// by a callback reply, a release) for `TAKE_OVER` or more, and takes fd 3. Looks every
/// `TAKE_OVER` while the main thread works, and sleeps without a timeout once it has
/// been idle for a look.
fn wait_for_a_long_run() -> Input {
    let sh = shared();
    let mut st = sh.lock();
    let mut seen = st.runs;
    loop {
        if st.busy && st.runs == seen && st.input.is_some() {
            st.reader_reading = true;
            if let Some(input) = st.input.take() {
                return input;
            }
        }
        if !st.busy && st.runs == seen {
            st.reader_parked = true;
            st = sh.reader.wait(st).unwrap_or_else(|p| p.into_inner());
        } else {
            seen = st.runs;
            st = sh
                .reader
                .wait_timeout(st, TAKE_OVER)
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
    }
}

/// Reads fd 3 until the main thread wants it back.
fn read_while_running(mut input: Input) {
    let sh = shared();
    let efd = sh.give_back_fd();
    loop {
        while let Some(packet) = input.buffered() {
            handle(packet);
        }
        {
            let mut st = sh.lock();
            if st.give_back {
                st.give_back = false;
                st.reader_reading = false;
                st.input = Some(input);
                drop(st);
                // Drains the eventfd (non-blocking): the next request starts at 0.
                let mut n = 0u64;
                unsafe { libc::read(efd, &mut n as *mut u64 as *mut libc::c_void, 8) };
                sh.wake_main();
                return;
            }
        }
        let mut fds = [
            libc::pollfd {
                fd: input.fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: efd,
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        if unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) } < 0 {
            continue;
        }
        if fds[0].revents != 0 {
            match input.fill() {
                Ok(true) => {}
                // The VM closed the port, or died: nobody is left to answer. Python is
                // not finalized (the main thread may be running it).
                Ok(false) | Err(_) => crate::exit_now(0),
            }
        }
    }
}

/// The pieces of a packet read so far. The owner writes a big packet in pieces
/// (`py_worker:write/2`: one big write holds a VM scheduler while the port copies it),
/// one after another with nothing between them. Only the thread that reads fd 3 touches
/// this, and the main thread and the reader thread take turns at that.
fn pieces() -> std::sync::MutexGuard<'static, Vec<u8>> {
    static PIECES: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());
    PIECES.lock().unwrap_or_else(|p| p.into_inner())
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// One packet from the VM. A packet too short for its kind is dropped: there is no job
/// to answer for it (the owner would have a bug, which its own checks find).
pub fn handle(packet: &[u8]) {
    let Some((&kind, body)) = packet.split_first() else {
        return;
    };
    match kind {
        from_vm::JOB => {
            let (Some(id), Some(parent), Some(&ret)) =
                (u64_at(body, 0), u64_at(body, 8), body.get(16))
            else {
                return;
            };
            shared().push(Msg::Job(JobMsg {
                id,
                parent,
                ret,
                body: body[17..].to_vec(),
            }));
        }
        from_vm::REPLY => {
            if let Some(id) = u64_at(body, 0) {
                shared().push(Msg::Reply {
                    id,
                    body: body[8..].to_vec(),
                });
            }
        }
        from_vm::CANCEL => {
            if let Some(id) = u64_at(body, 0) {
                cancel(id);
            }
        }
        from_vm::RELEASE => {
            let Some(n) = u32_at(body, 0) else { return };
            let ids: Vec<u64> = (0..n as usize)
                .map_while(|i| u64_at(body, 4 + 8 * i))
                .collect();
            shared().push(Msg::Release(ids));
        }
        from_vm::ACK => {
            if let Some(id) = u64_at(body, 0) {
                crate::output::ack(id);
            }
        }
        from_vm::PIECE => pieces().extend_from_slice(body),
        from_vm::LAST_PIECE => {
            let mut whole = std::mem::take(&mut *pieces());
            whole.extend_from_slice(body);
            // A packet in pieces is never itself a piece: no recursion to bound.
            if !matches!(whole.first(), Some(&(from_vm::PIECE | from_vm::LAST_PIECE))) {
                handle(&whole);
            }
        }
        // A second hello, or a kind this worker does not know: nothing to do.
        _ => {}
    }
}

/// `cancel`: a queued job is dropped and answered `{error, cancelled}`; the running job
/// is marked and its thread gets SIGINT (the handler raises `erlang.Cancelled` if the
/// mark is still for the job running then); a job waiting for a callback reply is
/// marked and woken. A job that is neither (finished) is left alone.
fn cancel(id: u64) {
    let sh = shared();
    let mut st = sh.lock();
    let queued = st
        .queue
        .iter()
        .position(|m| matches!(m, Msg::Job(j) if j.id == id));
    if let Some(i) = queued {
        st.queue.remove(i);
        drop(st);
        send_cancelled(id);
        return;
    }
    let Some(waiting) = st.on_stack(id).map(|r| r.waiting) else {
        return;
    };
    if !st.is_marked(id) {
        st.marked.push(id);
    }
    if waiting {
        drop(st);
        sh.push(Msg::Cancel(id));
    } else if st.executing() == Some(id) {
        // Under the lock: the main thread cannot start waiting (and miss the mark) in
        // between. The handler runs on the main thread once Python checks for signals;
        // a blocking call (time.sleep) returns with EINTR and checks at once.
        unsafe { libc::pthread_kill(sh.main, libc::SIGINT) };
    }
}

/// `{error, cancelled}` for a job that never ran.
fn send_cancelled(id: u64) {
    // 131, {error, cancelled}: SMALL_TUPLE 2, SMALL_ATOM_UTF8 "error", "cancelled".
    let mut etf = vec![131, 104, 2, 119, 5];
    etf.extend_from_slice(b"error");
    etf.extend_from_slice(&[119, 9]);
    etf.extend_from_slice(b"cancelled");
    let mut p = Packet::new(wire::to_vm::RESULT);
    p.u64(id).u8(0).extend(&etf);
    out().send(&mut p);
}
