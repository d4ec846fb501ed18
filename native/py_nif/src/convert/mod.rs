//! Values both ways, as docs/types.md maps them: Erlang terms to Python objects
//! (`to_python`) and back (`to_erlang`), handles and markers, the opaque Erlang terms
//! Python holds (`terms`), `py:value/1` and `py:to_binary/1` (`values`), proxy handles and jobs written for a worker (`proxy`), numpy arrays
//! both ways (`array`), and errors rendered to Erlang reasons (`reason`). Knows
//! nothing of jobs or contexts. Depends on `base` and `runtime`.
pub mod array;
pub mod handle;
pub mod proxy;
pub mod reason;
pub mod terms;
pub mod to_erlang;
pub mod to_python;
pub mod values;
