//! The bottom layer: what every other layer speaks. Atoms, the error type (data), the
//! job term decoded into a typed value, names read from terms, environments and terms
//! over the raw NIF API, and the tuning constants. Knows nothing of threads, the
//! interpreter's start-up, conversion or contexts.
pub mod atoms;
pub mod env;
pub mod error;
pub mod job;
pub mod names;
pub mod tuning;
