%% @doc The importers (`py_import'), one per remote node whose Python this node
%% uses, started on demand; and their table (node to importer).
-module(py_import_sup).
-behaviour(supervisor).

-export([start_link/0]).
-export([init/1]).

%% @doc Starts the supervisor, registered as `py_import_sup'.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

%% @private
-spec init([]) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init([]) ->
    %% Owned by this supervisor: it outlives every importer.
    _ = ets:new(py_import, [named_table, public, set, {read_concurrency, true}]),
    {ok, {#{strategy => simple_one_for_one, intensity => 10, period => 10},
          [#{id => py_import,
             start => {py_import, start_link, []},
             restart => temporary,
             shutdown => 5000,
             type => worker}]}}.
