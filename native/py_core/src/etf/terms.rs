//! `erlang.Pid`, `erlang.Ref`, `erlang.Port`, `erlang.Fun`: Erlang terms that Python
//! holds opaquely, as the raw ETF bytes of the term (no 131), and that go back to Erlang
//! as those very bytes. Hashable, equal when their bytes are; the worker registers these
//! classes in its `_erlang` module, so `erlang.Pid` is [`Pid`] there.
use super::cursor::{read_int, Cur, Int};
use super::tag::*;
use pyo3::prelude::*;
use pyo3::types::PyTuple;
use std::sync::RwLock;

/// The node the worker's VM runs as: its pids show as `<0.X.Y>`, as Erlang shows them.
static LOCAL_NODE: RwLock<Option<String>> = RwLock::new(None);

/// Tells `repr` which node is the local one (the node of the marker reference, see
/// [`node_of`]): pids of that node show as `<0.X.Y>`, others as `<node.X.Y>`.
pub fn set_local_node(node: &str) {
    if let Ok(mut n) = LOCAL_NODE.write() {
        *n = Some(node.to_owned());
    }
}

/// The node of a pid, port or reference from its raw bytes.
pub fn node_of(raw: &[u8]) -> Option<String> {
    let mut c = Cur::new(raw);
    match c.u8().ok()? {
        NEW_REFERENCE | NEWER_REFERENCE => {
            c.u16().ok()?;
        }
        PID | NEW_PID | PORT | NEW_PORT | V4_PORT | REFERENCE => {}
        _ => return None,
    }
    c.atom().ok().map(|a| a.into_owned())
}

fn node_text(node: &str) -> String {
    match LOCAL_NODE.read() {
        Ok(n) if n.as_deref() == Some(node) => "0".to_owned(),
        _ => node.to_owned(),
    }
}

/// FNV-1a: a fixed hash of the bytes (Python's `hash` must not change for one object).
fn hash_bytes(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &x| {
        (h ^ x as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `<node.Id.Serial>` for a pid.
fn pid_text(raw: &[u8]) -> Option<String> {
    let mut c = Cur::new(raw);
    let t = c.u8().ok()?;
    let node = c.atom().ok()?;
    let id = c.u32().ok()?;
    let serial = c.u32().ok()?;
    matches!(t, PID | NEW_PID).then(|| format!("<{}.{id}.{serial}>", node_text(&node)))
}

/// `#Ref<node.N3.N2.N1>` for a reference (Erlang shows the words last first).
fn ref_text(raw: &[u8]) -> Option<String> {
    let mut c = Cur::new(raw);
    let t = c.u8().ok()?;
    let words = match t {
        NEW_REFERENCE | NEWER_REFERENCE => c.u16().ok()? as usize,
        REFERENCE => 1,
        _ => return None,
    };
    let node = c.atom().ok()?;
    if t != REFERENCE {
        c.take(if t == NEW_REFERENCE { 1 } else { 4 }).ok()?;
    }
    let mut ids = Vec::with_capacity(words);
    for _ in 0..words {
        ids.push(c.u32().ok()?.to_string());
    }
    ids.reverse();
    Some(format!("#Ref<{}.{}>", node_text(&node), ids.join(".")))
}

/// `#Port<node.Id>` for a port.
fn port_text(raw: &[u8]) -> Option<String> {
    let mut c = Cur::new(raw);
    let t = c.u8().ok()?;
    let node = c.atom().ok()?;
    let id = match t {
        V4_PORT => u64::from_be_bytes(c.array().ok()?),
        PORT | NEW_PORT => c.u32().ok()? as u64,
        _ => return None,
    };
    Some(format!("#Port<{}.{id}>", node_text(&node)))
}

/// `fun m:f/a` for an export, `#Fun<Module.OldIndex.OldUniq>` for a closure.
fn fun_text(raw: &[u8]) -> Option<String> {
    let mut c = Cur::new(raw);
    match c.u8().ok()? {
        EXPORT => {
            let m = c.atom().ok()?;
            let f = c.atom().ok()?;
            c.u8().ok()?;
            let a = c.u8().ok()?;
            Some(format!("fun {m}:{f}/{a}"))
        }
        NEW_FUN => {
            c.take(4 + 1 + 16 + 4 + 4).ok()?;
            let m = c.atom().ok()?;
            let small = |c: &mut Cur<'_>| match read_int(c).ok()? {
                Int::Small(v) => Some(v),
                Int::Big(..) => None,
            };
            let index = small(&mut c)?;
            let uniq = small(&mut c)?;
            Some(format!("#Fun<{m}.{index}.{uniq}>"))
        }
        _ => None,
    }
}

macro_rules! opaque_term {
    ($rust:ident, $name:literal, $text:path) => {
        opaque_term!($rust, $name, $text, {});
    };
    ($rust:ident, $name:literal, $text:path, { $($extra:tt)* }) => {
        #[doc = concat!("`erlang.", $name, "`: the raw ETF bytes of the term (no 131).")]
        #[pyclass(module = "erlang", name = $name, frozen)]
        pub struct $rust {
            raw: Box<[u8]>,
        }

        impl $rust {
            pub fn new(raw: &[u8]) -> Self {
                $rust { raw: raw.into() }
            }
            /// The term's raw ETF bytes (no 131).
            pub fn raw(&self) -> &[u8] {
                &self.raw
            }
        }

        #[pymethods]
        impl $rust {
            fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
                other
                    .cast::<$rust>()
                    .map(|o| o.get().raw == self.raw)
                    .unwrap_or(false)
            }
            fn __hash__(&self) -> u64 {
                hash_bytes(&self.raw)
            }
            fn __repr__(&self) -> String {
                let text = $text(&self.raw).unwrap_or_else(|| hex(&self.raw));
                format!("erlang.{}({})", $name, text)
            }
            $($extra)*
        }
    };
}

opaque_term!(Pid, "Pid", pid_text);
opaque_term!(Ref, "Ref", ref_text);
opaque_term!(Port, "Port", port_text);
opaque_term!(Fun, "Fun", fun_text, {
    /// An Erlang fun is callable from Python: `f(3)` is `erlang.call(f, [3])`, a
    /// callback into the calling Erlang process, through the worker's `_erlang`.
    #[pyo3(signature = (*args))]
    fn __call__(slf: &Bound<'_, Self>, args: &Bound<'_, PyTuple>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let native = py.import("sys")?.getattr("modules")?.get_item("_erlang")?;
        Ok(native
            .getattr("call")?
            .call1((slf, py.None(), args.to_list()))?
            .unbind())
    }
});
