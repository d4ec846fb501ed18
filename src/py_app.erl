%% @doc The `py' application: starts the supervision tree and the `default' pool.
-module(py_app).
-behaviour(application).

-export([start/2, prep_stop/1, stop/1, config_change/3]).

-define(LOG_FILTER, py_domain).

%% @doc Starts `py_sup' with the default pool sized from the application env,
%% once the env's pool and call settings are known to be valid.
-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    %% A bad call_timeout is refused here, not on some later call that waits.
    case {py_pool:validate_opts(#{}), py_exec:load_default_timeout()} of
        {{ok, PoolOpts}, ok} ->
            show_py_logs(),
            py_sup:start_link(PoolOpts);
        {{error, _} = Error, _} ->
            Error;
        {_, {error, _} = Error} ->
            Error
    end.

%% OTP's default handler drops every event whose domain is not under [otp]
%% (filter_default stop); without this filter, Python's warnings and the
%% NIF's own would never reach the console.
show_py_logs() ->
    _ = logger:add_handler_filter(default, ?LOG_FILTER,
                                  {fun logger_filters:domain/2, {log, sub, [py]}}),
    ok.

%% @doc Nothing to do before the tree stops.
-spec prep_stop(State) -> State.
prep_stop(State) ->
    State.

%% @doc Forgets the published pools: their contexts are gone with the tree.
-spec stop(term()) -> ok.
stop(_State) ->
    _ = logger:remove_handler_filter(default, ?LOG_FILTER),
    ok = py_exec:unload_default_timeout(),
    py_pool:unpublish_all().

%% @doc A release upgrade changed the env: a new `call_timeout' is put in
%% force (a bad one is logged and the old one kept).
-spec config_change([{atom(), term()}], [{atom(), term()}], [atom()]) -> ok.
config_change(Changed, New, _Removed) ->
    case lists:keymember(call_timeout, 1, Changed ++ New) of
        true -> log_bad_timeout(py_exec:load_default_timeout());
        false -> ok
    end.

log_bad_timeout(ok) ->
    ok;
log_bad_timeout({error, Reason}) ->
    logger:error("py: call_timeout not changed: ~p", [Reason], #{domain => [py]}),
    ok.
