//! The interpreter and the threads around it: start-up (once per OS process), the
//! Python types of the `erlang` package, thread states and the GIL, big stacks for
//! dirty schedulers, the timer, canceller and janitor threads, messages sent from any
//! thread, and logging. Depends on `base` only.
pub mod gil;
pub mod housekeeping;
pub mod interp;
pub mod interrupt;
pub mod logging;
pub mod outgoing;
pub mod pytypes;
pub mod stack;
