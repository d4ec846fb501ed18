%% @doc The top supervisor of `py': `py_server', the cluster's processes (the
%% `pg' scope `py_pg', `py_export', `py_import_sup') and one supervisor per pool
%% (`py_pool' for contexts, `py_worker_pool' for workers).
-module(py_sup).
-behaviour(supervisor).

-export([start_link/1, start_pool/2, stop_pool/1]).
-export([init/1]).

%% @doc Starts the tree with the `default' pool (`#{size, strategy}').
-spec start_link(py_pool:opts()) -> {ok, pid()} | {error, term()}.
start_link(DefaultPool) ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, DefaultPool).

%% @doc Starts a named pool under this supervisor.
-spec start_pool(atom(), map()) -> {ok, pid()} | {error, term()}.
start_pool(Name, Opts) when is_atom(Name), Name =/= dirty ->
    case py_pool:validate_opts(Opts) of
        {ok, PoolOpts} ->
            case supervisor:start_child(?MODULE, pool_spec(Name, PoolOpts)) of
                {ok, Pid} -> {ok, Pid};
                {error, {already_started, _}} -> {error, {already_started, Name}};
                {error, already_present} -> {error, {already_started, Name}};
                {error, _} = Error -> Error
            end;
        {error, _} = Error ->
            Error
    end;
start_pool(Name, _Opts) ->
    %% `dirty' is an `on' value of its own, so a pool of that name could never be reached.
    {error, {bad_pool_name, Name}}.

%% @doc Stops a named pool and its contexts.
-spec stop_pool(atom()) -> ok | {error, not_found}.
stop_pool(Name) ->
    Id = {py_pool, Name},
    case supervisor:terminate_child(?MODULE, Id) of
        ok ->
            _ = supervisor:delete_child(?MODULE, Id),
            ok = py_worker_pool:unpublish(Name),
            py_pool:unpublish(Name);
        {error, not_found} = Error ->
            Error
    end.

%% @private
-spec init(py_pool:opts()) ->
          {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init(DefaultPool) ->
    ok = py_worker:init_marker(),
    Server = #{id => py_server,
               start => {py_server, start_link, []},
               restart => permanent,
               shutdown => 5000,
               type => worker},
    Cluster = [#{id => py_pg,
                 start => {pg, start_link, [py_pg]},
                 restart => permanent,
                 shutdown => 5000,
                 type => worker},
               #{id => py_export,
                 start => {py_export, start_link, []},
                 restart => permanent,
                 shutdown => 5000,
                 type => worker},
               #{id => py_import_sup,
                 start => {py_import_sup, start_link, []},
                 restart => permanent,
                 shutdown => infinity,
                 type => supervisor}],
    %% py_server first: it must be the NIF's server before any context runs Python.
    %% The cluster's processes before any pool: pools join their pg group.
    {ok, {#{strategy => one_for_one, intensity => 10, period => 60},
          [Server | Cluster] ++ [pool_spec(default, DefaultPool)]}}.

pool_spec(Name, PoolOpts) ->
    Module = case PoolOpts of
                 #{kind := worker} -> py_worker_pool;
                 _ -> py_pool
             end,
    #{id => {py_pool, Name},
      start => {Module, start_link, [Name, PoolOpts]},
      restart => permanent,
      shutdown => infinity,
      type => supervisor}.
