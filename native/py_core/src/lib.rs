//! The parts of the py NIF that need Python but not the BEAM, so that `cargo test` can
//! exercise them with a real interpreter: dotted-name resolution, exception formatting,
//! bignum encoding, the job state machine, the pool's choice of context and the
//! back-pressure of Python's output; the check, before Python starts, that a venv
//! belongs to the embedded Python; the interpreter's start-up, which the NIF and the
//! worker share; and the external term format to Python and back, for the worker.
pub mod array;
pub mod bigint;
pub mod code;
pub mod encoders;
pub mod etf;
pub mod exception;
pub mod jobstate;
pub mod names;
pub mod output;
pub mod pool;
pub mod startup;
pub mod venv;

#[cfg(test)]
mod testing;
