//! What a job does (`py_nif`'s `exec::run`, for ETF): the job term of `py_job` read by
//! hand, run against the worker's objects, and the reply encoded straight into the
//! result packet. Every failure is an `{error, Reason}` reply: a malformed job is
//! `{bad_job, Job}`, a panic of ours `{panic, Msg}`; nothing here ends the process.
use crate::code;
use crate::ctx::{self, ctx, Frame};
use crate::state::{shared, JobMsg, Msg, Running};
use crate::table::{self, TableHandles};
use crate::wire::{out, to_vm, Packet};
use py_core::etf::{tag, Codec, EtfError, Handles, PathElem, Reader, Unsupported, Writer};
use py_core::output::Sink;
use pyo3::exceptions::{PyMemoryError, PyValueError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use std::cell::RefCell;
use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

/// Names resolved (kept; cleared when full), as `py_nif`'s `ATOM_NAMES_MAX`.
const NAMES_MAX: usize = 4096;
/// A result buffer bigger than this is not kept for the next job.
const KEEP_BUF: usize = 1 << 20;

thread_local! {
    /// Call and const names already resolved, by the raw ETF bytes of the name term:
    /// the owner object and the attribute as an interned string, so a call builds no
    /// name at all. The attribute is still looked up on each call: rebinding it in
    /// Python is seen at once.
    static NAMES: RefCell<HashMap<Box<[u8]>, Resolved>> = RefCell::new(HashMap::new());
    /// The buffer the last result packet was built in.
    static BUF: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// An owner object and the name of one of its attributes.
type Resolved = (Py<PyAny>, Py<PyString>);

/// Why a job failed, as data; rendered to the reason by [`write_failure`].
pub enum Failure {
    /// A conversion error or a Python exception.
    Etf(EtfError),
    /// `{bad_job, Job}`
    BadJob,
    /// `{not_a_handle, Term}`
    NotAHandle(Vec<u8>),
    /// `{bad_array, Key, Why}`
    BadArray { key: &'static str, why: String },
    /// `{panic, Msg}`: a bug of ours, caught.
    Panic(String),
}

impl From<PyErr> for Failure {
    fn from(e: PyErr) -> Self {
        Failure::Etf(EtfError::Python(e))
    }
}

impl From<EtfError> for Failure {
    fn from(e: EtfError) -> Self {
        Failure::Etf(e)
    }
}

/// What a job needs while it runs.
pub struct JobCx<'a, 'py> {
    pub py: Python<'py>,
    pub codec: Codec<'a>,
}

impl<'py> JobCx<'_, 'py> {
    /// The next term of `r`, as a Python object.
    pub fn python(&self, r: &mut Reader<'_>) -> Result<Bound<'py, PyAny>, EtfError> {
        r.python(&self.codec, self.py, &TableHandles)
    }

    /// The object a job works on (a handle, usually).
    fn object(&self, r: &mut Reader<'_>) -> Result<Bound<'py, PyAny>, Failure> {
        self.python(r)
            .map_err(|e| Failure::Etf(e.at(PathElem::Index(0))))
    }
}

fn bad<E>(_: E) -> Failure {
    Failure::BadJob
}

/// A name given as an atom or a binary (raw ETF bytes).
fn name_of(raw: &[u8]) -> Option<String> {
    let mut r = Reader::raw(raw);
    let name = match r.peek_tag().ok()? {
        tag::BINARY | tag::BIT_BINARY => std::str::from_utf8(r.binary().ok()?).ok()?.to_owned(),
        _ => r.atom().ok()?.into_owned(),
    };
    r.rest().is_empty().then_some(name)
}

/// A dotted name ("os.path.isdir"): a name, or `{Owner, Attr}` of two names.
fn dotted_name(raw: &[u8]) -> Option<String> {
    let mut r = Reader::raw(raw);
    if matches!(r.peek_tag(), Ok(tag::SMALL_TUPLE | tag::LARGE_TUPLE)) {
        if r.tuple_arity().ok()? != 2 {
            return None;
        }
        let mut name = name_of(r.skip().ok()?)?;
        name.push('.');
        name.push_str(&name_of(r.skip().ok()?)?);
        return Some(name);
    }
    name_of(raw)
}

/// The number in a handle marker `{M, handle, Id}`.
pub fn handle_id(raw: &[u8]) -> Option<u64> {
    let mut r = Reader::raw(raw);
    if !matches!(r.peek_tag(), Ok(tag::SMALL_TUPLE)) || r.tuple_arity().ok()? != 3 {
        return None;
    }
    if r.skip().ok()? != ctx().marker.as_slice() || r.atom().ok()? != "handle" {
        return None;
    }
    let id = r.unsigned().ok()?;
    r.rest().is_empty().then_some(id)
}

/// The name of a `call` or `const` job, resolved (see `py_core::names`).
fn resolve_name<'py>(py: Python<'py>, raw: &[u8]) -> Result<Bound<'py, PyAny>, Failure> {
    let hit = NAMES.with(|c| {
        c.borrow()
            .get(raw)
            .map(|(o, a)| (o.clone_ref(py), a.clone_ref(py)))
    });
    if let Some((owner, attr)) = hit {
        // A miss here (the attribute was deleted) takes the full path below.
        if let Ok(v) = owner.bind(py).getattr(attr.bind(py)) {
            return Ok(v);
        }
    }
    let name = dotted_name(raw).ok_or(Failure::BadJob)?;
    let value = py_core::names::resolve(py, &name)?;
    if let Some((owner, attr)) = py_core::names::cached_owner(py, &name) {
        let attr = PyString::intern(py, attr).unbind();
        NAMES.with(|c| {
            let mut c = c.borrow_mut();
            if c.len() >= NAMES_MAX {
                c.clear();
            }
            c.insert(raw.into(), (owner.unbind(), attr));
        });
    }
    Ok(value)
}

/// The namespace a job names: a handle to a dict, or `undefined` for a fresh one.
fn namespace<'py>(cx: &JobCx<'_, 'py>, r: &mut Reader<'_>) -> Result<Bound<'py, PyDict>, Failure> {
    let raw = r.skip().map_err(bad)?;
    if let Some(id) = handle_id(raw) {
        let obj = table::get(cx.py, id).ok_or(Failure::Etf(EtfError::NoHandle(id)))?;
        return obj.into_bound(cx.py).cast_into::<PyDict>().map_err(bad);
    }
    match Reader::raw(raw).atom() {
        Ok(a) if a == "undefined" => Ok(code::new_namespace(cx.py)?),
        _ => Err(Failure::BadJob),
    }
}

