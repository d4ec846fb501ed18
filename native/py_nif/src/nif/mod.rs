//! The entry points: each decodes what Erlang passed, calls the layer that does the
//! work, and renders the result. The contract is docs/internals.md.
mod jobs;
mod load;
mod pools;
mod process;
mod values;
mod worker;

pub use load::load;

use crate::base::error::Error;
use rustler::{Env, Term};

/// `Ok(Term)` as it is, `Err` as `{error, Reason}`.
fn result<'a>(env: Env<'a>, r: Result<Term<'a>, Error>) -> Term<'a> {
    r.unwrap_or_else(|e| e.encode_tagged(env))
}
