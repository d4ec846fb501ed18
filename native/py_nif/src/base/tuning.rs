//! The numbers the NIF is tuned with, together, each with what it trades and what was
//! measured (on the 2-core CI machine, OTP 25, Python 3.11; see docs/speed.md and the
//! closing notes of the speed issues). Limits that are correctness, not tuning (OTP's
//! 128-pair map limit, say), stay beside the code they guard.
use std::time::Duration;

// ------------------------------------------------------------------ the call path

/// How long an idle context polls its queue before it parks: a call that comes within
/// this window skips the wake-up of a parked thread (several microseconds). 20 to 200 µs
/// measured within noise of each other; 40 µs keeps an idle VM's CPU low.
pub const SPIN: Duration = Duration::from_micros(40);
/// How often a spinning context gives up the CPU. Yielding on every poll handed the CPU
/// back and forth between two idle contexts on one core (415k against 578k calls/s with
/// 8 callers); 5 µs was worse, 10 to 30 µs alike.
pub const YIELD_EVERY: Duration = Duration::from_micros(10);
/// Polls between two readings of the clock while spinning or waiting (a reading costs
/// about 20 ns, a poll a few).
pub const CLOCK_EVERY: u32 = 16;
/// Jobs a context runs back to back without giving up the GIL when they are queued: a
/// GIL hand-over per job costs more than the job under load.
pub const BATCH: usize = 32;
/// How long a caller waits in the NIF for a job it gave to an idle context. A trivial
/// call takes the context about a microsecond, a reply by message to a sleeping process
/// several; longer waits hold a scheduler that other callers need.
pub const WAIT: Duration = Duration::from_micros(10);
/// Above this many terms, copying a job's arguments could hold a normal scheduler for
/// about a millisecond: `submit/4` answers `too_large` and the caller uses the dirty
/// `submit_large/4`.
pub const SUBMIT_BUDGET: isize = 20_000;
/// Cleared environments kept for reuse: allocating and freeing one per job and per
/// reply cost more than a small call's copy.
pub const ENV_POOL_MAX: usize = 256;

// ------------------------------------------------------------------ conversion

/// `bytes` longer than this become binaries that point into the Python object (no copy);
/// shorter ones are cheaper to copy than to wrap in a resource.
pub const ZERO_COPY_BYTES: usize = 512;
/// Below this depth no cycle can hide unnoticed for long; past it, each container is
/// checked against the path that leads to it (a check per level would cost every
/// nested result).
pub const CYCLE_CHECK_DEPTH: usize = 64;
/// Terms converted between two looks at whether the job was given up (a look is a
/// thread-local read; 65,536 terms take about a millisecond).
pub const INTERRUPT_EVERY: usize = 1 << 16;

// ------------------------------------------------------------------ per-context caches

// Compiled `eval`/`exec` sources kept per context: `py_core::code::CODE_CACHE_MAX`,
// shared with the worker.
/// `{Mod, Fun}` atom pairs resolved per context (cleared when full); a cached pair
/// builds no name at all, about 170 ns less per call.
pub const ATOM_NAMES_MAX: usize = 4096;

// ------------------------------------------------------------------ safety threads

/// The timer's longest sleep when no deadline is near.
pub const TIMER_TICK: Duration = Duration::from_millis(100);
/// How often an idle janitor attaches anyway, to run decrefs that pyo3 queued for
/// objects dropped without the GIL elsewhere.
pub const JANITOR_TICK: Duration = Duration::from_secs(1);
/// Objects the janitor drops under one taking of the GIL.
pub const JANITOR_BATCH: usize = 1024;
/// How often the canceller probes the GIL. Each probe makes a thread that runs Python
/// hand the GIL over once (Python's switch interval is 5 ms): a few microseconds of it.
pub const PROBE_EVERY: Duration = Duration::from_millis(20);
/// A probe that has waited this long for the GIL means a holder that does not let go:
/// a thread running bytecode hands it over within the 5 ms switch interval, and a few
/// waiting threads take a few intervals more.
pub const STUCK_AFTER: Duration = Duration::from_millis(100);

// ------------------------------------------------------------------ stacks

/// The stack of a context thread, and of the segment dirty calls run Python on. Python
/// recursion through C (`sum(map(f, ...))`) uses the C stack at every level: 600 levels
/// overflowed a dirty scheduler's own stack, while this holds the default recursion
/// limit of 1,000 (a RecursionError, not a crash).
pub const BIG_STACK: usize = 16 * 1024 * 1024;
/// Below this much room, recursive conversion continues on a new segment.
pub const STACK_RED_ZONE: usize = 128 * 1024;
/// The size of such a segment.
pub const STACK_GROW: usize = 4 * 1024 * 1024;