/// What the reply is made of.
pub enum Mode {
    /// The value converted (or a handle, if the caller asked for one).
    Term,
    /// Always a handle (a namespace).
    Handle,
    /// `py:value/1`: data if the object can be made data.
    Value,
    /// `py:to_binary/1`: a buffer's bytes.
    Binary,
    /// `py:array/1`: shape, dtype and the array's bytes.
    Array,
}

pub struct Executed<'py> {
    obj: Bound<'py, PyAny>,
    mode: Mode,
}

fn term(obj: Bound<'_, PyAny>) -> Result<Executed<'_>, Failure> {
    Ok(Executed {
        obj,
        mode: Mode::Term,
    })
}

/// Runs one job term (raw ETF bytes).
fn execute<'py>(cx: &JobCx<'_, 'py>, job: &[u8]) -> Result<Executed<'py>, Failure> {
    let py = cx.py;
    let mut r = Reader::raw(job);
    let arity = r.tuple_arity().map_err(bad)?;
    if arity == 0 {
        return Err(Failure::BadJob);
    }
    let tag = r.atom().map_err(bad)?;
    let name_field = |r: &mut Reader<'_>| name_of(r.skip().map_err(bad)?).ok_or(Failure::BadJob);
    match (tag.as_ref(), arity) {
        ("call", 4) => {
            let f = resolve_name(py, r.skip().map_err(bad)?)?;
            call(cx, &f, &mut r)
        }
        ("const", 2) => term(resolve_name(py, r.skip().map_err(bad)?)?),
        ("method", 5) => {
            let obj = cx.object(&mut r)?;
            let f = obj.getattr(name_field(&mut r)?)?;
            call(cx, &f, &mut r)
        }
        ("getattr", 3) => {
            let obj = cx.object(&mut r)?;
            term(obj.getattr(name_field(&mut r)?)?)
        }
        ("call_obj", 4) => {
            let obj = cx.object(&mut r)?;
            call(cx, &obj, &mut r)
        }
        ("call_in", 5) => {
            let ns = namespace(cx, &mut r)?;
            let name = r.skip().map_err(bad)?;
            let dotted = dotted_name(name).ok_or(Failure::BadJob)?;
            let f = match code::resolve_in(&ns, &dotted)? {
                Some(f) => f,
                None => resolve_name(py, name)?,
            };
            call(cx, &f, &mut r)
        }
        ("eval" | "exec", 4) => {
            let src = r.binary().map_err(bad)?;
            let bindings = r.skip().map_err(bad)?;
            let ns = namespace(cx, &mut r)?;
            term(code::run(cx, src, bindings, &ns, tag == "eval")?)
        }
        ("namespace", 1) => Ok(Executed {
            obj: code::new_namespace(py)?.into_any(),
            mode: Mode::Handle,
        }),
        ("import", 2) => term(py_core::names::import(py, &name_field(&mut r)?)?.into_any()),
        ("value", 2) => {
            let raw = r.skip().map_err(bad)?;
            let id = handle_id(raw).ok_or_else(|| Failure::NotAHandle(raw.to_vec()))?;
            let obj = table::get(py, id).ok_or(Failure::Etf(EtfError::NoHandle(id)))?;
            Ok(Executed {
                obj: obj.into_bound(py),
                mode: Mode::Value,
            })
        }
        ("to_binary", 2) => Ok(Executed {
            obj: cx.python(&mut r)?,
            mode: Mode::Binary,
        }),
        ("array", 2) => Ok(Executed {
            obj: cx.python(&mut r)?,
            mode: Mode::Array,
        }),
        ("ndarray", 5) => {
            let data = r.binary().map_err(|_| Failure::BadArray {
                key: "data",
                why: "not a binary".into(),
            });
            let shape = r.skip().map_err(bad)?;
            let dtype = r.skip().map_err(bad)?;
            let writable = match r.atom().map_err(bad)?.as_ref() {
                "true" => true,
                "false" => false,
                _ => return Err(Failure::BadJob),
            };
            term(ndarray(py, data?, shape, dtype, writable)?)
        }
        _ => Err(Failure::BadJob),
    }
}

/// Calls `f` with the arguments and keyword arguments that `r` has next.
fn call<'py>(
    cx: &JobCx<'_, 'py>,
    f: &Bound<'py, PyAny>,
    r: &mut Reader<'_>,
) -> Result<Executed<'py>, Failure> {
    let args = args(cx, r)?;
    let kwargs = kwargs(cx, r)?;
    let args = py_core::code::frame_globals(cx.py, f, args, kwargs.as_ref())?;
    term(f.call(args, kwargs.as_ref())?)
}

