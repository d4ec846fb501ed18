//! Process-wide entry points: versions, the py server, output acknowledgements, the
//! count of live handles.
use crate::base::atoms;
use crate::base::env::binary;
use crate::convert::handle;
use crate::exec::{job::JobRes, output};
use crate::runtime::{interp, logging};
use rustler::{Atom, Encoder, Env, LocalPid, ResourceArc, Term};
use std::sync::atomic::Ordering;

#[rustler::nif]
fn versions(env: Env<'_>) -> Term<'_> {
    let bin = |v: &str| binary(env, v.as_bytes());
    match interp::runtime() {
        Ok(rt) => Term::map_from_pairs(
            env,
            &[
                (atoms::nif().encode(env), bin(env!("CARGO_PKG_VERSION"))),
                (atoms::python().encode(env), bin(&rt.version)),
                (atoms::executable().encode(env), bin(&rt.executable)),
            ],
        )
        .unwrap_or_else(|_| atoms::error().encode(env)),
        Err(e) => e.encode_tagged(env),
    }
}

#[rustler::nif]
fn set_server(pid: LocalPid) -> Atom {
    logging::set_server(pid);
    output::server_output_reset(pid);
    atoms::ok()
}

/// Output chunks as `[{stdout | stderr, binary()}]`.
fn chunks<'a>(env: Env<'a>, chunks: Vec<py_core::output::Chunk>) -> Term<'a> {
    let list: Vec<Term<'a>> = chunks
        .iter()
        .map(|c| {
            let stream = if c.stderr {
                atoms::stderr()
            } else {
                atoms::stdout()
            };
            (stream, binary(env, &c.data)).encode(env)
        })
        .collect();
    list.encode(env)
}

/// The caller wrote one output message of this job: what the job wrote meanwhile.
#[rustler::nif]
fn output_ack(env: Env<'_>, job: ResourceArc<JobRes>) -> Term<'_> {
    chunks(env, job.0.output.ack())
}

/// The py server wrote one output message: what was written meanwhile.
#[rustler::nif]
fn server_output_ack(env: Env<'_>) -> Term<'_> {
    chunks(env, output::server_output_ack())
}

#[rustler::nif]
fn handle_count() -> i64 {
    handle::LIVE.load(Ordering::Relaxed)
}
