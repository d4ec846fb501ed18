//! Atoms used by the NIF. Every atom the NIF makes is listed here: nothing Python
//! controls ever becomes an atom except an `erlang.Atom` (see `to_erlang`).
rustler::atoms! {
    ok, error, true_ = "true", false_ = "false", undefined, nil,
    nan, inf, neg_inf = "-inf",
    python, unsupported, too_deep, cycle, context_down, bad_job, not_a_handle,
    python_init_failed, timeout, too_large, sent, owner_down, stopped, panic,
    no_context, infinity,
    callback, output, stdout, stderr,
    py_log, py_cast, py_output, py_context_down,
    debug, info, notice, warning, critical,
    term, handle, term_nil, round_robin, least_busy,
    // job tags
    call, call_in, const_ = "const", method, getattr, call_obj, eval, exec, import, value,
    to_binary, namespace, array, ndarray,
    // py:array/1 and py:ndarray/1,2
    bad_array, shape, dtype, data,
    // map keys
    id, alive, busy, queued, size, strategy, contexts, executable, nif,
    args, kwargs,
    bad_kwargs, key_collision, gil_stuck_ms, running_ms, gil, stuck_ms, kind, context,
    restarts, handles,
    // workers
    py_release, bytes, buffer, wrong_place, none,
}