/// An argument list (`Codec::decode_args`); a term that is no list is a bad job.
fn args<'py>(cx: &JobCx<'_, 'py>, r: &mut Reader<'_>) -> Result<Bound<'py, PyTuple>, Failure> {
    if !matches!(r.peek_tag(), Ok(tag::NIL | tag::LIST | tag::STRING)) {
        return Err(Failure::BadJob);
    }
    Ok(cx.codec.decode_args(cx.py, r, &TableHandles)?)
}

/// Keyword arguments: `[]`, a map, or a proper list of pairs (`Codec::decode_kwargs`).
fn kwargs<'py>(
    cx: &JobCx<'_, 'py>,
    r: &mut Reader<'_>,
) -> Result<Option<Bound<'py, PyDict>>, Failure> {
    Ok(cx.codec.decode_kwargs(cx.py, r, &TableHandles)?)
}

// ------------------------------------------------------------------ numpy

use py_core::array::{not_flat, numpy};

/// `py:ndarray/1,2`: an array of `dtype` and `shape` over a copy of `data`, read-only,
/// or writable. The fields are checked here, each error naming its key.
fn ndarray<'py>(
    py: Python<'py>,
    data: &[u8],
    shape: &[u8],
    dtype: &[u8],
    writable: bool,
) -> Result<Bound<'py, PyAny>, Failure> {
    let bad_array = |key, why: String| Failure::BadArray { key, why };
    let dims = (|| -> Option<Vec<u64>> {
        let mut r = Reader::raw(shape);
        if r.is_nil() {
            return Some(Vec::new());
        }
        let (n, proper) = r.list_header().ok()?;
        if !proper {
            return None;
        }
        let dims = (0..n)
            .map(|_| r.unsigned().ok())
            .collect::<Option<Vec<u64>>>()?;
        r.nil().ok()?;
        Some(dims)
    })()
    .ok_or_else(|| bad_array("shape", "not a list of non-negative integers".into()))?;
    let text = Reader::raw(dtype)
        .binary()
        .ok()
        .and_then(|b| std::str::from_utf8(b).ok().map(str::to_owned))
        .ok_or_else(|| bad_array("dtype", "not a UTF-8 binary".into()))?;
    let np = numpy(py)?;
    let dt = np
        .getattr("dtype")
        .and_then(|f| f.call1((text.as_str(),)))
        .map_err(|err| bad_array("dtype", err.value(py).to_string()))?;
    if let Some(why) = not_flat(&dt)? {
        return Err(bad_array("dtype", why));
    }
    let itemsize: u64 = dt.getattr("itemsize")?.extract()?;
    if itemsize == 0 {
        return Err(bad_array(
            "dtype",
            format!("dtype {text:?} has no size (give one, as in <U8 or |S4)"),
        ));
    }
    let needed = dims
        .iter()
        .try_fold(itemsize, |acc, d| acc.checked_mul(*d))
        .ok_or_else(|| bad_array("shape", format!("shape {dims:?} is too large")))?;
    if needed != data.len() as u64 {
        return Err(bad_array(
            "data",
            format!(
                "{} bytes, where shape {dims:?} of dtype {text} needs {needed}",
                data.len()
            ),
        ));
    }
    let bytes = pyo3::types::PyBytes::new(py, data);
    let kwargs = PyDict::new(py);
    kwargs.set_item("dtype", &dt)?;
    let flat = np.call_method("frombuffer", (bytes,), Some(&kwargs))?;
    let arr = flat.call_method1("reshape", (PyTuple::new(py, &dims)?,))?;
    Ok(if writable {
        arr.call_method0("copy")?
    } else {
        arr
    })
}

