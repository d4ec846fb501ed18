%% @doc A pool of contexts: one supervisor (one_for_one) with one `py_context'
%% per slot of a NIF pool resource.
%%
%% The resource is made and published under `{py_pool, Name}' in
%% `persistent_term' once per pool start. A restarted context puts itself back
%% into its slot, so callers never see a new resource for it.
-module(py_pool).
-behaviour(supervisor).

-export([start_link/2, validate_opts/1, lookup/1, context/2, owners/1, unpublish/1,
         unpublish_all/0]).
-export([init/1]).

-export_type([opts/0]).

-type opts() :: #{size := pos_integer(), strategy := py_nif:strategy(),
                  kind => context | worker,
                  %% Workers only (see py_worker:opts/0).
                  python => binary() | undefined, venv => binary() | undefined,
                  path => [binary()], env => [{binary(), binary()}],
                  max_memory => pos_integer() | undefined, kill_after => non_neg_integer()}.

%% A worker's grace after a timeout's interrupt before it is killed: enough for
%% Python to unwind (`finally' blocks, `__exit__'), short enough that a stuck
%% worker is back in service soon.
-define(KILL_AFTER, 1000).

%% @doc Makes the pool resource, starts its contexts, then publishes it.
-spec start_link(atom(), opts()) -> {ok, pid()} | {error, term()}.
start_link(Name, #{size := Size, strategy := Strategy}) ->
    Pool = py_nif:pool_new(Size, Strategy),
    case supervisor:start_link(?MODULE, {Pool, Size}) of
        {ok, Pid} ->
            %% Published only once every slot is filled, so the first callers
            %% never meet an empty pool.
            persistent_term:put({py_pool, Name}, Pool),
            ok = py_cluster:join(Name, Pid),
            {ok, Pid};
        {error, _} = Error ->
            Error;
        ignore ->
            {error, ignore}
    end.

%% @doc Checks pool options; a missing one comes from the application env.
%% `#{size => 2}' gives `{ok, #{size => 2, strategy => round_robin, kind => context}}'.
-spec validate_opts(term()) -> {ok, opts()} | {error, {bad_option, term()}}.
%% A pool of workers takes `python', `venv', `path' and `env' (by default those
%% of the application env, as the VM's own interpreter), `max_memory' (bytes) and
%% `kill_after' (ms); a pool of contexts shares the VM's interpreter and refuses them.
%% `#{kind => worker, venv => "/no/such"}' gives `{error, {bad_option, venv}}'.
validate_opts(Opts) when is_map(Opts) ->
    Defaults = #{size => default_size(),
                 strategy => application:get_env(py, pool_strategy, round_robin),
                 kind => context},
    Given = maps:merge(Defaults, Opts),
    case Given of
        #{kind := worker} -> check(maps:to_list(maps:merge(worker_defaults(), Given)), #{});
        #{kind := context} -> check(maps:to_list(Given), #{});
        #{kind := _} -> {error, {bad_option, kind}}
    end;
validate_opts(Opts) ->
    {error, {bad_option, Opts}}.

%% What a worker starts with when the pool does not say: the interpreter the
%% application env names, as for contexts.
worker_defaults() ->
    Env = case py_config:check() of
              {ok, Config, _} -> maps:with([python, venv, path, env], Config);
              {error, _} -> #{python => undefined, venv => undefined, path => [], env => []}
          end,
    Env#{max_memory => undefined, kill_after => ?KILL_AFTER}.

-define(WORKER_ONLY, [python, venv, path, env, max_memory, kill_after]).

check([], Acc) ->
    {ok, Acc};
check([{size, N} | Rest], Acc) when is_integer(N), N > 0 ->
    check(Rest, Acc#{size => N});
check([{strategy, S} | Rest], Acc) when S =:= round_robin; S =:= least_busy ->
    check(Rest, Acc#{strategy => S});
check([{kind, K} | Rest], Acc) when K =:= context; K =:= worker ->
    check(Rest, Acc#{kind => K});
check([{Key, Value} | Rest], #{kind := worker} = Acc) when Key =:= python; Key =:= venv;
                                                          Key =:= path; Key =:= env ->
    %% The same checks (and spellings) as the application env's.
    case py_config:check([{Key, Value}]) of
        {ok, Config, _} -> check(Rest, Acc#{Key => maps:get(Key, Config)});
        {error, _} -> {error, {bad_option, Key}}
    end;
check([{max_memory, M} | Rest], #{kind := worker} = Acc)
  when M =:= undefined; is_integer(M), M > 0 ->
    check(Rest, Acc#{max_memory => M});
check([{kill_after, T} | Rest], #{kind := worker} = Acc) when is_integer(T), T >= 0 ->
    check(Rest, Acc#{kill_after => T});
check([{Key, _} = Opt | Rest], Acc) when not is_map_key(kind, Acc) ->
    %% The kind decides which keys are valid: it is checked first.
    case lists:keytake(kind, 1, Rest) of
        {value, Kind, Others} -> check([Kind, Opt | Others], Acc);
        false -> {error, {bad_option, Key}}
    end;
check([{Key, _} | _], _Acc) ->
    {error, {bad_option, Key}}.

default_size() ->
    case application:get_env(py, pool_size, undefined) of
        undefined -> erlang:system_info(schedulers);
        Size -> Size
    end.

%% @doc The published resource of a pool, or `undefined' when it is not started.
-spec lookup(atom()) -> py_nif:pool() | py_worker_pool:published() | undefined.
lookup(Name) ->
    persistent_term:get({py_pool, Name}, undefined).

%% @doc Context `N' (1-based) of a pool, for `on => {Name, N}'.
%% The pool resource does not hand out its contexts, so the context's owner
%% process is asked; this path is for the rare explicit choice of a context.
-spec context(atom(), pos_integer()) ->
          {ok, py_nif:ctx()} | {error, {no_pool, atom()} | {no_context, {atom(), pos_integer()}}}.
context(Name, N) ->
    NoContext = {error, {no_context, {Name, N}}},
    case lookup(Name) =/= undefined andalso child(py_sup, {py_pool, Name}) of
        false ->
            {error, {no_pool, Name}};
        undefined ->
            {error, {no_pool, Name}};
        PoolSup ->
            case child(PoolSup, N - 1) of
                undefined ->
                    NoContext;
                Owner ->
                    try py_context:ctx(Owner) of
                        Ctx -> {ok, Ctx}
                    catch
                        %% The owner stopped between the two look-ups.
                        exit:_ -> NoContext
                    end
            end
    end.

%% @doc The processes that own the contexts of a pool, in slot order (a slot
%% whose owner is restarting is left out); `[]' when the pool is not started.
%% `owners(default)' gives one pid per context.
-spec owners(atom()) -> [pid()].
owners(Name) ->
    case child(py_sup, {py_pool, Name}) of
        undefined ->
            [];
        PoolSup ->
            try supervisor:which_children(PoolSup) of
                Children -> [Pid || {_, Pid, _, _} <- lists:keysort(1, Children), is_pid(Pid)]
            catch
                exit:_ -> []
            end
    end.

child(Sup, Id) ->
    try supervisor:which_children(Sup) of
        Children ->
            case lists:keyfind(Id, 1, Children) of
                {Id, Pid, _, _} when is_pid(Pid) -> Pid;
                _ -> undefined
            end
    catch
        exit:_ -> undefined
    end.

%% @doc Forgets a stopped pool.
-spec unpublish(atom()) -> ok.
unpublish(Name) ->
    _ = persistent_term:erase({py_pool, Name}),
    ok.

%% @doc Forgets every pool (the application stopped).
-spec unpublish_all() -> ok.
unpublish_all() ->
    lists:foreach(fun({{py_pool, Name}, _}) -> unpublish(Name);
                     ({{py_worker, _, _} = Key, _}) -> persistent_term:erase(Key);
                     (_) -> ok
                  end, persistent_term:get()).

%% @private
-spec init({py_nif:pool(), pos_integer()}) ->
          {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init({Pool, Size}) ->
    Contexts = [#{id => Index,
                  start => {py_context, start_link, [Pool, Index]},
                  restart => permanent,
                  shutdown => 5000,
                  type => worker}
                || Index <- lists:seq(0, Size - 1)],
    {ok, {#{strategy => one_for_one, intensity => 10, period => 10}, Contexts}}.
