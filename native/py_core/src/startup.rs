//! Start-up of the embedded interpreter, once per OS process: the part the NIF (inside
//! the BEAM) and the worker (`native/py_worker`, an OS process of its own) share. Which
//! executable Python believes it is (`PyConfig.executable`, which selects a venv through
//! its `pyvenv.cfg`; never PYTHONHOME), the checks that it exists and belongs to the
//! embedded Python, `sys.path`, and what the interpreter says about itself once it runs.
//! What only the NIF needs (the fork audit hook, libpython promoted to RTLD_GLOBAL,
//! its threads and its log) stays in the NIF.
use pyo3::ffi;
use pyo3::prelude::*;
use std::ffi::{CStr, CString};

/// What start-up needs to know (the NIF's load info, the worker's `hello`).
#[derive(Debug, Default, Clone)]
pub struct Settings {
    /// A Python executable (`python` of the application env).
    pub python: Option<String>,
    /// A virtualenv directory: its `bin/python` is the executable.
    pub venv: Option<String>,
    /// Extra `sys.path` entries, in front, in this order.
    pub path: Vec<String>,
    /// The directory that holds the `erlang` package: first on `sys.path`.
    pub python_pkg: Option<String>,
    /// Whether Python installs its signal handlers (SIGINT raises, SIGPIPE ignored). Never
    /// inside the BEAM, which owns signals; the worker does, to be interrupted by SIGINT.
    pub signal_handlers: bool,
}

impl Settings {
    fn venv(&self) -> Option<&str> {
        self.venv.as_deref().filter(|v| !v.is_empty())
    }
}

/// What the interpreter says about itself once it runs.
#[derive(Debug, Clone)]
pub struct Started {
    /// The executable Python was given (a venv's `bin/python`, say).
    pub executable: String,
    /// `sys.version`.
    pub version: String,
    pub prefix: String,
    pub base_prefix: String,
    pub base_executable: String,
}

impl Started {
    /// One line that says which Python runs, with which packages: the first thing to
    /// look at when an import fails.
    pub fn summary(&self, venv: Option<&str>) -> String {
        let venv = match venv.filter(|v| !v.is_empty()) {
            Some(v) => format!("venv {v}"),
            None => "no venv".to_string(),
        };
        format!(
            "python {} started: {}, {venv}, sys.prefix {} (base {})",
            self.version.split_whitespace().next().unwrap_or(""),
            self.base_executable,
            self.prefix,
            self.base_prefix
        )
    }
}

/// The Python this crate was built against (its pinned executable), if the build knew it.
pub fn build_python() -> Option<&'static str> {
    option_env!("PY_BUILD_PYTHON")
}

/// Starts the interpreter on this thread (which becomes Python's main thread), puts
/// `python_pkg` and `path` in front of `sys.path`, runs `setup` with the GIL, and
/// releases the GIL. Built-in modules (`PyImport_AppendInittab`) must be registered
/// before. An `Err` is a message for the log or the caller.
///
/// # Safety
/// Once per process, before any other use of Python.
pub unsafe fn initialize(
    settings: &Settings,
    setup: impl FnOnce(Python<'_>) -> PyResult<()>,
) -> Result<Started, String> {
    let executable = choose_executable(settings);
    check_paths(settings, &executable)?;

    let mut config: ffi::PyConfig = std::mem::zeroed();
    ffi::PyConfig_InitPythonConfig(&mut config);
    config.install_signal_handlers = i32::from(settings.signal_handlers);
    // The embedding process owns stdio: Python must not reconfigure it.
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

    let started = Python::attach(|py| {
        let run = || -> PyResult<Started> {
            let sys = py.import("sys")?;
            let sys_path = sys.getattr("path")?;
            for p in settings.path.iter().rev() {
                sys_path.call_method1("insert", (0, p))?;
            }
            if let Some(pkg) = &settings.python_pkg {
                sys_path.call_method1("insert", (0, pkg))?;
            }
            setup(py)?;
            let text = |name: &str| -> PyResult<String> { sys.getattr(name)?.extract::<String>() };
            Ok(Started {
                executable: executable.clone(),
                version: text("version")?,
                prefix: text("prefix")?,
                base_prefix: text("base_prefix")?,
                base_executable: text("_base_executable").or_else(|_| text("executable"))?,
            })
        };
        run().map_err(|e| crate::exception::describe(py, &e).to_string())
    });

    // Release the GIL that start-up left us holding; every later user takes it in turn.
    ffi::PyEval_SaveThread();
    started
}

/// The executable Python is started as: the venv's `bin/python`, else `python`, else the
/// Python this crate was built against.
pub fn choose_executable(settings: &Settings) -> String {
    if let Some(venv) = settings.venv() {
        return format!("{}/bin/python", venv.trim_end_matches('/'));
    }
    if let Some(python) = settings.python.as_deref().filter(|p| !p.is_empty()) {
        return python.to_string();
    }
    build_python().unwrap_or("python3").to_string()
}

/// Python quietly falls back to its built-in prefix when the executable it is given does
/// not exist, which would hide a mistyped venv until an import fails: say it at once.
pub fn check_paths(settings: &Settings, executable: &str) -> Result<(), String> {
    if let Some(venv) = settings.venv() {
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
    if let Some(embedded) = build_python() {
        let full = embedded_version();
        let minor: String = full.split('.').take(2).collect::<Vec<_>>().join(".");
        crate::venv::check(
            std::path::Path::new(executable),
            settings.venv(),
            std::path::Path::new(embedded),
            &minor,
            &full,
        )?;
    }
    Ok(())
}

/// The version of the libpython we are linked against ("3.11.7"); callable before the
/// interpreter starts.
pub fn embedded_version() -> String {
    // SAFETY: Py_GetVersion returns a static C string, valid before initialization.
    let text = unsafe { CStr::from_ptr(ffi::Py_GetVersion()) }.to_string_lossy();
    text.split_whitespace().next().unwrap_or("").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_venv_wins_over_python_which_wins_over_the_build() {
        let mut s = Settings {
            venv: Some("/v/".into()),
            python: Some("/usr/bin/python3".into()),
            ..Settings::default()
        };
        assert_eq!(choose_executable(&s), "/v/bin/python");
        s.venv = Some(String::new());
        assert_eq!(choose_executable(&s), "/usr/bin/python3");
        s.python = None;
        assert_eq!(
            choose_executable(&s),
            build_python().unwrap_or("python3").to_string()
        );
    }

    #[test]
    fn a_directory_without_pyvenv_cfg_or_a_missing_executable_is_refused() {
        let s = Settings {
            venv: Some("/".into()),
            ..Settings::default()
        };
        let err = check_paths(&s, "/bin/sh").unwrap_err();
        assert!(err.contains("not a virtualenv"), "{err}");
        let err = check_paths(&Settings::default(), "/no/such/python").unwrap_err();
        assert!(err.contains("no Python executable"), "{err}");
    }

    #[test]
    fn the_embedded_version_is_known_before_start_up() {
        assert!(
            embedded_version().starts_with("3."),
            "{}",
            embedded_version()
        );
    }
}
