%% @doc Pools as names across a cluster (docs/cluster.md): every pool joins the
%% `pg' group `{py_pool, Name}' of the scope `py_pg', so `on => Name' reaches a
%% pool of that name on any connected node (this node's first); and the
%% parallel calls: `map/3' (one call per element over the servers of a pool or
%% of every pool of a name) and `broadcast/3' (the same call on each server).
-module(py_cluster).

-export([join/2, remote_pool/1, member/2, pools/0, local_pools/0, start_pool/3, stop_pool/2, servers/2]).
-export([map/3, broadcast/3]).
-export([run_one/4]).

-export_type([server/0, map_opts/0]).

-define(SCOPE, py_pg).

%% One server: a context or worker `N' of pool `Pool' on `Node'.
-type server() :: {node(), atom(), pos_integer()}.
-type map_opts() :: #{on => atom(), scope => local | cluster, timeout => timeout(),
                      total_timeout => timeout(), retry => non_neg_integer(),
                      in_flight => pos_integer(), return => term | handle,
                      none => undefined | nil}.

%% How many calls each server has in flight during map/3, unless told: enough
%% to keep a worker busy while its next calls cross the pipe. Measured on 2
%% workers, 10,000 trivial calls: 2 gave about 60% of the throughput of 4, and 4
%% gave 74-77% of 8 processes calling directly, 8 gave 88-89%.
-define(IN_FLIGHT, 8).

%% How long start_pool/3 and stop_pool/2 wait for this node's pg to hear of
%% the change (ms); it normally hears at once, or within a millisecond or so.
-define(PG_WAIT, 5000).

%% @doc Makes the pool supervisor `Pid' a member of the group of `Name'.
-spec join(atom(), pid()) -> ok.
join(Name, Pid) ->
    case whereis(?SCOPE) of
        undefined -> ok;
        _ -> pg:join(?SCOPE, {py_pool, Name}, Pid)
    end.

%% @doc A node other than this one with a pool named `Name', picked in turn
%% among them; `none' when there is none.
-spec remote_pool(atom()) -> {ok, node()} | none.
remote_pool(Name) ->
    case members(Name) of
        [] ->
            none;
        Members ->
            case [node(P) || P <- Members, node(P) =/= node()] of
                [] -> none;
                %% In turn: a plain unique_integer/1 steps by a power of two
                %% on a scheduler, so its `rem' picked the same one of two nodes
                %% every time; the monotonic one steps by one on this node.
                Nodes -> {ok, lists:nth(erlang:unique_integer([positive, monotonic])
                                        rem length(Nodes) + 1, Nodes)}
            end
    end.

%% @doc The process that stands for pool `Name' on `Node' in the group (its
%% supervisor), or `none'. A pool stopped and started again there is another
%% process: what was made on the first is not on the second.
-spec member(atom(), node()) -> pid() | none.
member(Name, Node) ->
    case [P || P <- members(Name), node(P) =:= Node] of
        [P | _] -> P;
        [] -> none
    end.

members(Name) ->
    case whereis(?SCOPE) of
        undefined -> [];
        _ -> pg:get_members(?SCOPE, {py_pool, Name})
    end.

%% @doc Every pool of the cluster: its name, node, kind and size.
-spec pools() -> [#{name := atom(), node := node(), kind := context | worker,
                    size := pos_integer()}].
pools() ->
    Groups = case whereis(?SCOPE) of
                 undefined -> [];
                 _ -> [Name || {py_pool, Name} <- pg:which_groups(?SCOPE)]
             end,
    Nodes = lists:usort([node(P) || Name <- Groups, P <- members(Name)]),
    lists:sort(lists:append([node_pools(N) || N <- Nodes])).

node_pools(Node) when Node =:= node() ->
    local_pools();
node_pools(Node) ->
    try
        erpc:call(Node, ?MODULE, local_pools, [], 5000)
    catch
        _:_ -> []
    end.

%% @doc The pools of this node, as pools/0 lists them.
-spec local_pools() -> [#{name := atom(), node := node(), kind := context | worker,
                          size := pos_integer()}].
local_pools() ->
    [#{name => Name, node => node(), kind => Kind, size => Size}
     || {{py_pool, Name}, Pool} <- persistent_term:get(),
        {Kind, Size} <- [kind_size(Pool)]].

kind_size({py_workers, _, Size, _, _, _}) -> {worker, Size};
kind_size(Pool) ->
    #{size := Size} = py_nif:pool_info(Pool),
    {context, Size}.

%% @doc Starts a pool on `Node' (py is started there if it is not).
-spec start_pool(node(), atom(), map()) -> {ok, pid()} | {error, term()}.
start_pool(Node, Name, Opts) ->
    try
        case erpc:call(Node, application, ensure_all_started, [py], 30000) of
            {ok, _} ->
                case erpc:call(Node, py_sup, start_pool, [Name, Opts], 60000) of
                    {ok, Pid} = Ok ->
                        await_pg(Name, fun(Members) -> lists:member(Pid, Members) end),
                        Ok;
                    Other ->
                        Other
                end;
            {error, _} = Error ->
                Error
        end
    catch
        error:{erpc, noconnection} -> {error, {node_down, Node}};
        error:{erpc, Reason} -> {error, {erpc, Reason}};
        Class:Reason -> {error, {remote, Class, Reason}}
    end.

