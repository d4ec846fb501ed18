//! Python's output, routed: to the calling process (which writes it to its group
//! leader), else to the py server (which writes it to `user`), with back-pressure
//! (`py_core::output`).
use super::callback::{current_frame, Frame};
use super::job::State;
use crate::base::atoms;
use crate::runtime::logging;
use crate::runtime::outgoing::Outgoing;
use py_core::output::{Chunk, Sink};
use pyo3::prelude::*;
use rustler::{Encoder, LocalPid};

/// Output to the py server (from dirty calls and threads outside any call), with the
/// same back-pressure as a caller's.
static SERVER_OUTPUT: Sink = Sink::new();

pub(super) fn stream_atom(stderr: bool) -> rustler::Atom {
    if stderr {
        atoms::stderr()
    } else {
        atoms::stdout()
    }
}

/// Output from Python: to the calling process (which writes it to its group leader),
/// else to the py server (which writes it to `user`). A writer far ahead of its reader
/// waits here, with the GIL released.
pub fn output(py: Python<'_>, stderr: bool, data: Vec<u8>) {
    let mut data = data;
    if let Some(Frame::Context(job)) = current_frame() {
        if job.state() == State::Running {
            match job.output.offer(stderr, data) {
                Some(chunk) if job.send_output(&chunk) => return,
                // The job stopped meanwhile: the server gets it.
                Some(chunk) => data = chunk.data,
                None => {
                    if job.output.full() {
                        py.detach(|| job.output.wait_for_room(|| job.state() == State::Running));
                    }
                    return;
                }
            }
        }
    }
    let Some(server) = logging::server() else {
        return;
    };
    match SERVER_OUTPUT.offer(stderr, data) {
        Some(chunk) => send_to_server(server, &chunk),
        None if SERVER_OUTPUT.full() => {
            py.detach(|| SERVER_OUTPUT.wait_for_room(|| logging::server().is_some()))
        }
        None => {}
    }
}

fn send_to_server(server: LocalPid, chunk: &Chunk) {
    let stream = stream_atom(chunk.stderr);
    if let Ok(out) = Outgoing::build(|e| {
        Ok::<_, ()>(
            (
                atoms::py_output(),
                stream,
                crate::base::env::binary(e, &chunk.data),
            )
                .encode(e),
        )
    }) {
        out.send(server);
    }
}

/// The py server wrote one output message: what was written meanwhile.
pub fn server_output_ack() -> Vec<Chunk> {
    SERVER_OUTPUT.ack()
}

/// A new py server: whatever was pending goes to it.
pub fn server_output_reset(server: LocalPid) {
    for chunk in SERVER_OUTPUT.reset() {
        send_to_server(server, &chunk);
    }
}
