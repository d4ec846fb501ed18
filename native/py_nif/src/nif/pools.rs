//! Contexts and pools: start, stop, fill a slot, and what they are doing.
use super::result;
use crate::base::atoms;
use crate::base::error::DownReason;
use crate::exec::context::{self, CtxRes};
use crate::exec::pool::Pool;
use crate::runtime::gil;
use rustler::{Atom, Encoder, Env, LocalPid, ResourceArc, Term};

#[rustler::nif]
fn context_new(env: Env<'_>, owner: LocalPid) -> Term<'_> {
    result(env, context::context_new(env, owner).map(|c| c.encode(env)))
}

#[rustler::nif]
fn context_stop(ctx: ResourceArc<CtxRes>) -> Atom {
    ctx.inner.shut_down(DownReason::Stopped);
    atoms::ok()
}

#[rustler::nif]
fn context_info(env: Env<'_>, ctx: ResourceArc<CtxRes>) -> Term<'_> {
    let c = &ctx.inner;
    Term::map_from_pairs(
        env,
        &[
            (atoms::id().encode(env), c.id.encode(env)),
            (atoms::alive().encode(env), c.alive().encode(env)),
            (
                atoms::busy().encode(env),
                (c.load() > 0 && c.alive()).encode(env),
            ),
            (
                atoms::queued().encode(env),
                c.load().saturating_sub(1).encode(env),
            ),
        ],
    )
    .unwrap_or_else(|_| atoms::error().encode(env))
}

#[rustler::nif]
fn pool_new(size: usize, strategy: Atom) -> Result<ResourceArc<Pool>, rustler::Error> {
    if size == 0 || !(strategy == atoms::round_robin() || strategy == atoms::least_busy()) {
        return Err(rustler::Error::BadArg);
    }
    Ok(ResourceArc::new(Pool::new(
        size,
        strategy == atoms::least_busy(),
    )))
}

#[rustler::nif]
fn pool_set(
    pool: ResourceArc<Pool>,
    index: usize,
    ctx: ResourceArc<CtxRes>,
) -> Result<Atom, rustler::Error> {
    if pool.set(index, ctx.inner.clone()) {
        Ok(atoms::ok())
    } else {
        Err(rustler::Error::BadArg)
    }
}

fn opt_ms(env: Env<'_>, ms: Option<u64>) -> Term<'_> {
    match ms {
        Some(ms) => ms.encode(env),
        None => atoms::undefined().encode(env),
    }
}

#[rustler::nif]
fn pool_info(env: Env<'_>, pool: ResourceArc<Pool>) -> Term<'_> {
    let map = |pairs: &[(Term<'_>, Term<'_>)]| {
        Term::map_from_pairs(env, pairs).unwrap_or_else(|_| atoms::error().encode(env))
    };
    // Contexts are reported by id: the pool holds contexts, not their Erlang resources.
    let ctxs: Vec<Term<'_>> = pool
        .contexts()
        .iter()
        .map(|c| match c {
            Some(c) if c.alive() => map(&[
                (atoms::id().encode(env), c.id.encode(env)),
                (atoms::busy().encode(env), (c.load() > 0).encode(env)),
                (
                    atoms::queued().encode(env),
                    c.load().saturating_sub(1).encode(env),
                ),
                (atoms::running_ms().encode(env), opt_ms(env, c.running_ms())),
            ]),
            _ => atoms::undefined().encode(env),
        })
        .collect();
    let stuck = gil::stuck_for().map(|d| d.as_millis() as u64);
    map(&[
        (atoms::size().encode(env), pool.size().encode(env)),
        (atoms::strategy().encode(env), pool.strategy().encode(env)),
        (atoms::restarts().encode(env), pool.restarts().encode(env)),
        (atoms::contexts().encode(env), ctxs.encode(env)),
        (
            atoms::gil().encode(env),
            map(&[(atoms::stuck_ms().encode(env), opt_ms(env, stuck))]),
        ),
    ])
}
