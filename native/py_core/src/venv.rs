//! Which standard library a Python executable or a virtualenv would start with, worked
//! out from the file system before the interpreter starts, the way CPython's getpath
//! does: a venv's `pyvenv.cfg` names the directory of its base Python (`home`), and the
//! prefix is the first directory at or above the executable's that holds
//! `lib/pythonX.Y/os.py`.
//!
//! A venv made by another Python 3.11 (Debian's `/usr/bin/python3 -m venv`, when py
//! embeds pyenv's 3.11.7) starts without a word and then fails at `import math`: its
//! standard library comes from the other prefix. `check` refuses it first.
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The `key = value` lines of a `pyvenv.cfg`.
pub fn parse_pyvenv_cfg(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|line| line.split_once('='))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_string()))
        .collect()
}

/// The `pyvenv.cfg` that makes `executable` a venv's: next to it or one level up.
pub fn venv_cfg_of(executable: &Path) -> Option<PathBuf> {
    let dir = executable.parent()?;
    [dir.join("pyvenv.cfg"), dir.parent()?.join("pyvenv.cfg")]
        .into_iter()
        .find(|p| p.is_file())
}

/// The first directory at or above `dir` holding `lib/python<version>/os.py`.
pub fn stdlib_prefix(dir: &Path, version: &str) -> Option<PathBuf> {
    let landmark = Path::new("lib")
        .join(format!("python{version}"))
        .join("os.py");
    dir.ancestors()
        .find(|d| d.join(&landmark).is_file())
        .map(|d| d.canonicalize().unwrap_or_else(|_| d.to_path_buf()))
}

/// The base Python a venv was made by, as its `pyvenv.cfg` records it.
pub struct VenvBase {
    /// `home`: the directory of the base Python's executable.
    pub home: PathBuf,
    /// `executable` (Python 3.11 writes it), else `home/python3`.
    pub executable: String,
    /// `version`, when recorded.
    pub version: Option<String>,
}

pub fn venv_base(cfg: &Path) -> Result<VenvBase, String> {
    let text = std::fs::read_to_string(cfg).map_err(|e| format!("cannot read {cfg:?}: {e}"))?;
    let keys = parse_pyvenv_cfg(&text);
    let home = keys
        .get("home")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| format!("{cfg:?} names no base Python (no `home` line)"))?;
    let executable = keys
        .get("executable")
        .cloned()
        .unwrap_or_else(|| format!("{}/python3", home.trim_end_matches('/')));
    Ok(VenvBase {
        home: PathBuf::from(home),
        executable,
        version: keys
            .get("version")
            .or_else(|| keys.get("version_info"))
            .cloned(),
    })
}

/// The prefix of the standard library the embedded Python was built with.
pub fn embedded_prefix(embedded: &Path, version: &str) -> Option<PathBuf> {
    let real = embedded.canonicalize().ok()?;
    stdlib_prefix(real.parent()?, version)
}

