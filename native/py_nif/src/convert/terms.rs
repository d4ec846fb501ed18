//! `erlang.Pid`, `erlang.Ref`, `erlang.Port`, `erlang.Fun`: Erlang terms that Python holds
//! opaquely and that come back to Erlang as the very same term.
use pyo3::prelude::*;
use rustler::sys::{self, ErlNifTerm as ERL_NIF_TERM};
use rustler::{Env, OwnedEnv, Term};

/// A copy of one term in an environment of its own. Immutable after creation, so it
/// can be read from any thread.
pub struct TermBox {
    env: OwnedEnv,
    raw: ERL_NIF_TERM,
    hash: u64,
}
unsafe impl Sync for TermBox {}

impl TermBox {
    fn new(term: Term<'_>) -> TermBox {
        let env = OwnedEnv::new();
        let raw = env.run(|e| crate::base::env::copy(e, term.as_c_arg()).as_c_arg());
        let hash = unsafe { sys::enif_hash(sys::ErlNifHash::ERL_NIF_PHASH2, raw, 0) };
        TermBox { env, raw, hash }
    }

    /// The term, copied into `env`.
    pub fn load<'a>(&self, env: Env<'a>) -> Term<'a> {
        crate::base::env::copy(env, self.raw)
    }

    fn repr(&self, class: &str) -> String {
        let mut buf = vec![0u8; 256];
        let n = unsafe {
            sys::get_enif_snprintf()(
                buf.as_mut_ptr() as *mut _,
                buf.len(),
                c"%T".as_ptr(),
                self.raw,
            )
        };
        let text = if n > 0 {
            buf.truncate((n as usize).min(255));
            String::from_utf8_lossy(&buf).into_owned()
        } else {
            "?".to_string()
        };
        format!("erlang.{class}({text})")
    }

    fn same(&self, other: &TermBox) -> bool {
        unsafe { sys::enif_compare(self.raw, other.raw) == 0 }
    }
}

macro_rules! opaque_term {
    ($rust:ident, $name:literal) => {
        opaque_term!($rust, $name, {});
    };
    ($rust:ident, $name:literal, { $($extra:tt)* }) => {
        #[pyclass(module = "erlang", name = $name, frozen)]
        pub struct $rust(pub TermBox);

        #[pymethods]
        impl $rust {
            fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
                other
                    .cast::<$rust>()
                    .map(|o| self.0.same(&o.get().0))
                    .unwrap_or(false)
            }
            fn __hash__(&self) -> u64 {
                self.0.hash
            }
            fn __repr__(&self) -> String {
                self.0.repr($name)
            }
            $($extra)*
        }
    };
}

opaque_term!(Pid, "Pid");
opaque_term!(Ref, "Ref");
opaque_term!(Port, "Port");
opaque_term!(Fun, "Fun", {
    /// An Erlang fun is callable from Python: `f(3)` is `erlang.call(f, [3])`, so it
    /// runs as a callback in the calling Erlang process (`key=` of `sorted`, `map`).
    /// Through the `erlang` package, which owns callbacks: this layer does not.
    #[pyo3(signature = (*args))]
    fn __call__(
        slf: &Bound<'_, Self>,
        args: &Bound<'_, pyo3::types::PyTuple>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let call = py.import("erlang")?.getattr("call")?;
        Ok(call.call1((slf, py.None(), args.to_list()))?.unbind())
    }
});

#[derive(Clone, Copy)]
pub enum Kind {
    Pid,
    Ref,
    Port,
    Fun,
}

pub fn wrap<'py>(py: Python<'py>, kind: Kind, term: Term<'_>) -> PyResult<Bound<'py, PyAny>> {
    let b = TermBox::new(term);
    Ok(match kind {
        Kind::Pid => Bound::new(py, Pid(b))?.into_any(),
        Kind::Ref => Bound::new(py, Ref(b))?.into_any(),
        Kind::Port => Bound::new(py, Port(b))?.into_any(),
        Kind::Fun => Bound::new(py, Fun(b))?.into_any(),
    })
}

/// The Erlang term held by one of the four classes, or None for any other object.
pub fn unwrap<'a>(env: Env<'a>, obj: &Bound<'_, PyAny>) -> Option<Term<'a>> {
    if let Ok(p) = obj.cast::<Pid>() {
        return Some(p.get().0.load(env));
    }
    if let Ok(r) = obj.cast::<Ref>() {
        return Some(r.get().0.load(env));
    }
    if let Ok(p) = obj.cast::<Port>() {
        return Some(p.get().0.load(env));
    }
    if let Ok(f) = obj.cast::<Fun>() {
        return Some(f.get().0.load(env));
    }
    None
}

/// The local pid behind an `erlang.Pid`, for sending.
pub fn local_pid(obj: &Bound<'_, PyAny>) -> Option<rustler::LocalPid> {
    let p = obj.cast::<Pid>().ok()?;
    let mut pid: sys::ErlNifPid = unsafe { std::mem::zeroed() };
    let env = &p.get().0.env;
    let ok =
        env.run(|e| unsafe { sys::enif_get_local_pid(e.as_c_arg(), p.get().0.raw, &mut pid) } != 0);
    ok.then(|| rustler::LocalPid::from_c_arg(pid))
}
