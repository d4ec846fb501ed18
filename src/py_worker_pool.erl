%% @doc A pool of workers: one supervisor (one_for_one) with one `py_worker'
%% owner per slot, and a `py_worker_spare' that keeps one worker ready. An owner replaces its own worker when it dies, so a slot
%% keeps its pid; a restarted owner publishes its new pid itself.
%%
%% The pool is published under `{py_pool, Name}' as `{py_workers, Name, Size,
%% Strategy, Load, Counter}': `Load' counts each slot's jobs in flight (for
%% `least_busy'), `Counter' turns for `round_robin'.
-module(py_worker_pool).
-behaviour(supervisor).

-export([start_link/2, home/1, owner/2, owners/1, publish_owner/3, unpublish/1, info/1]).
-export([init/1]).

-export_type([published/0]).

-type published() :: {py_workers, atom(), pos_integer(), py_nif:strategy(),
                      atomics:atomics_ref(), atomics:atomics_ref()}.

%% @doc Starts the workers of a pool (each ready to run Python), then publishes it.
-spec start_link(atom(), py_pool:opts()) -> {ok, pid()} | {error, term()}.
start_link(Name, #{size := Size, strategy := Strategy} = Opts) ->
    Load = atomics:new(Size, []),
    WorkerOpts = maps:with([python, venv, path, env, max_memory, kill_after], Opts),
    case supervisor:start_link(?MODULE, {Name, Size, WorkerOpts, Load}) of
        {ok, Pid} ->
            Counter = atomics:new(1, []),
            persistent_term:put({py_pool, Name},
                                {py_workers, Name, Size, Strategy, Load, Counter}),
            ok = py_cluster:join(Name, Pid),
            {ok, Pid};
        {error, _} = Error ->
            Error;
        ignore ->
            {error, ignore}
    end.

%% The slot a process's calls go to, by the pool's strategy.
pick_slot({py_workers, _Name, Size, round_robin, _Load, Counter}) ->
    atomics:add_get(Counter, 1, 1) rem Size + 1;
pick_slot({py_workers, _Name, Size, least_busy, Load, _Counter}) ->
    least(Load, Size, 2, 1, atomics:get(Load, 1)).

%% @doc The owner of the calling process's worker in this pool: picked by the
%% strategy on the process's first call, then the same one. Objects of two
%% workers cannot meet in one call, so a process's handles and namespace must
%% stay together; processes are spread over the workers, and py:map/3 or
%% `on => {Pool, N}' spread one process's calls.
-spec home(published()) -> {ok, pid()} | {error, {no_pool, atom()}}.
home({py_workers, Name, Size, _, _, _} = Pool) ->
    Key = {py_worker_home, Name},
    N = case get(Key) of
            Home when is_integer(Home), Home =< Size ->
                Home;
            _ ->
                Home = pick_slot(Pool),
                put(Key, Home),
                Home
        end,
    owner_at(Name, N).

least(_Load, Size, I, Best, _BestN) when I > Size -> Best;
least(Load, Size, I, Best, BestN) ->
    case atomics:get(Load, I) of
        N when N < BestN -> least(Load, Size, I + 1, I, N);
        _ -> least(Load, Size, I + 1, Best, BestN)
    end.

%% @doc The owner of slot `N' (1-based), for `on => {Name, N}'.
-spec owner(published(), pos_integer()) -> {ok, pid()} | {error, term()}.
owner({py_workers, Name, Size, _, _, _}, N) when is_integer(N), N >= 1, N =< Size ->
    owner_at(Name, N);
owner({py_workers, Name, _, _, _, _}, N) ->
    {error, {no_context, {Name, N}}}.

owner_at(Name, N) ->
    case persistent_term:get({py_worker, Name, N}, undefined) of
        undefined -> {error, {no_pool, Name}};
        Pid -> {ok, Pid}
    end.

%% @doc The owners of a pool's workers, in slot order.
-spec owners(published()) -> [pid()].
owners({py_workers, Name, Size, _, _, _}) ->
    [Pid || N <- lists:seq(1, Size), {ok, Pid} <- [owner_at(Name, N)]].

%% @doc Called by an owner when it starts: its slot now goes to it. A local pid
%% is an immediate term, so replacing it costs no global garbage collection.
-spec publish_owner(atom(), pos_integer(), pid()) -> ok.
publish_owner(Name, N, Pid) ->
    persistent_term:put({py_worker, Name, N}, Pid).

%% @doc Forgets a stopped pool's owners.
-spec unpublish(atom()) -> ok.
unpublish(Name) ->
    lists:foreach(fun({{py_worker, N, _} = Key, _}) when N =:= Name -> persistent_term:erase(Key);
                     (_) -> ok
                  end, persistent_term:get()).

%% @doc The pool's state for `py:pool_info/1': the same keys as a pool of
%% contexts, and `workers', one map per worker.
-spec info(published()) -> py:pool_info().
info({py_workers, _Name, Size, Strategy, _, _} = Pool) ->
    Workers = [worker_info(Owner) || Owner <- owners(Pool)],
    Live = [W || #{} = W <- Workers],
    #{kind => worker,
      size => Size,
      strategy => Strategy,
      busy => length([W || #{busy := true} = W <- Live]),
      queued => lists:sum([Q || #{queued := Q} <- Live]),
      restarts => lists:sum([R || #{restarts := R} <- Live]),
      handles => lists:sum([H || #{handles := H} <- Live]),
      workers => Workers}.

worker_info(Owner) ->
    try
        py_worker:info(Owner)
    catch
        exit:_ -> undefined
    end.

%% @private
-spec init({atom(), pos_integer(), map(), atomics:atomics_ref()}) ->
          {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init({Name, Size, WorkerOpts, Load}) ->
    Workers = [#{id => N,
                 start => {py_worker, start_link, [Name, N, {WorkerOpts, Load}]},
                 restart => permanent,
                 shutdown => 5000,
                 type => worker}
               || N <- lists:seq(1, Size)],
    Spare = #{id => spare,
              start => {py_worker_spare, start_link, [Name, WorkerOpts]},
              restart => permanent,
              shutdown => 5000,
              type => worker},
    {ok, {#{strategy => one_for_one, intensity => 10, period => 10}, Workers ++ [Spare]}}.
