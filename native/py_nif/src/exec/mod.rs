//! Running jobs: a job's shared state (`job`), contexts and their threads (`context`),
//! pools (`pool`), submission and the short in-NIF wait (`submit`), the dirty path
//! (`dirty`), what a job does (`run`), eval/exec and namespaces (`code`), callbacks into Erlang (`callback`), output
//! (`output`) and the `_erlang` module Python calls (`pymod`). The top layer under the
//! NIF entry points.
pub mod callback;
pub mod code;
pub mod context;
pub mod dirty;
pub mod job;
pub mod output;
pub mod pool;
pub mod pymod;
pub mod run;
pub mod submit;
