%% @doc The `py' application: starts the supervision tree and the `default' pool.
-module(py_app).
-behaviour(application).

-export([start/2, prep_stop/1, stop/1, config_change/3]).

-define(LOG_FILTER, py_domain).

%% @doc Checks the application env (py_config), then that Python runs, and only
%% then starts `py_sup' with the default pool: a bad key or value, or a Python
%% that cannot start, is one clear `{error, Reason}' (and one log line), not a
%% tree of failing children. `Reason' is `{bad_config, {Key, Value}}',
%% `{python_init_failed, Message}' or `nif_not_loaded'.
-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    case py_config:check() of
        {ok, Config, Warnings} ->
            lists:foreach(fun(W) -> logger:warning("~ts", [py_config:format_warning(W)]) end,
                          Warnings),
            warn_fixed(Config),
            case python() of
                ok -> start_tree(Config);
                {error, Reason} -> refuse(Reason)
            end;
        {error, Reason} ->
            refuse(Reason)
    end.

start_tree(#{pool_size := Size, pool_strategy := Strategy, call_timeout := Timeout}) ->
    ok = py_exec:set_default_timeout(Timeout),
    show_py_logs(),
    PoolSize = case Size of
                   undefined -> erlang:system_info(schedulers);
                   _ -> Size
               end,
    py_sup:start_link(#{size => PoolSize, strategy => Strategy}).

%% Loading py_nif starts the interpreter (its on_load), once per OS process.
python() ->
    try py_nif:versions() of
        #{python := _} -> ok;
        {error, _} = Error -> Error
    catch
        %% on_load failed (the code server has logged why): no NIF at all.
        error:undef -> {error, nif_not_loaded}
    end.

refuse(Reason) ->
    logger:error("py not started: ~ts", [py_error:format(Reason)]),
    {error, Reason}.

%% The interpreter and the NIF's settings live as long as the OS process: a
%% restart of the application with another venv (or python, path, env, limit)
%% keeps the old ones, which must not pass in silence.
warn_fixed(Config) ->
    case py_nif:loaded_settings() of
        undefined ->
            ok;
        Loaded ->
            case py_config:changed_settings(Loaded, py_config:nif_settings(Config)) of
                [] ->
                    ok;
                Keys ->
                    logger:warning(
                      "py: ~ts changed since Python started in this VM; the interpreter "
                      "keeps the old ~ts until the VM restarts: ~0tp",
                      [lists:join(", ", [atom_to_list(K) || K <- Keys]),
                       case Keys of [_] -> "setting"; _ -> "settings" end,
                       maps:with(Keys, Loaded)])
            end
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
%% force (a bad env is logged and the old timeout kept).
-spec config_change([{atom(), term()}], [{atom(), term()}], [atom()]) -> ok.
config_change(Changed, New, _Removed) ->
    case lists:keymember(call_timeout, 1, Changed ++ New) of
        true -> new_timeout(py_config:check());
        false -> ok
    end.

new_timeout({ok, #{call_timeout := Timeout}, _}) ->
    py_exec:set_default_timeout(Timeout);
new_timeout({error, Reason}) ->
    logger:error("py: call_timeout not changed: ~ts", [py_error:format(Reason)]),
    ok.