%% @doc Stops the pool `Name' of `Node'.
-spec stop_pool(node(), atom()) -> ok | {error, term()}.
stop_pool(Node, Name) ->
    try erpc:call(Node, py_sup, stop_pool, [Name], 30000) of
        ok ->
            await_pg(Name, fun(Members) -> not lists:any(fun(P) -> node(P) =:= Node end, Members)
                           end),
            ok;
        Other ->
            Other
    catch
        error:{erpc, noconnection} -> {error, {node_down, Node}};
        error:{erpc, Reason} -> {error, {erpc, Reason}};
        Class:Reason -> {error, {remote, Class, Reason}}
    end.

%% pg tells other nodes of a join or a leave by message, after the pool has
%% started or stopped there: the caller of start_pool/stop_pool waits (a
%% while) until this node's pg has heard, so that a call on the name right
%% after finds the pool, or no longer finds it there.
await_pg(Name, Done) ->
    case whereis(?SCOPE) of
        undefined -> ok;
        _ -> await_pg(Name, Done, erlang:monotonic_time(millisecond) + ?PG_WAIT)
    end.

await_pg(Name, Done, Until) ->
    case Done(members(Name)) orelse erlang:monotonic_time(millisecond) > Until of
        true ->
            ok;
        false ->
            timer:sleep(1),
            await_pg(Name, Done, Until)
    end.

