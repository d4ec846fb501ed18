//! Entry points for workers (docs/worker-protocol.md): proxy handles, and jobs written
//! out as the external term format.
use crate::base::atoms;
use crate::base::tuning::SUBMIT_BUDGET;
use crate::convert::proxy::{self, Refused, Written};
use rustler::{Encoder, Env, LocalPid, Term};

#[rustler::nif]
fn proxy_new(env: Env<'_>, owner: LocalPid, generation: u64, id: u64) -> Term<'_> {
    proxy::make(env, owner, generation, id)
}

/// `{Owner, Generation, Id}` of a proxy handle, or `false`.
#[rustler::nif]
fn proxy_info<'a>(env: Env<'a>, t: Term<'a>) -> Term<'a> {
    match proxy::info(t) {
        Some((owner, generation, id)) => (owner, generation, id).encode(env),
        None => false.encode(env),
    }
}

fn write<'a>(env: Env<'a>, term: Term<'a>, marker: Term<'a>, budget: Option<isize>) -> Term<'a> {
    match proxy::write(env, term, marker, budget) {
        Ok(Written { etf, owner: None }) => (atoms::ok(), etf, atoms::none()).encode(env),
        Ok(Written {
            etf,
            owner: Some((pid, generation)),
        }) => (atoms::ok(), etf, (pid, generation)).encode(env),
        Err(Refused::OverBudget) => atoms::too_large().encode(env),
        Err(Refused::WrongPlace(h)) => (atoms::error(), (atoms::wrong_place(), h)).encode(env),
    }
}

/// `{ok, Etf, none | {Owner, Generation}}`, `too_large` (use `worker_write_large/2`) or
/// `{error, {wrong_place, Handle}}`.
#[rustler::nif]
fn worker_write<'a>(env: Env<'a>, term: Term<'a>, marker: Term<'a>) -> Term<'a> {
    write(env, term, marker, Some(SUBMIT_BUDGET))
}

/// `worker_write/2` for a big job, on a dirty scheduler.
#[rustler::nif(schedule = "DirtyCpu")]
fn worker_write_large<'a>(env: Env<'a>, term: Term<'a>, marker: Term<'a>) -> Term<'a> {
    write(env, term, marker, None)
}

/// Kills a worker's OS process (`SIGKILL`): closing a port does not stop a process
/// stuck in C, and `os:cmd("kill ...")` would start a shell. `true` if it was sent.
#[rustler::nif]
fn kill_os_process(os_pid: i64) -> bool {
    match libc::pid_t::try_from(os_pid) {
        Ok(pid) if pid > 1 => unsafe { libc::kill(pid, libc::SIGKILL) == 0 },
        _ => false,
    }
}
