//! Python's output as `output` packets, with the back-pressure of `py_core::output`: at
//! most four packets of a job unacknowledged, what is written meanwhile coalesced and
//! sent when an ack comes (or before the job's result). Output goes to the job running
//! on the main thread; output of other threads, or between jobs, goes with job id 0
//! (the owner writes it where the py server writes output made outside any call).
//!
//! Every send of a job's output happens under the output lock, with the sink's state
//! changed under it too: the reader thread (acks) and the main thread (writes, the
//! result) cannot put a job's packets out of order.
use crate::state::{shared, try_shared};
use crate::wire::{out, to_vm, OutGuard, Packet};
use py_core::output::{Chunk, Sink};
use pyo3::prelude::*;

/// Output made outside any job.
static BACKGROUND: Sink = Sink::new();

fn send_chunk(o: &mut OutGuard<'_>, id: u64, chunk: &Chunk) {
    let mut p = Packet::reuse(Vec::with_capacity(14 + chunk.data.len()), to_vm::OUTPUT);
    p.u64(id)
        .u8(if chunk.stderr { 2 } else { 1 })
        .extend(&chunk.data);
    o.send(&mut p);
}

/// Text written by Python to stdout (`stderr` false) or stderr.
pub fn write(py: Python<'_>, stderr: bool, data: Vec<u8>) {
    let frame = crate::ctx::current();
    let (id, sink): (u64, &Sink) = match &frame {
        Some(f) => (f.id, &f.output),
        None => (0, &BACKGROUND),
    };
    {
        let mut o = out().lock();
        match sink.offer(stderr, data) {
            Some(chunk) => {
                send_chunk(&mut o, id, &chunk);
                return;
            }
            None if !sink.full() => return,
            None => {}
        }
    }
    // Far ahead of the reader: wait (GIL released) for acks, unless the job was
    // cancelled (its caller is gone and will ack nothing more). Output outside any job
    // holds back the thread that writes it, but never the main thread, which must go
    // on serving jobs (a `__del__` that prints while a release runs, say).
    // While the worker starts (no state yet) nothing acks: never wait then.
    let Some(sh) = try_shared() else {
        return;
    };
    if id == 0 && unsafe { libc::pthread_equal(libc::pthread_self(), sh.main) } != 0 {
        return;
    }
    py.detach(|| sink.wait_for_room(|| id == 0 || !sh.lock().is_marked(id)));
}

/// What job `id` wrote and did not send yet, sent now (before its result or a callback).
pub fn flush(o: &mut OutGuard<'_>, id: u64, sink: &Sink) {
    for chunk in sink.take_for_send() {
        send_chunk(o, id, &chunk);
    }
}

/// An output ack (on the reader thread): what waited for it goes out.
pub fn ack(id: u64) {
    let sink = if id == 0 {
        None
    } else {
        match shared().lock().on_stack(id) {
            Some(r) => Some(r.output.clone()),
            // The job has ended: all its output was sent before its result.
            None => return,
        }
    };
    let sink: &Sink = sink.as_deref().unwrap_or(&BACKGROUND);
    let mut o = out().lock();
    for chunk in sink.ack_for_send() {
        send_chunk(&mut o, id, &chunk);
    }
}