/// Appends a binary of a buffer-protocol object's bytes (C order), as ETF.
fn buffer_binary(obj: &Bound<'_, PyAny>, out: &mut Vec<u8>, flags: i32) -> PyResult<()> {
    let py = obj.py();
    unsafe {
        let mut view: ffi::Py_buffer = std::mem::zeroed();
        if ffi::PyObject_GetBuffer(obj.as_ptr(), &mut view, flags) != 0 {
            return Err(PyErr::fetch(py));
        }
        let len = view.len.max(0) as usize;
        let Ok(len32) = u32::try_from(len) else {
            ffi::PyBuffer_Release(&mut view);
            return Err(PyValueError::new_err(format!(
                "{len} bytes: more than a binary in the external term format holds (4 GiB)"
            )));
        };
        out.reserve(5 + len);
        out.push(tag::BINARY);
        out.extend_from_slice(&len32.to_be_bytes());
        let start = out.len();
        let rc = ffi::PyBuffer_ToContiguous(
            out.as_mut_ptr().add(start) as *mut _,
            &view,
            view.len,
            b'C' as _,
        );
        ffi::PyBuffer_Release(&mut view);
        if rc != 0 {
            out.truncate(start - 5);
            return Err(PyErr::fetch(py));
        }
        out.set_len(start + len);
    }
    Ok(())
}

/// `py:array/1`: `#{shape, dtype, data}` for a numpy array, or for any other object with
/// the buffer protocol through `numpy.asarray(memoryview(obj))`. The data is copied
/// into the reply (once; a non-contiguous array is made C-contiguous first).
fn describe_array(obj: &Bound<'_, PyAny>, w: &mut Writer) -> PyResult<()> {
    let py_core::array::CArray {
        array: arr,
        dtype: dtype_str,
        shape,
    } = py_core::array::c_array(obj)?;
    w.map(3).atom("shape");
    if !shape.is_empty() {
        w.list(shape.len());
        for d in &shape {
            w.uint(*d);
        }
    }
    w.nil()
        .atom("dtype")
        .binary(dtype_str.as_bytes())
        .atom("data");
    // No PyBUF_FORMAT: numpy then exports dtypes the struct syntax has no letter for.
    buffer_binary(&arr, &mut w.buf, ffi::PyBUF_C_CONTIGUOUS)
}

// ------------------------------------------------------------------ replies

/// The table, counting the objects a reply put in it (net of those taken back out).
struct Tracking {
    live: i64,
}

impl Handles for Tracking {
    fn get(&self, py: Python<'_>, id: u64) -> Option<Py<PyAny>> {
        TableHandles.get(py, id)
    }
    fn put(&mut self, py: Python<'_>, obj: Py<PyAny>) -> u64 {
        self.live += 1;
        TableHandles.put(py, obj)
    }
    fn forget(&mut self, py: Python<'_>, id: u64) {
        self.live -= 1;
        TableHandles.forget(py, id)
    }
}

