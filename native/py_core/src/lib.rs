//! The parts of the py NIF that need Python but not the BEAM, so that `cargo test` can
//! exercise them with a real interpreter: dotted-name resolution, exception formatting,
//! bignum encoding, the job state machine and the pool's choice of context.
pub mod bigint;
pub mod exception;
pub mod jobstate;
pub mod names;
pub mod pool;
