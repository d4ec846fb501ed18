//! Values made by the NIF itself: `bytes`/`buffer` markers, and the handle test.
use crate::convert::handle::{self, Marker, MarkerKind};
use rustler::{Encoder, Env, ResourceArc, Term};

fn marker<'a>(env: Env<'a>, kind: MarkerKind, bin: Term<'a>) -> Result<Term<'a>, rustler::Error> {
    if !bin.is_binary() {
        return Err(rustler::Error::BadArg);
    }
    let m = Marker::new(kind, bin).ok_or(rustler::Error::BadArg)?;
    Ok(ResourceArc::new(m).encode(env))
}

#[rustler::nif]
fn bytes<'a>(env: Env<'a>, bin: Term<'a>) -> Result<Term<'a>, rustler::Error> {
    marker(env, MarkerKind::Bytes, bin)
}

#[rustler::nif]
fn buffer<'a>(env: Env<'a>, bin: Term<'a>) -> Result<Term<'a>, rustler::Error> {
    marker(env, MarkerKind::Buffer, bin)
}

#[rustler::nif]
fn is_handle(t: Term<'_>) -> bool {
    t.try_get_resource::<handle::PyHandle>().is_some()
}
