//! The job term, decoded once into a typed value. The Erlang module `py_job` builds the
//! term; this is the one place that reads its positions (docs/internals.md, "Jobs").
//! Adding a kind of job means a variant here and a builder there.
use crate::base::atoms;
use rustler::types::tuple::{get_tuple, make_tuple};
use rustler::{Atom, Encoder, Env, Term};

pub enum Job<'a> {
    /// `{call, Name, Args, Kwargs}`: Name is dotted, or `{Owner, Attr}`.
    Call {
        name: Term<'a>,
        args: Term<'a>,
        kwargs: Term<'a>,
    },
    /// `{const, Name}`
    Const { name: Term<'a> },
    /// `{method, Obj, Name, Args, Kwargs}`
    Method {
        obj: Term<'a>,
        name: Term<'a>,
        args: Term<'a>,
        kwargs: Term<'a>,
    },
    /// `{getattr, Obj, Name}`
    GetAttr { obj: Term<'a>, name: Term<'a> },
    /// `{call_obj, Obj, Args, Kwargs}`
    CallObj {
        obj: Term<'a>,
        args: Term<'a>,
        kwargs: Term<'a>,
    },
    /// `{call_in, Namespace, Name, Args, Kwargs}`: a call whose name is looked up in a
    /// namespace first.
    CallIn {
        ns: Term<'a>,
        name: Term<'a>,
        args: Term<'a>,
        kwargs: Term<'a>,
    },
    /// `{eval, Code, Bindings, Namespace}`: Namespace a handle, or `undefined` for a
    /// fresh one.
    Eval {
        code: Term<'a>,
        bindings: Term<'a>,
        ns: Term<'a>,
    },
    /// `{exec, Code, Bindings, Namespace}`
    Exec {
        code: Term<'a>,
        bindings: Term<'a>,
        ns: Term<'a>,
    },
    /// `{namespace}`: a new namespace (always a handle).
    Namespace,
    /// `{import, Name}`
    Import { name: Term<'a> },
    /// `{value, Handle}`
    Value { handle: Term<'a> },
    /// `{to_binary, Obj}`
    ToBinary { obj: Term<'a> },
    /// `{array, Obj}`: `py:array/1`, the array's shape, dtype and memory.
    Array { obj: Term<'a> },
    /// `{ndarray, Data, Shape, DType, Writable}`: `py:ndarray/1,2`, an array over a
    /// binary. The fields are checked where they are used (`convert::array`).
    NdArray {
        data: Term<'a>,
        shape: Term<'a>,
        dtype: Term<'a>,
        writable: bool,
    },
}

impl<'a> Job<'a> {
    /// The job a term stands for; `None` for any other term (`{bad_job, Term}`).
    pub fn decode(t: Term<'a>) -> Option<Job<'a>> {
        let parts = get_tuple(t).ok()?;
        let (tag, rest) = parts.split_first()?;
        let tag: Atom = tag.decode().ok()?;
        Some(match *rest {
            [name, args, kwargs] if tag == atoms::call() => Job::Call { name, args, kwargs },
            [name] if tag == atoms::const_() => Job::Const { name },
            [obj, name, args, kwargs] if tag == atoms::method() => Job::Method {
                obj,
                name,
                args,
                kwargs,
            },
            [obj, name] if tag == atoms::getattr() => Job::GetAttr { obj, name },
            [obj, args, kwargs] if tag == atoms::call_obj() => Job::CallObj { obj, args, kwargs },
            [ns, name, args, kwargs] if tag == atoms::call_in() => Job::CallIn {
                ns,
                name,
                args,
                kwargs,
            },
            [code, bindings, ns] if tag == atoms::eval() => Job::Eval { code, bindings, ns },
            [code, bindings, ns] if tag == atoms::exec() => Job::Exec { code, bindings, ns },
            [] if tag == atoms::namespace() => Job::Namespace,
            [name] if tag == atoms::import() => Job::Import { name },
            [handle] if tag == atoms::value() => Job::Value { handle },
            [obj] if tag == atoms::to_binary() => Job::ToBinary { obj },
            [obj] if tag == atoms::array() => Job::Array { obj },
            [data, shape, dtype, writable] if tag == atoms::ndarray() => Job::NdArray {
                data,
                shape,
                dtype,
                writable: writable.decode().ok()?,
            },
            _ => return None,
        })
    }

    /// The argument list of a job that calls something.
    pub fn args(&self) -> Option<Term<'a>> {
        match self {
            Job::Call { args, .. }
            | Job::CallIn { args, .. }
            | Job::Method { args, .. }
            | Job::CallObj { args, .. } => Some(*args),
            _ => None,
        }
    }

    /// The object a job works on (a handle, usually), for the context that owns it.
    pub fn object(&self) -> Option<Term<'a>> {
        match self {
            Job::CallIn { ns, .. } | Job::Eval { ns, .. } | Job::Exec { ns, .. } => Some(*ns),
            Job::Method { obj, .. }
            | Job::GetAttr { obj, .. }
            | Job::CallObj { obj, .. }
            | Job::ToBinary { obj }
            | Job::Array { obj } => Some(*obj),
            Job::Value { handle } => Some(*handle),
            _ => None,
        }
    }

    /// The same job with another argument list (a job without arguments is unchanged).
    pub fn with_args(&self, env: Env<'a>, new: Term<'a>) -> Option<Term<'a>> {
        let t = |x: Term<'a>| x;
        let parts: Vec<Term<'a>> = match self {
            Job::Call { name, kwargs, .. } => {
                vec![atoms::call().encode(env), t(*name), new, t(*kwargs)]
            }
            Job::Method {
                obj, name, kwargs, ..
            } => vec![
                atoms::method().encode(env),
                t(*obj),
                t(*name),
                new,
                t(*kwargs),
            ],
            Job::CallObj { obj, kwargs, .. } => {
                vec![atoms::call_obj().encode(env), t(*obj), new, t(*kwargs)]
            }
            Job::CallIn {
                ns, name, kwargs, ..
            } => vec![
                atoms::call_in().encode(env),
                t(*ns),
                t(*name),
                new,
                t(*kwargs),
            ],
            _ => return None,
        };
        Some(make_tuple(env, &parts))
    }
}

/// What the caller wants back (`return` and `none` of the call options).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Return {
    /// The value converted to a term; `None` is `undefined`.
    Term,
    /// The value converted to a term; `None` is `nil` (what Elixir callers want).
    TermNil,
    /// A handle to the object, whatever it is.
    Handle,
}

impl Return {
    /// `term`, `term_nil` or `handle` (py_exec's option check makes these).
    pub fn decode(t: Term<'_>) -> Option<Return> {
        let a: Atom = t.decode().ok()?;
        if a == atoms::term() {
            Some(Return::Term)
        } else if a == atoms::handle() {
            Some(Return::Handle)
        } else if a == atoms::term_nil() {
            Some(Return::TermNil)
        } else {
            None
        }
    }
}
