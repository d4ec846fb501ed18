//! Messages built in an environment of their own, sent from any thread: our threads
//! send directly; a scheduler thread, which may not send without its own process
//! environment, hands the message to the timer thread.
use crate::base::env::{copy, on_own_thread, PooledEnv};
use rustler::sys::{self, ErlNifTerm as ERL_NIF_TERM};
use rustler::{Env, LocalPid, Term};

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
            super::housekeeping::post(super::housekeeping::Task::Send(pid, self));
        }
    }
}
