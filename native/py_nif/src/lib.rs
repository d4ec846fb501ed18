//! The NIF behind the `py` application: CPython embedded in the BEAM.
//!
//! Four layers, each a folder, each using only those listed before it:
//! - `base`: atoms, the error type, the job term decoded, names, environments, tuning;
//! - `runtime`: interpreter start-up, the GIL and thread states, stacks, the timer,
//!   canceller and janitor threads, messages from any thread, logging;
//! - `convert`: values both ways (docs/types.md), handles, errors rendered as terms;
//! - `exec`: jobs, contexts, pools, submission, the dirty path, callbacks, output.
//!
//! On top, `nif`: the entry points Erlang calls (docs/internals.md is the contract).
//! Python never runs on a normal scheduler: on context threads, on dirty schedulers
//! when asked, and on the janitor and canceller threads (docs/internals.md, "Where
//! things live").
mod base;
mod convert;
mod exec;
mod nif;
mod runtime;

rustler::init!("py_nif", load = nif::load);