/// `py:value/1`: like a term, but a top-level object that is not plain data is turned
/// into data if it can be (`tolist()`, a mapping, an iterable) instead of a handle.
fn encode_value(
    cx: &JobCx<'_, '_>,
    obj: &Bound<'_, PyAny>,
    w: &mut Writer,
    handles: &mut Tracking,
) -> Result<(), Failure> {
    let py = cx.py;
    let mark = w.buf.len();
    let wrote = cx.codec.encode(py, obj, &mut w.buf, handles)?;
    let top = if wrote {
        handle_id(&w.buf[mark..])
    } else {
        None
    };
    let Some(id) = top else {
        return Ok(());
    };
    w.buf.truncate(mark);
    handles.forget(py, id);
    let converted = if obj.hasattr("tolist").unwrap_or(false) {
        obj.call_method0("tolist")?
    } else if obj.is_instance(&py.import("collections.abc")?.getattr("Mapping")?)? {
        PyDict::from_sequence(&obj.call_method0("items")?)?.into_any()
    } else if obj.hasattr("__iter__").unwrap_or(false) {
        <PyList as pyo3::type_object::PyTypeInfo>::type_object(py).call1((obj,))?
    } else {
        return Err(Failure::Etf(EtfError::Unsupported {
            path: Vec::new(),
            what: Unsupported::Object(obj.clone().unbind()),
        }));
    };
    cx.codec.encode(py, &converted, &mut w.buf, handles)?;
    Ok(())
}

/// Appends `{ok, Term}`; on an error nothing is appended.
fn encode_ok(
    cx: &JobCx<'_, '_>,
    ex: Executed<'_>,
    ret: u8,
    w: &mut Writer,
    handles: &mut Tracking,
) -> Result<(), Failure> {
    let mark = w.buf.len();
    w.tuple(2).atom("ok");
    let done = match ex.mode {
        Mode::Term if ret == 2 => {
            w.object(&ex.obj, &cx.codec, handles);
            Ok(())
        }
        Mode::Handle => {
            w.object(&ex.obj, &cx.codec, handles);
            Ok(())
        }
        Mode::Term => cx
            .codec
            .encode(cx.py, &ex.obj, &mut w.buf, handles)
            .map(|_| ())
            .map_err(Failure::from),
        Mode::Value => encode_value(cx, &ex.obj, w, handles),
        Mode::Binary => {
            buffer_binary(&ex.obj, &mut w.buf, ffi::PyBUF_FULL_RO).map_err(Failure::from)
        }
        Mode::Array => describe_array(&ex.obj, w).map_err(Failure::from),
    };
    if done.is_err() {
        w.buf.truncate(mark);
    }
    done
}

/// Appends `{error, Reason}`.
fn write_failure(
    cx: &JobCx<'_, '_>,
    f: &Failure,
    job: &[u8],
    w: &mut Writer,
    handles: &mut Tracking,
) {
    match f {
        Failure::Etf(e) => {
            w.error_tagged(e, &cx.codec, cx.py, handles);
        }
        Failure::BadJob => {
            w.tuple(2).atom("error").tuple(2).atom("bad_job").raw(job);
        }
        Failure::NotAHandle(t) => {
            w.tuple(2)
                .atom("error")
                .tuple(2)
                .atom("not_a_handle")
                .raw(t);
        }
        Failure::BadArray { key, why } => {
            w.tuple(2)
                .atom("error")
                .tuple(3)
                .atom("bad_array")
                .atom(key)
                .binary(why.as_bytes());
        }
        Failure::Panic(m) => {
            w.tuple(2)
                .atom("error")
                .tuple(2)
                .atom("panic")
                .binary(m.as_bytes());
        }
    }
}

