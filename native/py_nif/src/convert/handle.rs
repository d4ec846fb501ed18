//! Handles (Python objects held by Erlang terms) and markers (`py:bytes/1`, `py:buffer/1`).
use pyo3::ffi;
use pyo3::prelude::*;
use rustler::{Env, OwnedEnv, Resource, ResourceArc, Term};
use std::any::Any;
use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};

/// Handles alive now (made and not yet destroyed by the BEAM's garbage collector).
pub static LIVE: AtomicI64 = AtomicI64::new(0);

/// The owner of the objects made on a thread (its context), as `exec` knows it: the
/// handle only keeps it for `exec` to route calls on the handle back there.
pub type Owner = Weak<dyn Any + Send + Sync>;

thread_local! {
    /// The owner of this thread (its context), so every handle made here remembers it.
    static CURRENT_OWNER: RefCell<Option<Owner>> = const { RefCell::new(None) };
}

/// Makes `owner` the owner of every handle made on this thread from now on.
pub fn set_thread_owner(owner: Owner) {
    CURRENT_OWNER.with(|c| *c.borrow_mut() = Some(owner));
}

/// The owner of this thread's objects, if this thread has one.
pub fn thread_owner() -> Option<Owner> {
    CURRENT_OWNER.with(|c| c.borrow().clone())
}

pub struct PyHandle {
    /// Given up to the janitor when the handle is collected (see `Drop`).
    pub obj: ManuallyDrop<Py<PyAny>>,
    /// The context that made the object; calls on the handle go back there.
    pub owner: Option<Owner>,
}

#[rustler::resource_impl]
impl Resource for PyHandle {}

impl Drop for PyHandle {
    fn drop(&mut self) {
        // Runs in the garbage collector, on any scheduler, without the GIL. The object
        // goes to the janitor thread, not to pyo3's pool of deferred decrefs: any thread
        // that attaches drains that pool, and the object's `__del__` may block or loop.
        LIVE.fetch_sub(1, Ordering::Relaxed);
        crate::runtime::housekeeping::release(unsafe { ManuallyDrop::take(&mut self.obj) });
    }
}

impl PyHandle {
    pub fn owner(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        self.owner.as_ref().and_then(Weak::upgrade)
    }
}

/// A handle term for `obj`, owned by the context running on this thread (if any).
pub fn make_handle(env: Env<'_>, obj: Py<PyAny>) -> Term<'_> {
    let owner = thread_owner();
    LIVE.fetch_add(1, Ordering::Relaxed);
    let obj = ManuallyDrop::new(obj);
    rustler::Encoder::encode(&ResourceArc::new(PyHandle { obj, owner }), env)
}

/// `py:bytes/1` and `py:buffer/1`: the binary, kept alive in an environment of its own
/// so that Python can read it after the call that made the marker has returned.
pub struct Marker {
    pub kind: MarkerKind,
    _env: OwnedEnv,
    /// The binary term, in `_env`.
    raw: rustler::sys::ErlNifTerm,
    ptr: *const u8,
    len: usize,
}
// The binary is immutable and lives as long as the marker's own environment.
unsafe impl Send for Marker {}
unsafe impl Sync for Marker {}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum MarkerKind {
    Bytes,
    Buffer,
}

#[rustler::resource_impl]
impl Resource for Marker {}

impl Marker {
    /// Keeps `bin` alive without copying it (a refc binary only gains a reference).
    pub fn new(kind: MarkerKind, bin: Term<'_>) -> Option<Marker> {
        let env = OwnedEnv::new();
        let (raw, ptr, len) = env.run(|e| {
            let kept = crate::base::env::copy(e, bin.as_c_arg());
            rustler::Binary::from_term(kept)
                .ok()
                .map(|b| (kept.as_c_arg(), b.as_slice().as_ptr(), b.len()))
        })?;
        Some(Marker {
            kind,
            _env: env,
            raw,
            ptr,
            len,
        })
    }

    /// The binary as a term of `env` (a refc binary is shared, not copied).
    pub fn binary<'a>(&self, env: Env<'a>) -> Term<'a> {
        crate::base::env::copy(env, self.raw)
    }

    pub fn as_slice(&self) -> &[u8] {
        if self.len == 0 {
            &[]
        } else {
            unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
        }
    }
}

