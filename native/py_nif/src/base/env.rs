//! Environments and terms: small helpers over the raw NIF API, for the hot paths where
//! rustler's safe wrappers would cost an extra check or allocation.
use crate::base::tuning::ENV_POOL_MAX;
use rustler::sys::{self, ErlNifTerm as ERL_NIF_TERM};
use rustler::{Env, LocalPid, OwnedEnv, Term};

/// A new binary term holding a copy of `bytes`.
pub fn binary<'a>(env: Env<'a>, bytes: &[u8]) -> Term<'a> {
    unsafe {
        let mut term = ERL_NIF_TERM::default();
        let ptr = sys::enif_make_new_binary(env.as_c_arg(), bytes.len(), &mut term);
        if !bytes.is_empty() {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), ptr, bytes.len());
        }
        Term::new(env, term)
    }
}

/// Copies a term that lives in another (still alive) environment into `env`.
pub fn copy(env: Env<'_>, term: ERL_NIF_TERM) -> Term<'_> {
    unsafe { Term::new(env, sys::enif_make_copy(env.as_c_arg(), term)) }
}

/// True on a thread that ERTS did not create (our context and housekeeping threads,
/// and Python threads). Only there may a message be sent without a caller environment.
pub fn on_own_thread() -> bool {
    unsafe { sys::enif_thread_type() == sys::ERL_NIF_THR_UNDEFINED }
}

/// Sends a message from inside a NIF call or a resource callback, where `caller` is the
/// environment of the running process or callback.
pub fn send_from(caller: Env<'_>, pid: &LocalPid, msg: Term<'_>) -> bool {
    unsafe {
        sys::enif_send(
            caller.as_c_arg(),
            pid.as_c_arg(),
            std::ptr::null_mut(),
            msg.as_c_arg(),
        ) != 0
    }
}

/// Process-independent environments are reused: allocating and freeing one per job and
/// per reply costs more than a small call's copy. A cleared environment goes back to a
/// bounded pool shared by all threads.
static ENV_POOL: std::sync::Mutex<Vec<OwnedEnv>> = std::sync::Mutex::new(Vec::new());

/// A process-independent environment from the pool (or a new one), cleared and given
/// back to the pool when dropped.
pub struct PooledEnv(Option<OwnedEnv>);

impl PooledEnv {
    pub fn take() -> PooledEnv {
        let mut pool = ENV_POOL.lock().unwrap_or_else(|p| p.into_inner());
        PooledEnv(Some(pool.pop().unwrap_or_default()))
    }

    pub fn env(&self) -> &OwnedEnv {
        self.0.as_ref().expect("present until dropped")
    }
}

impl Drop for PooledEnv {
    fn drop(&mut self) {
        if let Some(mut env) = self.0.take() {
            env.clear();
            let mut pool = ENV_POOL.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < ENV_POOL_MAX {
                pool.push(env);
            }
        }
    }
}

/// The text of a panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

/// Locks a mutex, even one poisoned by a panic: the data behind our locks stays
/// consistent (each critical section is a few assignments).
pub fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
