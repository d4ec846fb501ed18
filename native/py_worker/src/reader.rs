//! The reader thread: reads fd 3 all the time, also while Python runs, so that a cancel
//! or an output ack is seen at once. Jobs, callback replies and releases go to the main
//! thread's queue; cancels and acks are handled here, without the GIL (this thread never
//! takes it). End of input ends the process.
use crate::state::{shared, JobMsg, Msg};
use crate::wire::{self, from_vm, out, Packet, PacketReader};
use std::fs::File;

/// Starts the reader thread; `main` is the thread that runs Python (SIGINT goes there).
pub fn spawn(input: PacketReader<File>, main: libc::pthread_t) {
    let started = std::thread::Builder::new()
        .name("py-reader".into())
        .stack_size(256 * 1024)
        .spawn(move || run(input, main));
    if started.is_err() {
        crate::exit_now(1);
    }
}

fn run(mut input: PacketReader<File>, main: libc::pthread_t) {
    // SIGINT is for the main thread (a process-directed one must not land here).
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
    loop {
        match input.next() {
            Ok(Some(packet)) => handle(packet, main),
            // The VM closed the port, or died: nobody is left to answer. Python is not
            // finalized (the main thread may be running it).
            Ok(None) | Err(_) => crate::exit_now(0),
        }
    }
}

fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// One packet from the VM. A packet too short for its kind is dropped: there is no job
/// to answer for it (the owner would have a bug, which its own checks find).
fn handle(packet: &[u8], main: libc::pthread_t) {
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
                cancel(id, main);
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
        // A second hello, or a kind this worker does not know: nothing to do.
        _ => {}
    }
}

/// `cancel`: a queued job is dropped and answered `{error, cancelled}`; the running job
/// is marked and its thread gets SIGINT (the handler raises `erlang.Cancelled` if the
/// mark is still for the job running then); a job waiting for a callback reply is
/// marked and woken. A job that is neither (finished) is left alone.
fn cancel(id: u64, main: libc::pthread_t) {
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
        unsafe { libc::pthread_kill(main, libc::SIGINT) };
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
