//! Start-up of the embedded interpreter, once per OS process, inside the NIF's load.
use super::logging;
use pyo3::ffi;
use pyo3::prelude::*;
use serde::Deserialize;
use std::ffi::{CStr, CString};
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
    let executable = choose_executable(info);
    check_paths(info, &executable)?;

    let mut config: ffi::PyConfig = std::mem::zeroed();
    ffi::PyConfig_InitPythonConfig(&mut config);
    // The BEAM owns signals and stdio: Python must not install handlers or reconfigure them.
    config.install_signal_handlers = 0;
    config.configure_c_stdio = 0;
    config.parse_argv = 0;
    let exe = CString::new(executable.clone()).map_err(|e| e.to_string())?;
    // `executable` (not PYTHONHOME) selects a virtualenv: Python reads pyvenv.cfg next to it.
    let status = ffi::PyConfig_SetBytesString(&mut config, &mut config.executable, exe.as_ptr());
    if ffi::PyStatus_Exception(status) != 0 {
        ffi::PyConfig_Clear(&mut config);
        return Err(format!("bad Python executable {executable:?}"));
    }
    let status = ffi::Py_InitializeFromConfig(&config);
    ffi::PyConfig_Clear(&mut config);
    if ffi::PyStatus_Exception(status) != 0 {
        let msg = if status.err_msg.is_null() {
            "Py_InitializeFromConfig failed".to_string()
        } else {
            CStr::from_ptr(status.err_msg)
                .to_string_lossy()
                .into_owned()
        };
        return Err(format!("{msg} (executable {executable:?})"));
    }

    let setup = Python::attach(|py| -> PyResult<Started> {
        let sys = py.import("sys")?;
        let sys_path = sys.getattr("path")?;
        for p in info.path.iter().rev() {
            sys_path.call_method1("insert", (0, p))?;
        }
        if let Some(pkg) = &info.python_pkg {
            sys_path.call_method1("insert", (0, pkg))?;
        }
        refuse_fork()?;
        super::pytypes::setup(py)?;
        let text = |name: &str| -> PyResult<String> { sys.getattr(name)?.extract::<String>() };
        Ok(Started {
            version: text("version")?,
            prefix: text("prefix")?,
            base_prefix: text("base_prefix")?,
            base_executable: text("_base_executable").or_else(|_| text("executable"))?,
        })
    });

    // Release the GIL that start-up left us holding; every later thread takes it in turn.
    ffi::PyEval_SaveThread();

    let started =
        setup.map_err(|e| Python::attach(|py| crate::base::error::describe_text(py, e)))?;
    // One line that says which Python runs, with which packages: the first thing to
    // look at when an import fails.
    let venv = match info.venv.as_deref().filter(|v| !v.is_empty()) {
        Some(v) => format!("venv {v}"),
        None => "no venv".to_string(),
    };
    logging::info(format!(
        "python {} started: {}, {venv}, sys.prefix {} (base {})",
        started.version.split_whitespace().next().unwrap_or(""),
        started.base_executable,
        started.prefix,
        started.base_prefix
    ));
    Ok(Runtime {
        executable,
        version: started.version,
    })
}

/// What the interpreter says about itself once it runs.
struct Started {
    version: String,
    prefix: String,
    base_prefix: String,
    base_executable: String,
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

/// Python quietly falls back to its built-in prefix when the executable it is given does
/// not exist, which would hide a mistyped venv until an import fails: say it at once.
fn check_paths(info: &LoadInfo, executable: &str) -> Result<(), String> {
    if let Some(venv) = info.venv.as_deref().filter(|v| !v.is_empty()) {
        let cfg = std::path::Path::new(venv).join("pyvenv.cfg");
        if !cfg.is_file() {
            return Err(format!("venv {venv:?} is not a virtualenv (no pyvenv.cfg)"));
        }
    }
    if !std::path::Path::new(executable).exists() {
        return Err(format!("no Python executable at {executable:?}"));
    }
    // A venv (or python) of another Python 3.11 starts, with the other's standard
    // library, and fails at the first import of a C module: refuse it here instead.
    if let Some(embedded) = option_env!("PY_NIF_BUILD_PYTHON") {
        let full = embedded_version();
        let minor: String = full.split('.').take(2).collect::<Vec<_>>().join(".");
        py_core::venv::check(
            std::path::Path::new(executable),
            info.venv.as_deref().filter(|v| !v.is_empty()),
            std::path::Path::new(embedded),
            &minor,
            &full,
        )?;
    }
    Ok(())
}

/// The version of the libpython we are linked against ("3.11.7"); callable before the
/// interpreter starts.
fn embedded_version() -> String {
    // SAFETY: Py_GetVersion returns a static C string, valid before initialization.
    let text = unsafe { CStr::from_ptr(ffi::Py_GetVersion()) }.to_string_lossy();
    text.split_whitespace().next().unwrap_or("").to_string()
}

fn choose_executable(info: &LoadInfo) -> String {
    if let Some(venv) = info.venv.as_deref().filter(|v| !v.is_empty()) {
        return format!("{}/bin/python", venv.trim_end_matches('/'));
    }
    if let Some(python) = info.python.as_deref().filter(|p| !p.is_empty()) {
        return python.to_string();
    }
    option_env!("PY_NIF_BUILD_PYTHON")
        .unwrap_or("python3")
        .to_string()
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