/// A marker as a Python value: `bytes` (a copy) or a read-only `memoryview` over the binary.
pub fn marker_to_python<'py>(
    py: Python<'py>,
    term: Term<'_>,
    m: &Marker,
) -> PyResult<Bound<'py, PyAny>> {
    match m.kind {
        MarkerKind::Bytes => Ok(pyo3::types::PyBytes::new(py, m.as_slice()).into_any()),
        MarkerKind::Buffer => {
            let marker: ResourceArc<Marker> = term
                .decode()
                .map_err(|_| pyo3::exceptions::PyTypeError::new_err("not a marker"))?;
            let owner = Bound::new(py, ErlBuffer { marker })?;
            unsafe {
                Bound::from_owned_ptr_or_err(py, ffi::PyMemoryView_FromObject(owner.as_ptr()))
            }
        }
    }
}

/// The exporter behind `py:buffer/1`: its buffer is the binary itself, read-only.
#[pyclass(module = "erlang", name = "Binary", frozen)]
pub struct ErlBuffer {
    marker: ResourceArc<Marker>,
}

#[pymethods]
impl ErlBuffer {
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut ffi::Py_buffer,
        flags: std::os::raw::c_int,
    ) -> PyResult<()> {
        let data = slf.get().marker.as_slice();
        let rc = unsafe {
            ffi::PyBuffer_FillInfo(
                view,
                slf.as_ptr(),
                data.as_ptr() as *mut _,
                data.len() as ffi::Py_ssize_t,
                1,
                flags,
            )
        };
        if rc != 0 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }

    fn __len__(&self) -> usize {
        self.marker.len
    }
}

/// Keeps a Python object alive for as long as an Erlang binary points into its memory:
/// a `bytes` object, or a held buffer export (`convert::array`).
pub struct BytesKeeper {
    obj: ManuallyDrop<Py<PyAny>>,
    ptr: *const u8,
    len: usize,
}
unsafe impl Send for BytesKeeper {}
unsafe impl Sync for BytesKeeper {}

#[rustler::resource_impl]
impl Resource for BytesKeeper {}

impl Drop for BytesKeeper {
    fn drop(&mut self) {
        // A `bytes` subclass may have a `__del__`, and a buffer is released with the
        // GIL: the janitor does both, as for handles.
        crate::runtime::housekeeping::release(unsafe { ManuallyDrop::take(&mut self.obj) });
    }
}

/// A binary term over `len` bytes at `ptr`, without copying; `obj` must keep that
/// memory valid and unmoved for as long as it lives (the binary keeps it alive).
pub fn kept_binary<'a>(env: Env<'a>, obj: Py<PyAny>, ptr: *const u8, len: usize) -> Term<'a> {
    if len == 0 || ptr.is_null() {
        // An empty buffer may have a null pointer, which no slice may hold.
        return crate::base::env::binary(env, &[]);
    }
    let keeper = ResourceArc::new(BytesKeeper {
        obj: ManuallyDrop::new(obj),
        ptr,
        len,
    });
    keeper
        .make_binary(env, |k| unsafe { std::slice::from_raw_parts(k.ptr, k.len) })
        .to_term(env)
}

/// `py:buffer/1`'s exporter made from a binary term on the Rust side (`py:ndarray/1,2`):
/// the binary is kept alive, not copied, for as long as the object lives.
pub fn buffer_object<'py>(py: Python<'py>, bin: Term<'_>) -> PyResult<Bound<'py, PyAny>> {
    let marker = Marker::new(MarkerKind::Buffer, bin)
        .ok_or_else(|| pyo3::exceptions::PyTypeError::new_err("not a binary"))?;
    Ok(Bound::new(
        py,
        ErlBuffer {
            marker: ResourceArc::new(marker),
        },
    )?
    .into_any())
}