/// Refuses an `executable` (a venv's python, or a plain Python) whose standard library
/// is not the embedded Python's. `embedded` is the Python the NIF was built against,
/// `version` its "X.Y", `embedded_version` its full version for the message; `venv` is
/// the venv directory as the user gave it, if any. A layout this cannot read (no
/// landmark found on either side) is let through: Python itself then decides.
pub fn check(
    executable: &Path,
    venv: Option<&str>,
    embedded: &Path,
    version: &str,
    embedded_version: &str,
) -> Result<(), String> {
    let Some(want) = embedded_prefix(embedded, version) else {
        return Ok(());
    };
    let embedded_text = embedded.display();
    let good_venv = |dir: &str| format!("{embedded_text} -m venv {dir}");
    if let Some(cfg) = venv_cfg_of(executable) {
        let base = venv_base(&cfg)?;
        let Some(got) = stdlib_prefix(&base.home, version) else {
            return Ok(());
        };
        if got == want {
            return Ok(());
        }
        let dir = venv.map(str::to_string).unwrap_or_else(|| {
            cfg.parent()
                .map(|d| d.display().to_string())
                .unwrap_or_default()
        });
        let made_by = match &base.version {
            Some(v) => format!("{} (Python {v})", base.executable),
            None => base.executable.clone(),
        };
        return Err(format!(
            "venv {dir:?} was made by {made_by}, whose standard library is under {}; \
             py embeds {embedded_text} (Python {embedded_version}, standard library under {}), \
             and would start with the wrong standard library (`import math` fails). \
             Make the venv with the embedded Python: {}",
            got.display(),
            want.display(),
            good_venv(&dir)
        ));
    }
    let Some(dir) = executable
        .canonicalize()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    else {
        return Ok(());
    };
    match stdlib_prefix(&dir, version) {
        Some(got) if got != want => Err(format!(
            "python {:?} is another Python (standard library under {}); py embeds \
             {embedded_text} (Python {embedded_version}, standard library under {}). \
             Leave `python` unset, or point `venv` at a venv made by: {}",
            executable.display(),
            got.display(),
            want.display(),
            good_venv("DIR")
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A fake Python installation: PREFIX/bin/python3.11 and PREFIX/lib/python3.11/os.py.
    fn install(root: &Path, name: &str) -> PathBuf {
        let prefix = root.join(name);
        fs::create_dir_all(prefix.join("bin")).unwrap();
        fs::create_dir_all(prefix.join("lib/python3.11")).unwrap();
        fs::write(prefix.join("lib/python3.11/os.py"), "").unwrap();
        let exe = prefix.join("bin/python3.11");
        fs::write(&exe, "").unwrap();
        exe
    }

    fn venv(root: &Path, name: &str, base: &Path, version: &str) -> PathBuf {
        let dir = root.join(name);
        fs::create_dir_all(dir.join("bin")).unwrap();
        let home = base.parent().unwrap().display().to_string();
        fs::write(
            dir.join("pyvenv.cfg"),
            format!(
                "home = {home}\ninclude-system-site-packages = false\nversion = {version}\n\
                 executable = {}\n",
                base.display()
            ),
        )
        .unwrap();
        fs::write(dir.join("bin/python"), "").unwrap();
        dir
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("py_core_venv_{name}_{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn parses_pyvenv_cfg() {
        let keys = parse_pyvenv_cfg(
            "home = /usr/bin\nversion = 3.11.2\nbad line\nexecutable=/usr/bin/python3.11\n",
        );
        assert_eq!(keys.get("home").map(String::as_str), Some("/usr/bin"));
        assert_eq!(keys.get("version").map(String::as_str), Some("3.11.2"));
        assert_eq!(
            keys.get("executable").map(String::as_str),
            Some("/usr/bin/python3.11")
        );
        assert_eq!(keys.len(), 3);
    }

    #[test]
    fn venv_of_the_embedded_python_passes() {
        let root = scratch("same");
        let embedded = install(&root, "embedded");
        let v = venv(&root, "v", &embedded, "3.11.7");
        assert_eq!(
            check(
                &v.join("bin/python"),
                v.to_str(),
                &embedded,
                "3.11",
                "3.11.7"
            ),
            Ok(())
        );
    }

    #[test]
    fn venv_of_another_python_is_refused_with_the_fix() {
        let root = scratch("other");
        let embedded = install(&root, "embedded");
        let other = install(&root, "debian");
        let v = venv(&root, "v", &other, "3.11.2");
        let err = check(
            &v.join("bin/python"),
            v.to_str(),
            &embedded,
            "3.11",
            "3.11.7",
        )
        .unwrap_err();
        assert!(
            err.contains(&format!("made by {} (Python 3.11.2)", other.display())),
            "{err}"
        );
        assert!(err.contains("Python 3.11.7"), "{err}");
        assert!(
            err.contains(&format!("{} -m venv {}", embedded.display(), v.display())),
            "{err}"
        );
    }

    #[test]
    fn another_python_executable_is_refused() {
        let root = scratch("exe");
        let embedded = install(&root, "embedded");
        let other = install(&root, "other");
        let err = check(&other, None, &embedded, "3.11", "3.11.7").unwrap_err();
        assert!(err.contains("is another Python"), "{err}");
        assert_eq!(check(&embedded, None, &embedded, "3.11", "3.11.7"), Ok(()));
    }

    #[test]
    fn a_venv_without_home_is_refused() {
        let root = scratch("nohome");
        let embedded = install(&root, "embedded");
        let dir = root.join("v");
        fs::create_dir_all(dir.join("bin")).unwrap();
        fs::write(dir.join("pyvenv.cfg"), "version = 3.11.7\n").unwrap();
        let err = check(
            &dir.join("bin/python"),
            dir.to_str(),
            &embedded,
            "3.11",
            "3.11.7",
        )
        .unwrap_err();
        assert!(err.contains("no `home` line"), "{err}");
    }

    #[test]
    fn an_embedded_python_of_unknown_layout_lets_everything_through() {
        let root = scratch("unknown");
        let other = install(&root, "other");
        let lost = root.join("lost/python3.11");
        assert_eq!(check(&other, None, &lost, "3.11", "3.11.7"), Ok(()));
    }
}
