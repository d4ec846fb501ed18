//! Small helpers over the raw NIF API, for the hot paths where rustler's safe wrappers
//! would cost an extra check or allocation.
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
const ENV_POOL_MAX: usize = 256;
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

/// A message built in an environment of its own, ready to go to any process.
pub struct Outgoing {
    env: PooledEnv,
    msg: ERL_NIF_TERM,
}
// The environment is only touched by the one thread that sends it.
unsafe impl Send for Outgoing {}

impl Outgoing {
    pub fn build<E>(
        build: impl for<'a> FnOnce(Env<'a>) -> Result<Term<'a>, E>,
    ) -> Result<Outgoing, E> {
        let env = PooledEnv::take();
        let msg = env.env().run(|e| build(e).map(|t| t.as_c_arg()))?;
        Ok(Outgoing { env, msg })
    }

    /// The message, copied into `env`.
    pub fn load<'a>(&self, env: Env<'a>) -> Term<'a> {
        copy(env, self.msg)
    }

    /// Reads the message in its own environment.
    pub fn run<R>(&self, f: impl for<'a> FnOnce(Env<'a>, Term<'a>) -> R) -> R {
        let msg = self.msg;
        self.env.env().run(|e| f(e, unsafe { Term::new(e, msg) }))
    }

    /// Sends from our own threads directly; a scheduler thread may not send without its
    /// own process environment, so there the housekeeping thread sends it.
    pub fn send(self, pid: LocalPid) {
        if on_own_thread() {
            let env = self.env.env().run(|e| e.as_c_arg());
            // The environment is cleared for reuse when `self` drops.
            unsafe { sys::enif_send(std::ptr::null_mut(), pid.as_c_arg(), env, self.msg) };
        } else {
            crate::housekeeping::post(crate::housekeeping::Task::Send(pid, self));
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