%% @doc The servers of pool `Name': this node's (`local'), or those of every
%% pool of that name in the cluster (`cluster').
-spec servers(atom(), local | cluster) -> [server()].
servers(Name, local) ->
    [{node(), Name, N} || N <- lists:seq(1, local_size(Name))];
servers(Name, cluster) ->
    Nodes = lists:usort([node(P) || P <- members(Name)] ++
                            [node() || local_size(Name) > 0]),
    lists:append([[{Node, Name, N} || N <- lists:seq(1, size_on(Node, Name))] || Node <- Nodes]).

local_size(Name) ->
    case py_pool:lookup(Name) of
        undefined -> 0;
        Pool -> element(2, kind_size(Pool))
    end.

size_on(Node, Name) when Node =:= node() ->
    local_size(Name);
size_on(Node, Name) ->
    try
        erpc:call(Node, ?MODULE, servers, [Name, local], 5000)
    of
        Servers -> length(Servers)
    catch
        _:_ -> 0
    end.

%%% map and broadcast

%% @doc One call per element of `ListOfArgs' (each an argument list) over the
%% servers of a pool, results in order: `{ok, Value}' or `{error, Reason}'
%% each. See py:map/3.
-spec map(term(), [list()], map_opts()) -> {ok, [{ok, term()} | {error, term()}]}
                                           | {error, term()}.
map(Target, ListOfArgs, Opts) when is_list(ListOfArgs), is_map(Opts) ->
    case check_map_opts(Opts) of
        {ok, #{on := Name, scope := Scope} = Checked} ->
            case servers(Name, Scope) of
                [] -> {error, {no_pool, Name}};
                Servers -> {ok, scatter(Target, ListOfArgs, Servers, Checked)}
            end;
        {error, _} = Error ->
            Error
    end;
map(_Target, ListOfArgs, Opts) when is_map(Opts) ->
    {error, {bad_args, ListOfArgs}};
map(_Target, _ListOfArgs, Opts) ->
    {error, {bad_option, Opts}}.

%% @doc The same call on every server of a pool: `[{Server, Result}]'.
-spec broadcast(term(), list(), map_opts()) -> {ok, [{server(), {ok, term()} | {error, term()}}]}
                                              | {error, term()}.
broadcast(Target, Args, Opts) when is_list(Args), is_map(Opts) ->
    case check_map_opts(Opts) of
        {ok, #{on := Name, scope := Scope} = Checked} ->
            case servers(Name, Scope) of
                [] ->
                    {error, {no_pool, Name}};
                Servers ->
                    Self = self(),
                    Refs = [{S, spawn_monitor(fun() ->
                                                      Self ! {py_broadcast, self(),
                                                              run_one(Target, Args, S, Checked)}
                                              end)} || S <- Servers],
                    Deadline = deadline(maps:get(total_timeout, Checked)),
                    {ok, [{S, collect_one(Pid, MRef, Deadline)} || {S, {Pid, MRef}} <- Refs]}
            end;
        {error, _} = Error ->
            Error
    end;
broadcast(_Target, Args, Opts) when is_map(Opts) ->
    {error, {bad_args, Args}};
broadcast(_Target, _Args, Opts) ->
    {error, {bad_option, Opts}}.

%% One server's result, within the whole broadcast's deadline.
collect_one(Pid, MRef, Deadline) ->
    receive
        {py_broadcast, Pid, Result} ->
            erlang:demonitor(MRef, [flush]),
            Result;
        {'DOWN', MRef, process, Pid, Reason} ->
            {error, {panic, unicode:characters_to_binary(io_lib:format("~0tp", [Reason]))}}
    after remaining(Deadline) ->
            erlang:demonitor(MRef, [flush]),
            exit(Pid, kill),
            receive {py_broadcast, Pid, _} -> ok after 0 -> ok end,
            {error, timeout}
    end.

deadline(infinity) -> infinity;
deadline(Ms) -> erlang:monotonic_time(millisecond) + Ms.

remaining(infinity) -> infinity;
remaining(Deadline) -> max(0, Deadline - erlang:monotonic_time(millisecond)).

check_map_opts(Opts) ->
    Defaults = #{scope => local, timeout => default, total_timeout => infinity, retry => 0,
                 in_flight => ?IN_FLIGHT},
    check(maps:to_list(maps:merge(Defaults, Opts)), #{}).

check([], #{on := _} = Acc) -> {ok, Acc};
check([], _Acc) -> {error, {bad_option, on}};
check([{on, Name} | Rest], Acc) when is_atom(Name), Name =/= dirty -> check(Rest, Acc#{on => Name});
check([{scope, S} | Rest], Acc) when S =:= local; S =:= cluster -> check(Rest, Acc#{scope => S});
check([{timeout, T} | Rest], Acc) when T =:= default; T =:= infinity; is_integer(T), T >= 0 ->
    check(Rest, Acc#{timeout => T});
check([{total_timeout, T} | Rest], Acc) when T =:= infinity; is_integer(T), T >= 0 ->
    check(Rest, Acc#{total_timeout => T});
check([{retry, N} | Rest], Acc) when is_integer(N), N >= 0 -> check(Rest, Acc#{retry => N});
check([{in_flight, N} | Rest], Acc) when is_integer(N), N > 0 -> check(Rest, Acc#{in_flight => N});
check([{return, R} | Rest], Acc) when R =:= term; R =:= handle -> check(Rest, Acc#{return => R});
check([{none, N} | Rest], Acc) when N =:= undefined; N =:= nil -> check(Rest, Acc#{none => N});
check([{Key, _} | _], _Acc) -> {error, {bad_option, Key}}.

%% @doc One call of map/3 or broadcast/3 on one server.
-spec run_one(term(), list(), server(), map()) -> {ok, term()} | {error, term()}.
run_one(Target, Args, {Node, Name, N}, Opts) ->
    On = case Node =:= node() of
             true -> {Name, N};
             false -> {node, Node, {Name, N}}
         end,
    CallOpts = maps:with([timeout, return, none], Opts),
    py:call(Target, Args, [], (maps:filter(fun(_, V) -> V =/= default end, CallOpts))#{on => On}).

%% The coordinator: `in_flight' runners per server take the next index, run
%% it and report; a failed shard whose failure is the server's (worker_down,
%% node_down) is retried on another server while `retry' allows.
scatter(Target, ListOfArgs, Servers, #{in_flight := K, total_timeout := Total} = Opts) ->
    Work = list_to_tuple(ListOfArgs),
    Count = tuple_size(Work),
    Self = self(),
    Runners = [begin
                   {Pid, MRef} = spawn_monitor(fun() -> runner(Self, Target, S, Opts) end),
                   {Pid, {MRef, S}}
               %% Interleaved: the first requests for work come from every server,
               %% so a map smaller than the runners still uses them all.
               end || _ <- lists:seq(1, K), S <- Servers],
    Deadline = deadline(Total),
    State = #{next => 1, count => Count, work => Work, results => #{}, retries => [],
              budget => maps:get(retry, Opts), runners => maps:from_list(Runners),
              deadline => Deadline, name => maps:get(on, Opts)},
    Results = coordinate(State),
    %% Runners still in a call (the total timeout passed) are given up.
    [begin erlang:demonitor(MRef, [flush]), exit(P, kill) end || {P, {MRef, _}} <- Runners],
    flush_runner_messages(),
    [maps:get(I, Results, {error, timeout}) || I <- lists:seq(1, Count)].

flush_runner_messages() ->
    receive
        {py_map_next, _} -> flush_runner_messages();
        {py_map_result, _, _, _} -> flush_runner_messages();
        {py_map_unrun, _} -> flush_runner_messages()
    after 0 -> ok
    end.

coordinate(#{count := Count, results := Results}) when map_size(Results) =:= Count ->
    Results;
coordinate(#{deadline := Deadline, results := Results} = State) ->
    After = remaining(Deadline),
    receive
        {py_map_next, Runner} ->
            coordinate(give(Runner, State));
        {py_map_result, Index, Server, Result} ->
            coordinate(result(Index, Server, Result, State));
        {py_map_unrun, Indexes} ->
            %% Handed out but not run: first in line again, on any server.
            Back = [{I, none} || I <- Indexes],
            coordinate(State#{retries := Back ++ maps:get(retries, State)});
        {'DOWN', _MRef, process, Pid, _} ->
            Runners = maps:remove(Pid, maps:get(runners, State)),
            case map_size(Runners) of
                0 -> unserved(State);
                _ -> coordinate(State#{runners := Runners})
            end
    after After ->
            Results
    end.

%% No runner is left (their servers went down): the shards not done fail with
%% the last server failure seen.
unserved(#{count := Count, results := Results} = State) ->
    Why = maps:get(last_error, State, {error, {no_pool, maps:get(name, State)}}),
    maps:merge(maps:from_list([{I, Why} || I <- lists:seq(1, Count)]), Results).

%% The next index for a runner: a shard to retry first, unless it failed on
%% that runner's own server and another server is there to take it.
give(Runner, #{runners := Runners} = State) ->
    Server = case Runners of
                 #{Runner := {_, S}} -> S;
                 _ -> undefined
             end,
    Others = [S || {_, S} <- maps:values(Runners), S =/= Server],
    case take_retry(Server, Others, maps:get(retries, State)) of
        {ok, Index, Rest} ->
            Runner ! {py_map_do, [{Index, element(Index, maps:get(work, State))}]},
            State#{retries := Rest};
        none ->
            case State of
                #{next := Next, count := Count} when Next =< Count ->
                    %% A few shards at a time when many are left: the coordinator is
                    %% one process, and three messages per shard made it the
                    %% bottleneck of a map of trivial calls. Fewer near the end, so
                    %% that the last ones are shared out.
                    Last = min(Count, Next - 1 + chunk(Count - Next + 1, map_size(Runners))),
                    Runner ! {py_map_do, [{I, element(I, maps:get(work, State))}
                                          || I <- lists:seq(Next, Last)]},
                    State#{next := Last + 1};
                _ ->
                    %% A runner told to stop is no server for retries any more.
                    Runner ! py_map_stop,
                    State#{runners := maps:remove(Runner, Runners)}
            end
    end.

%% Shards per request: an eighth of each runner's share of what is left, at most 16.
chunk(Left, Runners) ->
    max(1, min(16, Left div (8 * max(1, Runners)))).

take_retry(_Server, _Others, []) ->
    none;
take_retry(Server, Others, Retries) ->
    case lists:partition(fun({_, Failed}) -> Failed =/= Server orelse Others =:= [] end, Retries) of
        {[{Index, _} | Rest], Skipped} -> {ok, Index, Rest ++ Skipped};
        {[], _} -> none
    end.

result(Index, Server, {error, {Down, _}} = Error, #{budget := Budget} = State)
  when (Down =:= worker_down orelse Down =:= node_down), Budget > 0 ->
    State#{budget := Budget - 1, retries := maps:get(retries, State) ++ [{Index, Server}],
           last_error => Error};
result(Index, _Server, {error, {Down, _}} = Error, #{results := Results} = State)
  when Down =:= worker_down; Down =:= node_down ->
    State#{results := Results#{Index => Error}, last_error => Error};
result(Index, _Server, Result, #{results := Results} = State) ->
    State#{results := Results#{Index => Result}}.

%% Each result goes back as it comes (a retry can start at once); after a
%% node_down, the rest of the chunk goes back unrun, for other servers.
run_shards(_Coordinator, _Target, _Server, _Opts, []) ->
    ok;
run_shards(Coordinator, Target, Server, Opts, [{Index, Args} | Rest]) ->
    Result = run_one(Target, Args, Server, Opts),
    Coordinator ! {py_map_result, Index, Server, Result},
    case Result of
        {error, {node_down, _}} ->
            Coordinator ! {py_map_unrun, [I || {I, _} <- Rest]},
            node_down;
        _ ->
            run_shards(Coordinator, Target, Server, Opts, Rest)
    end.

runner(Coordinator, Target, Server, Opts) ->
    MRef = erlang:monitor(process, Coordinator),
    runner_loop(Coordinator, MRef, Target, Server, Opts).

runner_loop(Coordinator, MRef, Target, Server, Opts) ->
    Coordinator ! {py_map_next, self()},
    receive
        {py_map_do, Shards} ->
            case run_shards(Coordinator, Target, Server, Opts, Shards) of
                node_down -> ok;
                ok -> runner_loop(Coordinator, MRef, Target, Server, Opts)
            end;
        py_map_stop ->
            ok;
        {'DOWN', MRef, process, _, _} ->
            ok
    end.
