//! The `hello` packet (docs/worker-protocol.md, "VM → worker"): everything the worker
//! needs to start, and the `ready` answer.
use py_core::etf::{tag, EtfError, Limits, Reader, Writer};
use py_core::startup::{Settings, Started};

/// What `hello` says.
#[derive(Debug, Default)]
pub struct Hello {
    pub settings: Settings,
    /// The raw ETF bytes of the marker reference `M` (no 131).
    pub marker: Vec<u8>,
    pub limits: Limits,
    /// `RLIMIT_DATA` for the whole process, in bytes.
    pub max_memory: Option<u64>,
}

fn bad(what: &str) -> String {
    format!("bad hello: {what}")
}

/// A path: a binary (UTF-8), or `undefined` for none.
fn path(r: &mut Reader<'_>, key: &str) -> Result<Option<String>, String> {
    if matches!(r.peek_tag(), Ok(tag::BINARY)) {
        let b = r.binary().map_err(|e| bad(&e.to_string()))?;
        let s = std::str::from_utf8(b).map_err(|_| bad(&format!("{key} is not UTF-8")))?;
        return Ok(Some(s.to_owned()));
    }
    match r.atom() {
        Ok(a) if a == "undefined" => Ok(None),
        _ => Err(bad(&format!("{key} is not a binary"))),
    }
}

/// A positive integer, or `undefined` for the default.
fn number(r: &mut Reader<'_>, key: &str) -> Result<Option<u64>, String> {
    if let Ok(n) = r.unsigned() {
        return Ok(Some(n));
    }
    match r.atom() {
        Ok(a) if a == "undefined" => Ok(None),
        _ => Err(bad(&format!("{key} is not a non-negative integer"))),
    }
}

/// Reads the hello map. Keys it does not know are skipped.
pub fn parse(etf: &[u8]) -> Result<Hello, String> {
    let mut hello = Hello {
        settings: Settings {
            // The worker is the process's owner of signals: SIGINT interrupts Python.
            signal_handlers: true,
            ..Settings::default()
        },
        ..Hello::default()
    };
    let read = |e: EtfError| bad(&e.to_string());
    let mut r = Reader::new(etf).map_err(read)?;
    let pairs = r.map_header().map_err(read)?;
    for _ in 0..pairs {
        let key = match r.peek_tag() {
            Ok(tag::ATOM | tag::SMALL_ATOM | tag::ATOM_UTF8 | tag::SMALL_ATOM_UTF8) => {
                r.atom().map_err(read)?.into_owned()
            }
            _ => {
                r.skip().map_err(read)?;
                r.skip().map_err(read)?;
                continue;
            }
        };
        match key.as_str() {
            "marker" => {
                let raw = r.skip().map_err(read)?;
                if !matches!(
                    raw.first(),
                    Some(&(tag::NEWER_REFERENCE | tag::NEW_REFERENCE | tag::REFERENCE))
                ) {
                    return Err(bad("marker is not a reference"));
                }
                if let Some(node) = py_core::etf::terms::node_of(raw) {
                    py_core::etf::terms::set_local_node(&node);
                }
                hello.marker = raw.to_vec();
            }
            "python" => hello.settings.python = path(&mut r, &key)?,
            "venv" => hello.settings.venv = path(&mut r, &key)?,
            "python_pkg" => hello.settings.python_pkg = path(&mut r, &key)?,
            "path" => {
                if r.is_nil() {
                    r.nil().map_err(read)?;
                    continue;
                }
                let (n, proper) = r.list_header().map_err(read)?;
                if !proper {
                    return Err(bad("path is not a proper list"));
                }
                for _ in 0..n {
                    match path(&mut r, "a path entry")? {
                        Some(p) => hello.settings.path.push(p),
                        None => return Err(bad("a path entry is not a binary")),
                    }
                }
                r.nil().map_err(read)?;
            }
            "max_depth" => {
                if let Some(n) = number(&mut r, &key)? {
                    hello.limits.max_depth = (n as usize).max(1);
                }
            }
            "max_terms" => {
                if let Some(n) = number(&mut r, &key)? {
                    hello.limits.max_terms = (n as usize).max(1);
                }
            }
            "max_memory" => hello.max_memory = number(&mut r, &key)?,
            _ => {
                r.skip().map_err(read)?;
            }
        }
    }
    if hello.marker.is_empty() {
        return Err(bad("no marker"));
    }
    Ok(hello)
}

/// `#{pid => OsPid, version => Bin, executable => Bin}`, as ETF.
pub fn ready(started: &Started) -> Vec<u8> {
    let mut w = Writer::term();
    w.map(3)
        .atom("pid")
        .uint(u64::from(std::process::id()))
        .atom("version")
        .binary(started.version.as_bytes())
        .atom("executable")
        .binary(started.executable.as_bytes());
    w.into_bytes()
}

/// `{error, Msg}`, as ETF.
pub fn failed(msg: &str) -> Vec<u8> {
    let mut w = Writer::term();
    w.tuple(2).atom("error").binary(msg.as_bytes());
    w.into_bytes()
}
