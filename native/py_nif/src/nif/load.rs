//! Loading: the load info read, `_erlang` registered, the interpreter started.
use crate::base::atoms;
use crate::exec::pymod::_erlang as _erlang_module;
use crate::runtime::{interp, logging};
use rustler::{Encoder, Env, Term};

pub fn load<'a>(env: Env<'a>, info: Term<'a>) -> bool {
    logging::install();
    let info: interp::LoadInfo = match rustler::serde::from_term(normalize_load_info(env, info)) {
        Ok(i) => i,
        Err(e) => {
            // Nothing can reach the logger while the NIF fails to load: say it here.
            eprintln!("py_nif: bad load info {info:?}: {e:?}");
            return false;
        }
    };
    // `_erlang` must be registered before the interpreter starts.
    if unsafe { pyo3::ffi::Py_IsInitialized() } == 0 {
        pyo3::append_to_inittab!(_erlang_module);
    }
    interp::start(info);
    true
}

/// The load info as rustler's serde wants it: Erlang says `undefined` for "not set"
/// where serde's options want a missing key, and serde reads a Rust struct only from a
/// map tagged like an Elixir struct.
fn normalize_load_info<'a>(env: Env<'a>, info: Term<'a>) -> Term<'a> {
    let Some(iter) = rustler::types::map::MapIterator::new(info) else {
        return info;
    };
    let mut pairs: Vec<(Term<'a>, Term<'a>)> = iter
        .filter(|(_, v)| *v != atoms::undefined().encode(env))
        .collect();
    pairs.push((
        rustler::serde::atoms::__struct__().encode(env),
        rustler::serde::atoms::str_to_term(env, "LoadInfo"),
    ));
    Term::map_from_pairs(env, &pairs).unwrap_or(info)
}