fn python_error(f: &Failure) -> Option<&PyErr> {
    match f {
        Failure::Etf(EtfError::Python(e)) => Some(e),
        _ => None,
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

/// Runs the job and writes its reply (`{ok, _}` or `{error, _}`) after what `w` holds.
/// Returns whether the job met a `MemoryError`.
fn run_and_reply(
    py: Python<'_>,
    job: &JobMsg,
    job_raw: &[u8],
    w: &mut Writer,
    handles: &mut Tracking,
) -> bool {
    let cx = JobCx {
        py,
        codec: ctx().codec(job.ret == 1),
    };
    let outcome = catch_unwind(AssertUnwindSafe(|| execute(&cx, job_raw)))
        .unwrap_or_else(|p| Err(Failure::Panic(panic_message(&*p))));
    let failure = match outcome {
        Ok(ex) => match encode_ok(&cx, ex, job.ret, w, handles) {
            Ok(()) => return false,
            Err(f) => f,
        },
        Err(f) => f,
    };
    let err = python_error(&failure);
    let memory = err.is_some_and(|e| e.is_instance_of::<PyMemoryError>(py));
    let cancelled = err.is_some_and(|e| e.is_instance(py, ctx().cancelled.bind(py)))
        && shared().lock().is_marked(job.id);
    if cancelled {
        w.tuple(2).atom("error").atom("cancelled");
    } else {
        write_failure(&cx, &failure, job_raw, w, handles);
    }
    memory
}

/// `{Caller, Job}`: the caller's raw pid and the job's raw term.
fn split(body: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut r = Reader::new(body).ok()?;
    if r.tuple_arity().ok()? != 2 {
        return None;
    }
    let caller = r.skip().ok()?;
    let job = r.skip().ok()?;
    r.rest().is_empty().then_some((caller, job))
}

/// Runs one job on this (the main) thread and sends its result, its output first.
pub fn run_job(py: Python<'_>, job: JobMsg) {
    let id = job.id;
    let sink = Arc::new(Sink::new());
    {
        let mut st = shared().lock();
        st.stack.push(Running {
            id,
            waiting: false,
            output: sink.clone(),
        });
    }
    let buf = BUF.with(|b| std::mem::take(&mut *b.borrow_mut()));
    let mut p = Packet::reuse(buf, to_vm::RESULT);
    p.u64(id).u8(0);
    let flags_at = p.len() - 1;
    let mut w = Writer { buf: p.into_buf() };
    w.version();
    let start = w.buf.len();
    let mut handles = Tracking { live: 0 };
    let mut memory = false;
    match split(&job.body) {
        Some((caller, job_raw)) => {
            ctx::push(Frame {
                id,
                caller: caller.into(),
                output: sink.clone(),
            });
            let ran = catch_unwind(AssertUnwindSafe(|| {
                run_and_reply(py, &job, job_raw, &mut w, &mut handles)
            }));
            match ran {
                Ok(m) => memory = m,
                Err(p) => {
                    w.buf.truncate(start);
                    w.tuple(2)
                        .atom("error")
                        .tuple(2)
                        .atom("panic")
                        .binary(panic_message(&*p).as_bytes());
                }
            }
            ctx::pop();
        }
        None => {
            // Not `{Caller, Job}`: the body itself is the bad job (as a binary if it is
            // not even a term).
            w.tuple(2).atom("error").tuple(2).atom("bad_job");
            match Reader::new(&job.body).and_then(|mut r| r.skip().map(<[u8]>::to_vec)) {
                Ok(raw) => w.raw(&raw),
                Err(_) => w.binary(&job.body),
            };
        }
    }
    if handles.live > 0 {
        w.buf[flags_at] = 1;
    }
    let mut p = Packet::from_buf(w.buf);
    {
        let mut o = out().lock();
        if memory && ctx().max_memory {
            let mut m = Packet::new(to_vm::MEMORY);
            m.u64(id);
            o.send(&mut m);
        }
        crate::output::flush(&mut o, id, &sink);
        o.send(&mut p);
        // The table grew: pool_info's count of live objects follows (releases report
        // it too), so a caller sees its handles counted when its call returns.
        if handles.live > 0 {
            let mut c = Packet::new(to_vm::HANDLES);
            c.u64(crate::table::count());
            o.send(&mut c);
        }
    }
    {
        let mut st = shared().lock();
        st.stack.pop();
        st.marked.retain(|m| *m != id);
    }
    let buf = p.into_buf();
    if buf.capacity() <= KEEP_BUF {
        BUF.with(|b| *b.borrow_mut() = buf);
    }
}

/// A `release` packet: the objects dropped, then the table's size sent.
pub fn release(py: Python<'_>, ids: &[u64]) {
    let count = table::release(py, ids);
    let mut p = Packet::new(to_vm::HANDLES);
    p.u64(count);
    out().send(&mut p);
}

/// The main thread's loop: jobs and releases as they come, the GIL released while it
/// waits. Replies and cancels that nobody waits for any more are dropped.
pub fn serve(py: Python<'_>) -> ! {
    loop {
        match py.detach(|| shared().next(|_, _| true)) {
            Msg::Job(job) => run_job(py, job),
            Msg::Release(ids) => release(py, &ids),
            Msg::Reply { .. } | Msg::Cancel(_) => {}
        }
    }
}
