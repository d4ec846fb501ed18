//! Start-up of the embedded interpreter, once per OS process, inside the NIF's load: the
//! shared part is `py_core::startup` (the worker's too); the NIF adds libpython promoted
//! to RTLD_GLOBAL, the variables of the `env` setting, the fork audit hook and its log.
use super::logging;
use py_core::startup;
use pyo3::ffi;
use pyo3::prelude::*;
use serde::Deserialize;
use std::ffi::CStr;
use std::sync::OnceLock;

/// The load info map built by `py_nif:init/0` (see docs/internals.md).
#[derive(Deserialize, Debug, Default)]
pub struct LoadInfo {
    pub python: Option<String>,
    pub venv: Option<String>,
    #[serde(default)]
    pub path: Vec<String>,
    #[serde(default)]
    pub env: Vec<(String, String)>,
    pub python_pkg: Option<String>,
    pub max_depth: Option<usize>,
    pub max_terms: Option<usize>,
}

pub struct Runtime {
    pub executable: String,
    pub version: String,
}

static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
static MAX_DEPTH: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(10_000);

pub fn max_depth() -> usize {
    MAX_DEPTH.load(std::sync::atomic::Ordering::Relaxed)
}

static MAX_TERMS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(10_000_000);

/// The most terms one conversion may make (a value, an argument list): shared parts of
/// a Python structure expand in a term, so `t = (t, t)` 27 times would be 2^27 leaves.
pub fn max_terms() -> usize {
    MAX_TERMS.load(std::sync::atomic::Ordering::Relaxed)
}

/// The start-up result; `Err` carries the message every NIF then reports.
pub fn runtime() -> Result<&'static Runtime, crate::base::error::Error> {
    match RUNTIME.get() {
        Some(Ok(rt)) => Ok(rt),
        Some(Err(msg)) => Err(crate::base::error::Error::InitFailed(msg.clone())),
        None => Err(crate::base::error::Error::InitFailed(
            "the interpreter was not started".into(),
        )),
    }
}

pub fn start(info: LoadInfo) {
    if let Some(d) = info.max_depth {
        MAX_DEPTH.store(d.max(1), std::sync::atomic::Ordering::Relaxed);
    }
    if let Some(n) = info.max_terms {
        MAX_TERMS.store(n.max(1), std::sync::atomic::Ordering::Relaxed);
    }
    RUNTIME.get_or_init(|| {
        // Python runs on our own thread even during start-up: never on a scheduler.
        let handle = std::thread::Builder::new()
            .name("py-init".into())
            .spawn(move || unsafe { initialize(&info) })
            .map_err(|e| e.to_string());
        let result = match handle {
            Ok(h) => h
                .join()
                .unwrap_or_else(|p| Err(crate::base::env::panic_message(&*p))),
            Err(e) => Err(e),
        };
        if let Err(msg) = &result {
            tracing::error!("python start-up failed: {msg}");
        }
        result
    });
    super::housekeeping::start();
}

unsafe fn initialize(info: &LoadInfo) -> Result<Runtime, String> {
    promote_libpython()?;
    for (k, v) in &info.env {
        std::env::set_var(k, v);
    }
    let settings = startup::Settings {
        python: info.python.clone(),
        venv: info.venv.clone(),
        path: info.path.clone(),
        python_pkg: info.python_pkg.clone(),
        // The BEAM owns signals: Python must not install handlers.
        signal_handlers: false,
    };
    let started = startup::initialize(&settings, |py| {
        refuse_fork()?;
        super::pytypes::setup(py)
    })?;
    logging::info(started.summary(info.venv.as_deref()));
    Ok(Runtime {
        executable: started.executable,
        version: started.version,
    })
}

extern "C" {
    // In the C API since 3.8; not declared by pyo3-ffi.
    fn PySys_AddAuditHook(
        hook: unsafe extern "C" fn(
            *const std::os::raw::c_char,
            *mut ffi::PyObject,
            *mut std::os::raw::c_void,
        ) -> std::os::raw::c_int,
        data: *mut std::os::raw::c_void,
    ) -> std::os::raw::c_int;
}

/// `os.fork()` inside the VM made a copy of the whole BEAM: a child stuck in a futex,
/// deaf to SIGTERM, holding the parent's pipes. An audit hook (in C: it costs a string
/// comparison per audited event, and Python code cannot remove it) refuses it.
/// `subprocess` forks and execs in C without this event, so it keeps working, and
/// multiprocessing is given the 'spawn' start method by the `erlang` package.
fn refuse_fork() -> PyResult<()> {
    unsafe extern "C" fn hook(
        event: *const std::os::raw::c_char,
        _args: *mut ffi::PyObject,
        _data: *mut std::os::raw::c_void,
    ) -> std::os::raw::c_int {
        let event = CStr::from_ptr(event).to_bytes();
        if event == b"os.fork" || event == b"os.forkpty" {
            ffi::PyErr_SetString(
                ffi::PyExc_RuntimeError,
                c"os.fork() is refused inside the BEAM: the child would be a copy of the whole Erlang VM. Use subprocess, or multiprocessing (its start method is 'spawn' here).".as_ptr(),
            );
            return -1;
        }
        0
    }
    if unsafe { PySys_AddAuditHook(hook, std::ptr::null_mut()) } != 0 {
        return Err(Python::attach(PyErr::fetch));
    }
    Ok(())
}

/// The BEAM opens NIFs with RTLD_LOCAL, which hides libpython's symbols from the C
/// extension modules Python loads later (`import math` fails). Re-opening the library
/// we are linked against with RTLD_GLOBAL (and RTLD_NOLOAD: no second copy) fixes that.
unsafe fn promote_libpython() -> Result<(), String> {
    let mut dl: libc::Dl_info = std::mem::zeroed();
    if libc::dladdr(ffi::Py_InitializeFromConfig as *const libc::c_void, &mut dl) == 0
        || dl.dli_fname.is_null()
    {
        return Err("cannot locate libpython (dladdr failed)".into());
    }
    let handle = libc::dlopen(
        dl.dli_fname,
        libc::RTLD_NOLOAD | libc::RTLD_NOW | libc::RTLD_GLOBAL,
    );
    if handle.is_null() {
        let lib = CStr::from_ptr(dl.dli_fname).to_string_lossy();
        return Err(format!("cannot promote {lib} to RTLD_GLOBAL"));
    }
    Ok(())
}
