%% @doc Python servers across a cluster (issue 15): remote pools of both
%% kinds, `on => Name' resolved from nodes without such a pool, pools added
%% and removed while calls run, proxy handles used from a third node, the
%% distributed GC, node loss mid-call and mid-map, py:map/3 over the cluster,
%% py:broadcast/3 and py:with_target/2.
%%
%% Three peer nodes (OTP `peer') run py with the same code; the CT node runs
%% py too. A case that kills a node starts a node of its own for it.
-module(py_cluster_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([remote_pools_both_kinds/1, start_pool_reachable_at_once/1,
         on_name_from_elsewhere/1, remote_pick_spreads/1, pool_added_while_calls_run/1,
         context_pool_removed_while_calls_run/1, worker_pool_removed_while_calls_run/1,
         proxy_handles_third_node/1, distributed_gc/1, distributed_gc_workers/1,
         node_down_mid_call/1, caller_death_cancels_remote_call/1, map_cluster_10000/1,
         map_node_killed_retry/1, map_node_killed_no_retry/1, map_total_timeout/1,
         map_call_timeout/1, broadcast_local/1, broadcast_cluster/1,
         broadcast_total_timeout/1, with_target_nesting/1, start_pool_starts_py_there/1,
         holder_down_releases/1, node_back_new_generation/1, first_calls_log_nothing/1,
         abandoned_handle_results_released/1, worker_pool_stop_never_hangs/1, remote_namespace_moves_on/1]).

%% Loops and helpers run on the peers (funs of this module go there).
-export([caller_loop/3]).

suite() ->
    [{timetrap, {minutes, 5}}].

all() ->
    [remote_pools_both_kinds, start_pool_reachable_at_once, on_name_from_elsewhere,
     remote_pick_spreads, pool_added_while_calls_run, context_pool_removed_while_calls_run,
     worker_pool_removed_while_calls_run, proxy_handles_third_node, distributed_gc,
     distributed_gc_workers, node_down_mid_call, caller_death_cancels_remote_call,
     map_cluster_10000, map_node_killed_retry, map_node_killed_no_retry, map_total_timeout,
     map_call_timeout, broadcast_local, broadcast_cluster, broadcast_total_timeout,
     with_target_nesting, start_pool_starts_py_there, holder_down_releases,
     node_back_new_generation, first_calls_log_nothing, abandoned_handle_results_released,
     worker_pool_stop_never_hangs, remote_namespace_moves_on].

%%% Setup

init_per_suite(Config) ->
    ok = py_test_util:start(),
    StartedDist = py_test_util:start_distribution(py_cluster_ct),
    DataDir = ?config(data_dir, Config),
    ok = py_test_util:add_python_path(DataDir),
    Peers = [start_peer(DataDir) || _ <- [1, 2, 3]],
    Nodes = [N || {_, N} <- Peers],
    %% The peers know each other (global would connect them anyway).
    [pong = erpc:call(A, net_adm, ping, [B]) || A <- Nodes, B <- Nodes, A =/= B],
    All = [node() | Nodes],
    ok = wait_seen(default, All, All),
    [{peers, [P || {P, _} <- Peers]}, {nodes, Nodes}, {started_dist, StartedDist} | Config].

end_per_suite(Config) ->
    [catch peer:stop(P) || P <- ?config(peers, Config)],
    case ?config(started_dist, Config) of
        true -> net_kernel:stop();
        false -> ok
    end,
    Config.

init_per_testcase(_Case, Config) ->
    Config.

%% Every pool a case started (on any node) goes; `default' stays.
end_per_testcase(_Case, Config) ->
    Nodes = [node() | ?config(nodes, Config)],
    [catch stop_pool(Name, Node)
     || Node <- Nodes,
        #{name := Name} <- pools_of(Node),
        Name =/= default],
    ok.

pools_of(Node) ->
    try erpc:call(Node, py_cluster, local_pools, [], 5000)
    catch _:_ -> []
    end.

stop_pool(Name, Node) when Node =:= node() -> py:stop_pool(Name);
stop_pool(Name, Node) -> py:stop_pool(Name, Node).

%% A peer with this node's code paths, py started there and the suite's
%% Python helpers (ctest) on its sys.path. Not linked to the caller:
%% init_per_suite's process ends at once.
start_peer(DataDir) ->
    Paths = py_test_util:peer_paths(),
    {ok, Peer, Node} = peer:start(#{name => peer:random_name(py_cluster), args => Paths}),
    {ok, _} = erpc:call(Node, application, ensure_all_started, [py]),
    ok = erpc:call(Node, py_test_util, add_python_path, [DataDir]),
    {Peer, Node}.

%% A node of a case's own (it will be killed): connected to every node.
start_own_peer(Config) ->
    {Peer, Node} = start_peer(?config(data_dir, Config)),
    [pong = erpc:call(Node, net_adm, ping, [N]) || N <- ?config(nodes, Config)],
    ok = wait_has(default, Node, [node() | ?config(nodes, Config)]),
    {Peer, Node}.

%% Kills a node as a crash would (no orderly stop): the call cannot answer.
kill_node(Node) ->
    erpc:cast(Node, erlang, halt, [137]).

worker_opts(Config, Opts) ->
    Opts#{kind => worker, path => [list_to_binary(?config(data_dir, Config))]}.

%% Waits until every node of `Observers' sees, in pg, exactly the nodes
%% `Nodes' with a pool `Name'.
wait_seen(Name, Nodes, Observers) ->
    Want = lists:usort(Nodes),
    Seen = fun(O) ->
                   Members = erpc:call(O, pg, get_members, [py_pg, {py_pool, Name}]),
                   lists:usort([node(P) || P <- Members]) =:= Want
           end,
    case py_test_util:wait_until(fun() -> lists:all(Seen, Observers) end, 10000) of
        ok -> ok;
        timeout -> ct:fail({not_seen, Name, Nodes, [{O, Seen(O)} || O <- Observers]})
    end.

%% Waits until every node of `Observers' sees a pool `Name' on `Node'.
wait_has(Name, Node, Observers) ->
    Seen = fun(O) ->
                   Members = erpc:call(O, pg, get_members, [py_pg, {py_pool, Name}]),
                   lists:member(Node, [node(P) || P <- Members])
           end,
    case py_test_util:wait_until(fun() -> lists:all(Seen, Observers) end, 10000) of
        ok -> ok;
        timeout -> ct:fail({not_seen, Name, Node, [{O, Seen(O)} || O <- Observers]})
    end.

os_pid(Node) ->
    list_to_integer(erpc:call(Node, os, getpid, [])).

worker_pids(Node, Pool) ->
    #{workers := Workers} = erpc:call(Node, py, pool_info, [Pool]),
    [P || #{os_pid := P} <- Workers].

now_ms() ->
    erlang:system_time(millisecond).

%% A process on `Node' that calls `Fun' in a loop, each result with the
%% (system) time the call started and how long it took, until told to stop.
%% Linked: it goes with a case that fails.
start_caller(Node, Fun) ->
    spawn_link(Node, ?MODULE, caller_loop, [self(), Fun, []]).

caller_loop(Parent, Fun, Acc) ->
    receive
        {stop, Ref} ->
            Parent ! {Ref, lists:reverse(Acc)};
        {peek, Ref} ->
            Parent ! {Ref, lists:reverse(Acc)},
            caller_loop(Parent, Fun, Acc)
    after 0 ->
            T = now_ms(),
            R = try Fun() catch C:E -> {crashed, C, E} end,
            caller_loop(Parent, Fun, [{T, now_ms() - T, R} | Acc])
    end.

ask(Caller, What) ->
    Ref = make_ref(),
    Caller ! {What, Ref},
    receive {Ref, Results} -> Results
    after 30000 -> ct:fail({caller_silent, Caller, node(Caller)})
    end.

%% Waits until a caller has results that satisfy `Pred' (looked at every
%% 50 ms: each look copies them all).
wait_results(Caller, Pred, Timeout) ->
    case Pred(ask(Caller, peek)) of
        true -> ok;
        false when Timeout =< 0 -> timeout;
        false -> timer:sleep(50), wait_results(Caller, Pred, Timeout - 50)
    end.

where_call(On) ->
    fun() -> py:call({ctest, where}, [], [], #{on => On}) end.

%%% Remote pools

%% A pool of each kind on a peer: py:pools() lists them with node, kind and
%% size from every node, and they run calls.
remote_pools_both_kinds(Config) ->
    [N1, N2, N3] = Nodes = ?config(nodes, Config),
    All = [node() | Nodes],
    {ok, Sup1} = py:start_pool(rp_ctx, #{node => N1, kind => context, size => 2}),
    N1 = node(Sup1),
    {ok, Sup2} = py:start_pool(rp_wrk, worker_opts(Config, #{node => N2, size => 2})),
    N2 = node(Sup2),
    %% Under that node's supervision.
    true = erpc:call(N1, erlang, is_process_alive, [Sup1]),
    {_, Sup1, supervisor, _} =
        lists:keyfind({py_pool, rp_ctx}, 1, erpc:call(N1, supervisor, which_children, [py_sup])),
    {_, Sup2, supervisor, _} =
        lists:keyfind({py_pool, rp_wrk}, 1, erpc:call(N2, supervisor, which_children, [py_sup])),
    Ctx = #{name => rp_ctx, node => N1, kind => context, size => 2},
    Wrk = #{name => rp_wrk, node => N2, kind => worker, size => 2},
    Listed = fun(Observer) ->
                     Pools = erpc:call(Observer, py, pools, []),
                     Defaults = lists:sort([N || #{name := default, node := N} <- Pools]),
                     lists:member(Ctx, Pools) andalso lists:member(Wrk, Pools)
                         andalso Defaults =:= lists:sort(All)
             end,
    [ok = py_test_util:wait_until(fun() -> Listed(O) end, 10000) || O <- All],
    ct:pal("py:pools() from ~p:~n~p", [N3, erpc:call(N3, py, pools, [])]),
    %% Each pool appears once per node in the list.
    Pools = py:pools(),
    Pools = lists:usort(Pools),
    [#{kind := context, size := DefaultSize}] = [P || #{name := default, node := N} = P <- Pools,
                                                     N =:= node()],
    DefaultSize = maps:get(size, py:pool_info(default)),
    %% Both run calls: contexts in N1's VM, workers in OS processes of N2's.
    P1 = os_pid(N1),
    {ok, {P1, N1}} = py:call({ctest, pid_node}, [], [], #{on => rp_ctx}),
    {ok, {W, N2}} = py:call({ctest, pid_node}, [], [], #{on => rp_wrk}),
    true = lists:member(W, worker_pids(N2, rp_wrk)),
    true = W =/= os_pid(N2),
    #{kind := worker, size := 2} = erpc:call(N2, py, pool_info, [rp_wrk]),
    #{kind := context, size := 2} = erpc:call(N1, py, pool_info, [rp_ctx]),
    %% A name taken on that node is refused there.
    {error, {already_started, rp_ctx}} = py:start_pool(rp_ctx, #{node => N1, size => 1}),
    ok.

%% start_pool/2 with `node' returns once the pool is reachable from the node
%% that started it: a call right after it finds the pool (no pg race), and
%% after stop_pool/2 the name is gone here too.
start_pool_reachable_at_once(Config) ->
    [N1 | _] = ?config(nodes, Config),
    Rounds = [begin
                  {ok, _} = py:start_pool(at_once, #{node => N1, size => 1}),
                  R1 = py:call({ctest, where}, [], [], #{on => at_once}),
                  ok = py:stop_pool(at_once, N1),
                  R2 = py:call({ctest, where}, [], [], #{on => at_once}),
                  {R1, R2}
              end || _ <- lists:seq(1, 20)],
    Bad = [R || {R1, R2} = R <- Rounds, {R1, R2} =/= {{ok, N1}, {error, {no_pool, at_once}}}],
    [] = Bad.

%% `on => Name' from a node without such a pool: the CT node and the other
%% peers reach the pool on the peer that has it; {Name, N} too; a name with a
%% pool here runs here (local first).
on_name_from_elsewhere(Config) ->
    [N1, N2, N3] = Nodes = ?config(nodes, Config),
    All = [node() | Nodes],
    {ok, _} = py:start_pool(only1, #{node => N1, kind => context, size => 2}),
    {ok, _} = py:start_pool(onlyw, worker_opts(Config, #{node => N2, size => 2})),
    ok = wait_seen(only1, [N1], All),
    ok = wait_seen(onlyw, [N2], All),
    undefined = py_pool:lookup(only1),
    P1 = os_pid(N1),
    Call = fun(From, On) ->
                   erpc:call(From, py, call, [{ctest, pid_node}, [], [], #{on => On}])
           end,
    %% The context pool only on N1, from the CT node, N2 and N3.
    [{ok, {P1, N1}} = Call(From, only1) || From <- [node(), N2, N3]],
    [{ok, {P1, N1}} = Call(From, {only1, 2}) || From <- [node(), N3]],
    {error, {no_context, {only1, 3}}} = Call(node(), {only1, 3}),
    %% The worker pool only on N2, from the CT node, N1 and N3.
    WPids = worker_pids(N2, onlyw),
    [begin
         {ok, {W, N2}} = Call(From, onlyw),
         true = lists:member(W, WPids)
     end || From <- [node(), N1, N3]],
    W2 = lists:nth(2, WPids),
    {ok, {W2, N2}} = Call(node(), {onlyw, 2}),
    {ok, {W2, N2}} = Call(N3, {onlyw, 2}),
    %% eval/exec with `on => Name': the process's namespace lives there.
    ok = py:exec(<<"import os\nmine = os.getpid()">>, #{}, #{on => only1}),
    P1 = py:eval(<<"mine">>, #{}, #{on => only1}),
    %% A big value and keyword arguments cross too.
    {ok, 100000} = py:call({builtins, len}, [lists:seq(1, 100000)], [], #{on => only1}),
    {ok, [3, 2, 1]} = py:call({builtins, sorted}, [[1, 3, 2]], #{reverse => true}, #{on => onlyw}),
    {ok, 8} = py:call({builtins, int}, [<<"1000">>], #{base => 2}, #{on => only1}),
    %% Local first: a pool of that name here and on N1; calls from here stay here.
    {ok, _} = py:start_pool(only1, #{size => 1}),
    ok = wait_seen(only1, [node(), N1], All),
    Here = node(),
    Local = [py:call({ctest, where}, [], [], #{on => only1}) || _ <- lists:seq(1, 20)],
    [{ok, Here}] = lists:usort(Local),
    {error, {no_pool, nowhere}} = py:call({ctest, where}, [], [], #{on => nowhere}),
    ok.

%% From a node with no pool of a name that two other nodes have, calls reach
%% both of them, not always the same one.
remote_pick_spreads(Config) ->
    [N1, N2, N3] = Nodes = ?config(nodes, Config),
    All = [node() | Nodes],
    {ok, _} = py:start_pool(spread, #{node => N1, size => 1}),
    {ok, _} = py:start_pool(spread, #{node => N2, size => 1}),
    ok = wait_seen(spread, [N1, N2], All),
    Count = fun(From) ->
                    Rs = erpc:call(From, lists, map,
                                   [fun(_) -> py:call({ctest, where}, [], [], #{on => spread}) end,
                                    lists:seq(1, 60)]),
                    [{N, length([x || {ok, M} <- Rs, M =:= N])} || N <- [N1, N2]]
            end,
    Here = Count(node()),
    There = Count(N3),
    ct:pal("calls on => spread: from ~p ~p, from ~p ~p", [node(), Here, N3, There]),
    %% In turn (docs/cluster.md): about half each.
    [true = C >= 20 || {_, C} <- Here ++ There],
    ok.

%%% Pools added and removed while calls run

%% A second pool of the same name on another node (of the other kind) while
%% two callers (on the CT node and on N3, neither with such a pool) loop:
%% every call succeeds, and the new pool takes calls.
pool_added_while_calls_run(Config) ->
    [N1, N2, N3] = Nodes = ?config(nodes, Config),
    All = [node() | Nodes],
    {ok, _} = py:start_pool(grow, #{node => N1, kind => context, size => 2}),
    ok = wait_seen(grow, [N1], All),
    Callers = [start_caller(From, where_call(grow)) || From <- [node(), N3]],
    [ok = wait_results(C, fun(Rs) -> length(Rs) > 20 end, 10000) || C <- Callers],
    {ok, _} = py:start_pool(grow, worker_opts(Config, #{node => N2, size => 2})),
    ok = wait_seen(grow, [N1, N2], All),
    SeenN2 = fun(Rs) -> length([x || {_, _, {ok, N}} <- Rs, N =:= N2]) >= 10 end,
    [ok = wait_results(C, SeenN2, 10000) || C <- Callers],
    Results = [ask(C, stop) || C <- Callers],
    [begin
         Bad = [R || {_, _, R} <- Rs, R =/= {ok, N1}, R =/= {ok, N2}],
         ct:pal("~p calls from ~p while a pool was added, ~p failed: ~p",
                [length(Rs), node(C), length(Bad), lists:sublist(Bad, 5)]),
         [] = Bad
     end || {C, Rs} <- lists:zip(Callers, Results)],
    ok.

context_pool_removed_while_calls_run(Config) ->
    pool_removed(Config, #{kind => context, size => 2}).

worker_pool_removed_while_calls_run(Config) ->
    pool_removed(Config, worker_opts(Config, #{size => 2})).

%% Pools `shrink' on N1 (of the kind given) and N2 (contexts); callers on the
%% CT node and N3 loop with calls that take 20 ms. The pool on N1 is stopped:
%% calls in flight there may fail, with a documented reason; once the stop is
%% known, every call goes to N2 and succeeds.
pool_removed(Config, Opts) ->
    [N1, N2, N3] = Nodes = ?config(nodes, Config),
    All = [node() | Nodes],
    {ok, _} = py:start_pool(shrink, Opts#{node => N1}),
    {ok, _} = py:start_pool(shrink, #{node => N2, kind => context, size => 2}),
    ok = wait_seen(shrink, [N1, N2], All),
    Call = fun() -> py:call({ctest, where}, [0.02], [], #{on => shrink}) end,
    Callers = [start_caller(From, Call) || From <- [node(), N3]],
    Both = fun(Rs) -> lists:usort([N || {_, _, {ok, N}} <- Rs]) =:= lists:sort([N1, N2]) end,
    [ok = wait_results(C, Both, 10000) || C <- Callers],
    T0 = now_ms(),
    ok = py:stop_pool(shrink, N1),
    T1 = now_ms(),
    ok = wait_seen(shrink, [N2], All),
    T2 = now_ms(),
    %% Calls go on for a while after the stop is known everywhere.
    [ok = wait_results(C, fun(Rs) -> length([x || {T, _, _} <- Rs, T > T2 + 500]) >= 10 end,
                       10000) || C <- Callers],
    Results = [ask(C, stop) || C <- Callers],
    %% docs/api.md: the context or the worker running the call stopped.
    Allowed = fun({error, {no_pool, shrink}}) -> true;
                 ({error, {context_down, _}}) -> true;
                 ({error, {worker_down, _}}) -> true;
                 (_) -> false
              end,
    [begin
         Failed = [{T - T0, D, R} || {T, D, R} <- Rs, element(1, R) =/= ok],
         ct:pal("from ~p: stop_pool took ~p ms, known everywhere after ~p ms; ~p calls, "
                "failed (started at ms after the stop, took ms, result): ~p",
                [node(C), T1 - T0, T2 - T0, length(Rs), Failed]),
         %% Only documented reasons, and only for calls started before the stop was known.
         [] = [F || {_, _, R} = F <- Failed, not Allowed(R)],
         [] = [F || {Since, _, _} = F <- Failed, Since > T2 - T0],
         %% Once it is known: N2 only, every call succeeds.
         After = lists:usort([R || {T, _, R} <- Rs, T > T2]),
         [{ok, N2}] = After
     end || {C, Rs} <- lists:zip(Callers, Results)],
    ok.

%%% Handles across nodes

%% A handle made on N1 is a proxy on the CT node: method, attr, call, and an
%% argument to a call on N1. Exported here, sent to N3 in a message, made a
%% handle there with py:handle/1 and used there.
proxy_handles_third_node(Config) ->
    [N1, N2, N3] = ?config(nodes, Config),
    {ok, Date} = py:call({datetime, date}, [2024, 2, 29], [], #{on => {node, N1}}),
    {Importer, _, _} = py_nif:proxy_info(Date),
    true = node(Importer) =:= node(),
    {ok, <<"2024-02-29">>} = py:call({Date, isoformat}, [], [], #{}),
    2024 = py:attr(Date, year),
    <<"2024-02-29">> = py:method(Date, isoformat),
    %% As an argument: to a call on its node, named or not.
    {ok, <<"2024-02-29">>} = py:call('builtins.str', [Date], [], #{on => {node, N1}}),
    {ok, <<"2024-02-29">>} = py:call('builtins.str', [Date], [], #{}),
    %% A call that takes it first runs on N1, whatever `on' says.
    {ok, N1} = py:call({ctest, where_of}, [Date], [], #{on => {node, N2}}),
    {ok, N1} = py:call({ctest, where_of}, [Date], [], #{on => default}),
    %% A callable made with return => handle; called through __call__ and as
    %% an object (call_obj).
    {ok, Add10} = py:call('builtins.eval',
                          [<<"__import__('functools').partial(__import__('operator').add, 10)">>],
                          [], #{on => {node, N1}, return => handle}),
    %% A handle of this node cannot go to another node's call as it is.
    {error, {wrong_place, _}} = py:call('builtins.str', [py:const(operator, add)], [],
                                        #{on => {node, N1}}),
    {ok, 15} = py:call({Add10, '__call__'}, [5], [], #{}),
    {ok, 17} = py_exec:run(py_job:call_obj(Add10, [7], []), #{}),
    %% A handle of a list: methods that change it, seen on its node.
    {ok, List} = py:call({builtins, list}, [[1, 2, 3]], [], #{on => {node, N1}, return => handle}),
    {ok, undefined} = py:call({List, append}, [4], [], #{}),
    {ok, [1, 2, 3, 4]} = py:call({builtins, list}, [List], [], #{}),
    %% Portable, to N3 in a message.
    {ok, Portable} = py:export(Date),
    {ok, PortList} = py:export(List),
    Self = self(),
    Pid = spawn(N3, fun() ->
                            receive
                                {go, P, PL} ->
                                    Self ! {n3, (catch use_on_third(P, PL, N1))}
                            end
                    end),
    Pid ! {go, Portable, PortList},
    receive
        {n3, Used} ->
            ct:pal("on ~p: ~p", [N3, Used]),
            {ok, <<"2024-02-29">>, 2024, <<"2024-02-29">>, [1, 2, 3, 4, 5], N1} = Used
    after 20000 ->
            ct:fail(n3_silent)
    end,
    %% What N3 did to the list is seen here and on N1.
    {ok, [1, 2, 3, 4, 5]} = py:call({builtins, list}, [List], [], #{}),
    %% A plain handle of this node, exported and used on N3 (owner: the CT node).
    {ok, Here} = py:call({builtins, list}, [[7]], [], #{return => handle}),
    true = py_nif:is_handle(Here),
    {ok, PHere} = py:export(Here),
    {ok, {ok, [7, 8]}} = erpc:call(N3, fun() ->
                                              {ok, H} = py:handle(PHere),
                                              {ok, undefined} = py:call({H, append}, [8], [], #{}),
                                              {ok, py:call({builtins, list}, [H], [], #{})}
                                      end),
    {ok, [7, 8]} = py:call({builtins, list}, [Here], [], #{}),
    %% On its own node, a portable handle is the handle itself.
    {ok, Here} = py:handle(PHere),
    %% A proxy exported, made a handle again on its object's node: usable there.
    {ok, <<"2024-02-29">>} = erpc:call(N1, fun() ->
                                              {ok, D} = py:handle(Portable),
                                              py:call({D, isoformat}, [], [], #{})
                                      end),
    %% What is not a handle is refused.
    {error, {not_a_handle, 42}} = py:export(42),
    {error, {not_a_handle, _}} = py:handle({nothing, 1}),
    ok.

use_on_third(Portable, PortList, N1) ->
    {ok, D} = py:handle(Portable),
    {ok, L} = py:handle(PortList),
    true = is_reference(D),
    {ok, Iso} = py:call({D, isoformat}, [], [], #{}),
    Year = py:attr(D, year),
    {ok, Str} = py:call('builtins.str', [D], [], #{}),
    {ok, undefined} = py:call({L, append}, [5], [], #{}),
    {ok, Items} = py:call({builtins, list}, [L], [], #{}),
    %% Where a call with the proxy as its first argument runs: on N1, through
    %% the CT node (its proxy here is of the CT node's proxy).
    {ok, N1} = py:call({ctest, where_of}, [D], [], #{}),
    {ok, Iso, Year, Str, Items, N1}.

%% 1000 handles made on N1 from the CT node, dropped: the objects themselves,
%% N1's table of handles held by other nodes and its live handle count
%% return to where they were.
distributed_gc(Config) ->
    [N1 | _] = ?config(nodes, Config),
    Counts = fun() -> {maps:get(handles, erpc:call(N1, py, pool_info, [default])),
                       erpc:call(N1, py, func, [ctest, live_tokens])}
             end,
    {H0, H1} = gc_roundtrip(N1, Counts, 1000, #{on => {node, N1}}),
    %% Up by the 1000 (a few handles of earlier cases may have gone meanwhile).
    true = H1 >= H0 + 1000 - 10.

%% The same through a pool of one worker on N2: the worker's objects go too.
distributed_gc_workers(Config) ->
    [_, N2 | _] = ?config(nodes, Config),
    {ok, _} = py:start_pool(gcw, worker_opts(Config, #{node => N2, size => 1})),
    Counts = fun() -> {maps:get(handles, erpc:call(N2, py, pool_info, [gcw])),
                       element(2, erpc:call(N2, py, call, [{ctest, live_tokens}, [], [],
                                                           #{on => gcw}]))}
             end,
    gc_roundtrip(N2, Counts, 500, #{on => gcw}).

%% The ids of the handles `Node' keeps for other nodes (py_export's table).
%% Entries of earlier cases may go meanwhile (a portable handle's lease
%% ends after a minute or two), so cases look at the ids they made.
held_ids(Node) ->
    erpc:call(Node, ets, select, [py_export, [{{'$1', '_', '_'}, [], ['$1']}]]).

gc_roundtrip(Owner, Counts, N, On) ->
    ok = settle(Counts),
    {H0, T0} = Counts(),
    Ids0 = held_ids(Owner),
    Parent = self(),
    Maker = spawn_link(fun() ->
                               Hs = [begin
                                         {ok, H} = py:call({ctest, token}, [], [],
                                                           On#{return => handle}),
                                         H
                                     end || _ <- lists:seq(1, N)],
                               %% They work.
                               {ok, <<"<ctest.Token object", _/binary>>} =
                                   py:call('builtins.repr', [hd(Hs)], [], #{}),
                               Parent ! {made, length(Hs)},
                               receive drop -> ok end
                       end),
    receive {made, N} -> ok after 60000 -> ct:fail(not_made) end,
    {H1, T1} = Counts(),
    New = held_ids(Owner) -- Ids0,
    ct:pal("handles ~p -> ~p, held +~p, objects ~p -> ~p", [H0, H1, length(New), T0, T1]),
    N = length(New),
    true = T1 =:= T0 + N,
    Start = erlang:monotonic_time(millisecond),
    unlink(Maker),
    Maker ! drop,
    Released = fun() ->
                       {H, T} = Counts(),
                       T =:= T0 andalso H =< H0 andalso
                           ordsets:intersection(ordsets:from_list(held_ids(Owner)),
                                                ordsets:from_list(New)) =:= []
               end,
    Back = py_test_util:wait_until(Released, 10000),
    ct:pal("back in ~p ms: ~p (handles and objects now ~p)",
           [erlang:monotonic_time(millisecond) - Start, Back, Counts()]),
    ok = Back,
    %% The handle count rose with the handles (a worker's is sent only after
    %% a release: it may lag until the first one).
    {H0, H1}.

%% Waits until `Counts()' gives the same twice 200 ms apart.
settle(Counts) ->
    A = Counts(),
    timer:sleep(200),
    case Counts() of
        A -> ok;
        _ -> settle(Counts)
    end.

%%% Node loss

%% A node of its own is killed while a call on it sleeps (from here and from
%% N3): the callers get {node_down, Node} promptly, calls on its proxies
%% answer the same at once, new calls there too; nothing hangs, and its
%% workers do not outlive it.
node_down_mid_call(Config) ->
    [_, _, N3] = ?config(nodes, Config),
    {Peer, Nk} = start_own_peer(Config),
    try
        {ok, _} = py:start_pool(nd_w, worker_opts(Config, #{node => Nk, size => 1})),
        ok = wait_seen(nd_w, [Nk], [node(), N3]),
        WorkerPids = worker_pids(Nk, nd_w),
        {ok, Date} = py:call({datetime, date}, [2024, 1, 1], [], #{on => {node, Nk}}),
        {ok, WHandle} = py:call({builtins, object}, [], [], #{on => nd_w, return => handle}),
        {ok, TimeMod} = py:call('builtins.__import__', [<<"time">>], [],
                                #{on => {node, Nk}, return => handle}),
        Self = self(),
        Sleep = fun(On) ->
                        fun() ->
                                T = erlang:monotonic_time(millisecond),
                                R = py:call({time, sleep}, [5], [], #{on => On, timeout => 30000}),
                                {R, erlang:monotonic_time(millisecond) - T}
                        end
                end,
        Run = fun(Tag, Node, F) ->
                      spawn(fun() -> Self ! {Tag, erpc:call(Node, erlang, apply, [F, []]),
                                             erlang:monotonic_time(millisecond)} end)
              end,
        Run(here_ctx, node(), Sleep({node, Nk})),
        Run(here_wrk, node(), Sleep(nd_w)),
        Run(n3_ctx, N3, Sleep({node, Nk})),
        %% A method of a proxy, in flight.
        Run(here_proxy, node(), fun() ->
                                        T = erlang:monotonic_time(millisecond),
                                        R = py:call({TimeMod, sleep}, [5], [], #{timeout => 30000}),
                                        {R, erlang:monotonic_time(millisecond) - T}
                                end),
        %% All three are running on Nk.
        ok = py_test_util:wait_until(
               fun() ->
                       #{busy := B} = erpc:call(Nk, py, pool_info, [default]),
                       #{busy := W} = erpc:call(Nk, py, pool_info, [nd_w]),
                       B >= 2 andalso W >= 1
               end, 5000),
        timer:sleep(300),
        erlang:monitor_node(Nk, true),
        TKill = erlang:monotonic_time(millisecond),
        kill_node(Nk),
        TDown = receive {nodedown, Nk} -> erlang:monotonic_time(millisecond)
                after 10000 -> ct:fail(no_nodedown)
                end,
        Got = [receive {Tag, {R, _Took}, TAt} -> {Tag, R, TAt - TKill}
               after 10000 -> ct:fail({no_answer, Tag})
               end || Tag <- [here_ctx, here_wrk, n3_ctx, here_proxy]],
        ct:pal("nodedown seen ~p ms after the kill; answers (ms after the kill): ~p",
               [TDown - TKill, Got]),
        [{error, {node_down, Nk}} = R || {_, R, _} <- Got],
        %% Promptly: the calls' timeout is 30 s and they sleep 5 s.
        [true = Ms < 1000 || {_, _, Ms} <- Got],
        %% Proxies of its objects answer at once, so do new calls there.
        Timed = fun(F) ->
                        T = erlang:monotonic_time(microsecond),
                        R = (catch F()),
                        {R, (erlang:monotonic_time(microsecond) - T) div 1000}
                end,
        After = [Timed(fun() -> py:call({Date, isoformat}, [], [], #{}) end),
                 Timed(fun() -> py:attr(Date, year) end),
                 Timed(fun() -> py:call('builtins.str', [Date], [], #{}) end),
                 Timed(fun() -> py:call({WHandle, '__repr__'}, [], [], #{}) end),
                 Timed(fun() -> py:call({os, getpid}, [], [], #{on => {node, Nk}}) end),
                 Timed(fun() -> py:call({os, getpid}, [], [], #{on => {node, Nk, nd_w}}) end)],
        ct:pal("after the loss (result, ms): ~p", [After]),
        [{{error, {node_down, Nk}}, _}, {{'EXIT', {{node_down, Nk}, _}}, _},
         {{error, {node_down, Nk}}, _}, {{error, {node_down, Nk}}, _},
         {{error, {node_down, Nk}}, _}, {{error, {node_down, Nk}}, _}] = After,
        [true = Ms < 200 || {_, Ms} <- After],
        %% The name is gone with the node.
        ok = wait_seen(nd_w, [], [node(), N3]),
        {error, {no_pool, nd_w}} = py:call({os, getpid}, [], [], #{on => nd_w}),
        %% Its workers went with it.
        ok = py_test_util:wait_until(
               fun() -> [P || P <- WorkerPids, os_alive(P)] =:= [] end, 5000),
        %% TDown is used: the caller answered no later than ~the nodedown.
        ok
    after
        catch peer:stop(Peer)
    end.

os_alive(Pid) ->
    os:cmd("kill -0 " ++ integer_to_list(Pid) ++ " 2>/dev/null && echo yes") =:= "yes\n".

%% A process that called another node and dies: its call there stops too (as
%% a local context call does), rather than run on with no one to answer.
caller_death_cancels_remote_call(Config) ->
    [N1 | _] = ?config(nodes, Config),
    {ok, _} = py:start_pool(cd, #{node => N1, size => 1}),
    ok = wait_seen(cd, [N1], [node()]),
    Busy = fun() -> maps:get(busy, erpc:call(N1, py, pool_info, [cd])) end,
    {Pid, MRef} = spawn_monitor(fun() ->
                                         py:call({ctest, spin_add}, [1, 2, 30], [],
                                                 #{on => cd, timeout => 60000})
                                 end),
    ok = py_test_util:wait_until(fun() -> Busy() =:= 1 end, 5000),
    exit(Pid, kill),
    receive {'DOWN', MRef, process, Pid, killed} -> ok end,
    T0 = erlang:monotonic_time(millisecond),
    Freed = py_test_util:wait_until(fun() -> Busy() =:= 0 end, 3000),
    ct:pal("remote context busy after its caller died: ~p (~p ms)",
           [Freed, erlang:monotonic_time(millisecond) - T0]),
    ok = Freed,
    {ok, 3} = py:call({ctest, spin_add}, [1, 2], [], #{on => cd, timeout => 2000}).

%%% map

%% 10,000 calls over pools `mp' on the three peers (contexts, 2 each), every
%% result in order; the calls reach every node.
map_cluster_10000(Config) ->
    Nodes = ?config(nodes, Config),
    [{ok, _} = py:start_pool(mp, #{node => N, kind => context, size => 2}) || N <- Nodes],
    ok = wait_seen(mp, Nodes, [node() | Nodes]),
    Args = [[I, 2 * I] || I <- lists:seq(1, 10000)],
    Expected = [{ok, 3 * I} || I <- lists:seq(1, 10000)],
    Rates = [begin
                 T0 = erlang:monotonic_time(microsecond),
                 {ok, Results} = py:map({operator, add}, Args,
                                        #{on => mp, scope => cluster, in_flight => K}),
                 Us = erlang:monotonic_time(microsecond) - T0,
                 Expected = Results,
                 {K, Us div 1000, round(10000 / (Us / 1.0e6))}
             end || K <- [2, 1, 4, 8]],
    ct:pal("map of 10,000 operator.add over 3 nodes x 2 contexts: "
           "[{in_flight, ms, calls/s}] ~p", [Rates]),
    %% math.sqrt, and where they ran: all three nodes.
    {ok, Roots} = py:map({math, sqrt}, [[I * I] || I <- lists:seq(1, 10000)],
                         #{on => mp, scope => cluster}),
    Roots = [{ok, float(I)} || I <- lists:seq(1, 10000)],
    {ok, Wheres} = py:map({ctest, where}, [[] || _ <- lists:seq(1, 300)],
                          #{on => mp, scope => cluster}),
    Ran = lists:usort([N || {ok, N} <- Wheres]),
    Ran = lists:sort(Nodes),
    300 = length(Wheres),
    %% return => handle: proxies of the objects where they were made.
    {ok, Objs} = py:map({ctest, token}, [[] || _ <- lists:seq(1, 30)],
                        #{on => mp, scope => cluster, return => handle}),
    30 = length([x || {ok, _} <- Objs]),
    Owners = lists:usort([begin
                              {Importer, _, _} = py_nif:proxy_info(H),
                              {ok, <<"<ctest.Token", _/binary>>} =
                                  py:call('builtins.repr', [H], [], #{}),
                              Importer
                          end || {ok, H} <- Objs]),
    3 = length(Owners),
    %% scope local (the default) from a node without the pool: none here.
    {error, {no_pool, mp}} = py:map({operator, add}, [[1, 2]], #{on => mp}),
    %% From a peer, scope local: its own pool only.
    [N1 | _] = Nodes,
    {ok, Local} = erpc:call(N1, py, map, [{ctest, where}, [[] || _ <- lists:seq(1, 50)],
                                          #{on => mp}]),
    [{ok, N1}] = lists:usort(Local),
    %% Bad options.
    {error, {bad_option, on}} = py_cluster:map({operator, add}, [[1, 2]], #{}),
    {error, {bad_option, scope}} = py:map({operator, add}, [[1, 2]], #{on => mp, scope => all}),
    {ok, []} = py:map({operator, add}, [], #{on => mp, scope => cluster}),
    ok.

%% Pools `mk' on N1, N2 and a node of its own, killed mid-map: with retry every
%% shard still succeeds, in order.
map_node_killed_retry(Config) ->
    {Results, Nk, Ms} = map_with_kill(Config, #{retry => 100}),
    Expected = [{ok, 3 * I} || I <- lists:seq(1, length(Results))],
    Bad = [{I, R} || {I, R, E} <- lists:zip3(lists:seq(1, length(Results)), Results, Expected),
                     R =/= E],
    ct:pal("map with retry, ~p killed: ~p ms, bad: ~p", [Nk, Ms, Bad]),
    [] = Bad.

%% Without retry: the shards that were on the lost node are
%% {error, {node_down, Nk}} in their places, every other one is right.
map_node_killed_no_retry(Config) ->
    {Results, Nk, Ms} = map_with_kill(Config, #{}),
    Indexed = lists:zip(lists:seq(1, length(Results)), Results),
    Down = [I || {I, {error, {node_down, N}}} <- Indexed, N =:= Nk],
    Bad = [{I, R} || {I, R} <- Indexed, R =/= {ok, 3 * I}, not lists:member(I, Down)],
    ct:pal("map without retry, ~p killed: ~p ms, node_down shards ~p, other bad ~p",
           [Nk, Ms, Down, Bad]),
    [] = Bad,
    %% At most the shards in flight there: 2 servers x in_flight 2.
    true = length(Down) >= 1 andalso length(Down) =< 4.

map_with_kill(Config, Opts) ->
    [N1, N2 | _] = ?config(nodes, Config),
    {Peer, Nk} = start_own_peer(Config),
    try
        Nodes = [N1, N2, Nk],
        [{ok, _} = py:start_pool(mk, #{node => N, kind => context, size => 2}) || N <- Nodes],
        ok = wait_seen(mk, Nodes, [node()]),
        Count = 1500,
        Args = [[I, 2 * I, 0.005] || I <- lists:seq(1, Count)],
        Self = self(),
        spawn(fun() ->
                      %% Once the map has run a while on Nk.
                      timer:sleep(400),
                      kill_node(Nk),
                      Self ! killed
              end),
        T0 = erlang:monotonic_time(millisecond),
        {ok, Results} = py:map({ctest, slow_add}, Args,
                               maps:merge(#{on => mk, scope => cluster, timeout => 10000,
                                            in_flight => 2}, Opts)),
        Ms = erlang:monotonic_time(millisecond) - T0,
        receive killed -> ok after 0 -> ct:fail(map_ended_before_the_kill) end,
        Count = length(Results),
        {Results, Nk, Ms}
    after
        catch peer:stop(Peer)
    end.

%% total_timeout: the map answers by then, shards not done are
%% {error, timeout}; the servers are free again soon (the calls given up are
%% stopped), and the next map works.
map_total_timeout(Config) ->
    Nodes = ?config(nodes, Config),
    [{ok, _} = py:start_pool(mt, #{node => N, kind => context, size => 2}) || N <- Nodes],
    ok = wait_seen(mt, Nodes, [node()]),
    Args = [[I, 1, 0.3] || I <- lists:seq(1, 60)],
    T0 = erlang:monotonic_time(millisecond),
    {ok, Results} = py:map({ctest, spin_add}, Args,
                           #{on => mt, scope => cluster, total_timeout => 500, timeout => 10000}),
    Ms = erlang:monotonic_time(millisecond) - T0,
    Indexed = lists:zip(lists:seq(1, 60), Results),
    Ok = [I || {I, {ok, V}} <- Indexed, V =:= I + 1],
    TimedOut = [I || {I, {error, timeout}} <- Indexed],
    ct:pal("total_timeout 500: answered in ~p ms, ~p ok, ~p timeout",
           [Ms, length(Ok), length(TimedOut)]),
    60 = length(Ok) + length(TimedOut),
    %% The first wave (one call per server, 0.3 s each) has had time; on a
    %% loaded machine not all of it may be done.
    true = length(Ok) >= 1 andalso length(TimedOut) >= 30,
    true = Ms >= 500 andalso Ms < 1500,
    %% The calls given up do not keep the servers: each would spin 0.3 s more,
    %% and those queued behind them after that.
    Busy = fun() ->
                   lists:sum([maps:get(busy, erpc:call(N, py, pool_info, [mt])) || N <- Nodes])
           end,
    T1 = erlang:monotonic_time(millisecond),
    Freed = py_test_util:wait_until(fun() -> Busy() =:= 0 end, 500),
    ct:pal("servers free ~p ms after the map answered (~p)",
           [erlang:monotonic_time(millisecond) - T1, Freed]),
    ok = Freed,
    {ok, Again} = py:map({operator, add}, [[I, 1] || I <- lists:seq(1, 100)],
                         #{on => mt, scope => cluster}),
    Again = [{ok, I + 1} || I <- lists:seq(1, 100)],
    ok.

%% Per-call timeout: the slow shards are {error, timeout} (and interrupted:
%% the next shard on that server is not held up by the 3 s it would take),
%% the others succeed.
map_call_timeout(Config) ->
    Nodes = ?config(nodes, Config),
    [{ok, _} = py:start_pool(mc, #{node => N, kind => context, size => 2}) || N <- Nodes],
    ok = wait_seen(mc, Nodes, [node()]),
    Slow = fun(I) -> I rem 3 =:= 0 end,
    Args = [[I, 1, case Slow(I) of true -> 3.0; false -> 0.0 end] || I <- lists:seq(1, 30)],
    T0 = erlang:monotonic_time(millisecond),
    {ok, Results} = py:map({ctest, spin_add}, Args,
                           #{on => mc, scope => cluster, timeout => 500, in_flight => 1}),
    Ms = erlang:monotonic_time(millisecond) - T0,
    Want = [case Slow(I) of true -> {error, timeout}; false -> {ok, I + 1} end
            || I <- lists:seq(1, 30)],
    Bad = [{I, R} || {I, R, W} <- lists:zip3(lists:seq(1, 30), Results, Want), R =/= W],
    ct:pal("per-call timeout 500 ms: ~p ms in all, bad ~p", [Ms, Bad]),
    [] = Bad,
    %% 10 slow shards over 6 servers, each given up after 500 ms.
    true = Ms < 3000,
    ok.

%%% broadcast

%% Every context of the local default pool: one result per server, each on a
%% thread of its own. Worker pools: a seed set everywhere gives the same
%% random number everywhere.
broadcast_local(Config) ->
    #{size := Size} = py:pool_info(default),
    {ok, Idents} = py:broadcast({threading, get_ident}, [], #{on => default}),
    Servers = [{node(), default, I} || I <- lists:seq(1, Size)],
    Servers = [S || {S, _} <- Idents],
    Size = length(lists:usort([T || {_, {ok, T}} <- Idents])),
    {ok, _} = py:start_pool(bw, worker_opts(Config, #{size => 3})),
    seeded_equal(bw, local, 3),
    {error, {no_pool, nope}} = py:broadcast({os, getpid}, [], #{on => nope}),
    ok.

%% The same over pools `bc' on the CT node and the peers (workers on the CT
%% node, N1 and N2; one context on N3, which has an interpreter of its own).
broadcast_cluster(Config) ->
    [N1, N2, N3] = Nodes = ?config(nodes, Config),
    All = [node() | Nodes],
    {ok, _} = py:start_pool(bc, worker_opts(Config, #{size => 2})),
    {ok, _} = py:start_pool(bc, worker_opts(Config, #{node => N1, size => 2})),
    {ok, _} = py:start_pool(bc, worker_opts(Config, #{node => N2, size => 3})),
    {ok, _} = py:start_pool(bc, #{node => N3, kind => context, size => 1}),
    ok = wait_seen(bc, All, All),
    Results = seeded_equal(bc, cluster, 8),
    Servers = lists:sort([S || {S, _} <- Results]),
    Servers = lists:sort([{node(), bc, 1}, {node(), bc, 2}, {N1, bc, 1}, {N1, bc, 2},
                          {N2, bc, 1}, {N2, bc, 2}, {N2, bc, 3}, {N3, bc, 1}]),
    %% Each server is a different interpreter, on the node it says.
    {ok, Where} = py:broadcast({ctest, pid_node}, [], #{on => bc, scope => cluster}),
    [Node = N || {{Node, _, _}, {ok, {_, N}}} <- Where],
    8 = length(lists:usort([P || {_, {ok, {P, _}}} <- Where])),
    %% From a peer: the same servers.
    {ok, FromN3} = erpc:call(N3, py, broadcast, [{os, getpid}, [], #{on => bc, scope => cluster}]),
    Servers = lists:sort([S || {S, _} <- FromN3]),
    ok.

%% total_timeout bounds the whole broadcast, not each server's wait in turn:
%% four servers that each take 3 s answer {error, timeout} by ~300 ms, and
%% they are free again soon after.
broadcast_total_timeout(Config) ->
    [N1 | _] = ?config(nodes, Config),
    {ok, _} = py:start_pool(bt, #{node => N1, kind => context, size => 4}),
    ok = wait_seen(bt, [N1], [node()]),
    T0 = erlang:monotonic_time(millisecond),
    {ok, Results} = py:broadcast({ctest, spin_add}, [1, 2, 3.0],
                                 #{on => bt, scope => cluster, total_timeout => 300,
                                   timeout => 10000}),
    Ms = erlang:monotonic_time(millisecond) - T0,
    ct:pal("broadcast to 4 servers, total_timeout 300: ~p ms, ~p", [Ms, Results]),
    [{error, timeout}] = lists:usort([R || {_, R} <- Results]),
    4 = length(Results),
    true = Ms < 1000,
    Busy = fun() -> maps:get(busy, erpc:call(N1, py, pool_info, [bt])) end,
    ok = py_test_util:wait_until(fun() -> Busy() =:= 0 end, 2000),
    %% Per call: each server's call is given up after its own timeout.
    T1 = erlang:monotonic_time(millisecond),
    {ok, PerCall} = py:broadcast({ctest, spin_add}, [1, 2, 3.0],
                                 #{on => bt, scope => cluster, timeout => 200}),
    Ms1 = erlang:monotonic_time(millisecond) - T1,
    [{error, timeout}] = lists:usort([R || {_, R} <- PerCall]),
    true = Ms1 < 1000,
    ok.

%% seed(42) on every server, then random() on every server: all equal to
%% Random(42).random(). Returns the second broadcast's results.
seeded_equal(Pool, Scope, Count) ->
    {ok, Seeded} = py:broadcast({random, seed}, [42], #{on => Pool, scope => Scope}),
    Count = length(Seeded),
    [{ok, undefined}] = lists:usort([R || {_, R} <- Seeded]),
    {ok, Randoms} = py:broadcast({random, random}, [], #{on => Pool, scope => Scope}),
    Count = length(Randoms),
    Expected = py:eval(<<"__import__('random').Random(42).random()">>),
    [{ok, Expected}] = lists:usort([R || {_, R} <- Randoms]),
    Randoms.

%%% with_target

%% Nested blocks: the inner target wins and the outer is back after it (an
%% exception included); calls with an `on' of their own keep it; outside,
%% calls go to the default pool here.
with_target_nesting(Config) ->
    [N1, N2, N3] = ?config(nodes, Config),
    {ok, _} = py:start_pool(wt_a, #{node => N1, kind => context, size => 1}),
    {ok, _} = py:start_pool(wt_w, worker_opts(Config, #{node => N2, size => 1})),
    ok = wait_seen(wt_a, [N1], [node()]),
    ok = wait_seen(wt_w, [N2], [node()]),
    Here = node(),
    HerePid = os_pid(Here),
    P1 = os_pid(N1),
    [W] = worker_pids(N2, wt_w),
    P3 = os_pid(N3),
    PidNode = fun() -> py:func(ctest, pid_node) end,
    {HerePid, Here} = PidNode(),
    Result = py:with_target(wt_a, fun() ->
        {P1, N1} = PidNode(),
        {ok, {P1, N1}} = py:call({ctest, pid_node}, []),
        ok = py:exec(<<"import os\nwt = os.getpid()">>),
        P1 = py:eval(<<"wt">>),
        Inner = py:with_target({node, N3}, fun() ->
            {P3, N3} = PidNode(),
            %% Own `on' keeps it.
            {ok, {W, N2}} = py:call({ctest, pid_node}, [], [], #{on => wt_w}),
            {ok, {HerePid, Here}} = py:call({ctest, pid_node}, [], [], #{on => default}),
            {ok, {P1, N1}} = py:call({ctest, pid_node}, [], [], #{on => {node, N1}}),
            %% Three deep.
            {W, N2} = py:with_target(wt_w, PidNode),
            {P3, N3} = PidNode(),
            %% Other options still come from the call.
            {error, timeout} = py:call({ctest, spin_add}, [1, 1, 2.0], [], #{timeout => 100}),
            inner_done
        end),
        inner_done = Inner,
        {P1, N1} = PidNode(),
        %% An exception out of a block restores the outer target.
        {'EXIT', {boom, _}} = (catch py:with_target({node, N2}, fun() -> error(boom) end)),
        {P1, N1} = PidNode(),
        %% A map names its own pool (and scope), whatever the block's target.
        {ok, [{ok, 3}, {ok, 7}]} = py:map({operator, add}, [[1, 2], [3, 4]],
                                          #{on => wt_w, scope => cluster}),
        outer_done
    end),
    outer_done = Result,
    {HerePid, Here} = PidNode(),
    undefined = get('$py_defaults'),
    %% A bad target is refused when the block starts.
    {'EXIT', {{bad_option, on}, _}} = (catch py:with_target({node, "n"}, PidNode)),
    ok.

%%% Starting, losing and getting back nodes

%% start_pool with `node' starts py there when it does not run; errors.
start_pool_starts_py_there(Config) ->
    [N1 | _] = ?config(nodes, Config),
    Paths = py_test_util:peer_paths(),
    {ok, Peer, Nf} = peer:start(#{name => peer:random_name(py_cluster_fresh), args => Paths}),
    try
        false = lists:keymember(py, 1, erpc:call(Nf, application, which_applications, [])),
        {ok, Sup} = py:start_pool(fresh, #{node => Nf, size => 1}),
        Nf = node(Sup),
        true = lists:keymember(py, 1, erpc:call(Nf, application, which_applications, [])),
        {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => fresh}),
        [#{name := fresh, node := Nf, kind := context, size := 1}] =
            [P || #{name := fresh} = P <- py:pools()],
        ok = py:stop_pool(fresh, Nf),
        {error, {no_pool, fresh}} = py:call({operator, add}, [1, 2], [], #{on => fresh}),
        {error, not_found} = py:stop_pool(fresh, Nf)
    after
        peer:stop(Peer)
    end,
    {error, {node_down, 'nobody@nowhere'}} = py:start_pool(x, #{node => 'nobody@nowhere'}),
    {error, {node_down, 'nobody@nowhere'}} = py:stop_pool(x, 'nobody@nowhere'),
    {error, {bad_option, node}} = py:start_pool(x, #{node => "n1"}),
    {error, {bad_option, size}} = py:start_pool(x, #{node => N1, size => 0}),
    {error, {bad_option, kind}} = py:start_pool(x, #{node => N1, kind => thread}),
    {error, {bad_pool_name, dirty}} = py:start_pool(dirty, #{node => N1}),
    {error, not_found} = py:stop_pool(x, N1),
    ok.

%% A node holding proxies of N1's objects goes down: N1 drops what it held
%% for it (its table and the objects).
holder_down_releases(Config) ->
    [N1 | _] = ?config(nodes, Config),
    {Peer, Nk} = start_own_peer(Config),
    try
        Counts = fun() -> erpc:call(N1, py, func, [ctest, live_tokens]) end,
        ok = settle(Counts),
        T0 = Counts(),
        Ids0 = held_ids(N1),
        Self = self(),
        _Holder = spawn(Nk, fun() ->
                                    Hs = [begin
                                              {ok, H} = py:call({ctest, token}, [], [],
                                                                #{on => {node, N1},
                                                                  return => handle}),
                                              H
                                          end || _ <- lists:seq(1, 100)],
                                    Self ! {made, length(Hs)},
                                    receive never -> Hs end
                            end),
        receive {made, 100} -> ok after 30000 -> ct:fail(not_made) end,
        T1 = Counts(),
        New = held_ids(N1) -- Ids0,
        true = length(New) =:= 100 andalso T1 =:= T0 + 100,
        kill_node(Nk),
        Start = erlang:monotonic_time(millisecond),
        Back = py_test_util:wait_until(
                 fun() ->
                         Counts() =:= T0 andalso
                             ordsets:intersection(ordsets:from_list(held_ids(N1)),
                                                  ordsets:from_list(New)) =:= []
                 end, 5000),
        ct:pal("held +~p, objects ~p -> ~p; back after the holder's loss in ~p ms: ~p",
               [length(New), T0, T1, erlang:monotonic_time(millisecond) - Start, Back]),
        ok = Back
    after
        catch peer:stop(Peer)
    end.

%% A node that comes back (same name, new VM): new calls reach it, the
%% proxies of its first life answer {node_down, Node}, never an object of
%% the new one that happens to have the same id.
node_back_new_generation(Config) ->
    DataDir = ?config(data_dir, Config),
    Paths = py_test_util:peer_paths(),
    Name = peer:random_name(py_cluster_back),
    {ok, Peer1, Nk} = peer:start(#{name => Name, args => Paths}),
    {ok, _} = erpc:call(Nk, application, ensure_all_started, [py]),
    ok = erpc:call(Nk, py_test_util, add_python_path, [DataDir]),
    {ok, Old} = py:call({builtins, list}, [[1, 2, 3]], [], #{on => {node, Nk}, return => handle}),
    {ok, [1, 2, 3]} = py:call({builtins, list}, [Old], [], #{}),
    erlang:monitor_node(Nk, true),
    kill_node(Nk),
    receive {nodedown, Nk} -> ok after 10000 -> ct:fail(no_nodedown) end,
    catch peer:stop(Peer1),
    {error, {node_down, Nk}} = py:call({builtins, list}, [Old], [], #{}),
    {ok, Peer2, Nk} = peer:start(#{name => Name, args => Paths}),
    try
        {ok, _} = erpc:call(Nk, application, ensure_all_started, [py]),
        %% New objects there, with ids that may be those of the first life.
        News = [begin
                    {ok, H} = py:call({builtins, list}, [[I]], [],
                                      #{on => {node, Nk}, return => handle}),
                    H
                end || I <- lists:seq(1, 5)],
        {ok, [[1], [2], [3], [4], [5]]} =
            {ok, [element(2, py:call({builtins, list}, [H], [], #{})) || H <- News]},
        T0 = erlang:monotonic_time(microsecond),
        OldResults = [py:call({builtins, list}, [Old], [], #{}),
                      py:call({Old, '__len__'}, [], [], #{})],
        Us = erlang:monotonic_time(microsecond) - T0,
        ct:pal("the old proxy after the node came back: ~p (~p us)", [OldResults, Us]),
        [{error, {node_down, Nk}}] = lists:usort(OldResults),
        {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => {node, Nk}})
    after
        catch peer:stop(Peer2)
    end.

%% Many processes making their first call to a node at once (a map does)
%% start one importer for it, quietly: no crash report for the others.
first_calls_log_nothing(Config) ->
    {Peer, Nk} = start_own_peer(Config),
    ok = py_test_util:add_log_forwarder(self()),
    try
        {ok, _} = py:start_pool(quiet, #{node => Nk, size => 2}),
        Self = self(),
        Pids = [spawn(fun() -> Self ! {first, self(), py:call({operator, add}, [I, 1], [],
                                                              #{on => {node, Nk}})}
                      end) || I <- lists:seq(1, 20)],
        [{ok, _} = receive {first, P, R} -> R after 10000 -> ct:fail(no_answer) end
         || P <- Pids],
        {ok, Results} = py:map({operator, add}, [[I, 1] || I <- lists:seq(1, 100)],
                               #{on => quiet, scope => cluster}),
        100 = length([x || {ok, _} <- Results]),
        timer:sleep(200),
        Logged = collect_logs([]),
        ct:pal("logged: ~p", [Logged]),
        [] = [L || {Level, _} = L <- Logged, Level =:= error orelse Level =:= warning]
    after
        py_test_util:remove_log_forwarder(),
        catch peer:stop(Peer)
    end.

collect_logs(Acc) ->
    receive {py_test_log, Level, Text} -> collect_logs([{Level, Text} | Acc])
    after 0 -> lists:reverse(Acc)
    end.

%% Calls that return a handle, given up by their callers (timeout) about
%% when the result is made: whatever the owner exported for them is released,
%% not held for the caller's node until that node goes down.
abandoned_handle_results_released(Config) ->
    [N1 | _] = ?config(nodes, Config),
    {ok, _} = py:start_pool(ab, #{node => N1, size => 2}),
    Counts = fun() -> erpc:call(N1, py, func, [ctest, live_tokens]) end,
    ok = settle(Counts),
    T0 = Counts(),
    Ids0 = held_ids(N1),
    %% In a process of their own: what came back is dropped with it.
    {Kept, TimedOut} =
        py_test_util:in_process(
          fun() ->
                  Results = [py:call({ctest, slow_token}, [0.02], [],
                                     #{on => ab, return => handle, timeout => 15 + I rem 10})
                             || I <- lists:seq(1, 200)],
                  {length([x || {ok, _} <- Results]), length([x || {error, timeout} <- Results])}
          end),
    ct:pal("~p results kept, ~p timed out", [Kept, TimedOut]),
    Back = py_test_util:wait_until(fun() -> Counts() =:= T0 andalso held_ids(N1) -- Ids0 =:= [] end,
                                   5000),
    ct:pal("objects at the start ~p, now ~p; held for other nodes, not there at the start: ~p",
           [T0, Counts(), held_ids(N1) -- Ids0]),
    ok = Back.

%% A pool of workers stopped while callers keep calling it (16 here on a
%% pool here; 8 here and on N3 on a pool of N1): every call answers at once,
%% with a result or a documented error, never by waiting for its timeout (3 s).
%% Calls on a proxy of a worker of the stopped pool answer at once too.
worker_pool_stop_never_hangs(Config) ->
    [N1, _, N3] = ?config(nodes, Config),
    Local = [stop_under_load(Config, node(), lists:duplicate(16, node())) || _ <- lists:seq(1, 5)],
    Remote = [stop_under_load(Config, N1, [node(), node(), node(), node(), N3, N3, N3, N3])
              || _ <- lists:seq(1, 5)],
    ct:pal("per round, calls that failed or took 1 s or more {result, {count, longest ms}}:~n"
           "local ~p~nremote ~p", [Local, Remote]),
    Allowed = fun({error, {no_pool, ws}}) -> true;
                 ({error, {worker_down, _}}) -> true;
                 (_) -> false
              end,
    [] = [F || Round <- Local ++ Remote, {R, {_, D}} = F <- Round, D >= 1000 orelse not Allowed(R)],
    %% A proxy of a worker of a stopped pool.
    {ok, _} = py:start_pool(ws, worker_opts(Config, #{size => 1})),
    {ok, H} = py:call({builtins, object}, [], [], #{on => ws, return => handle}),
    ok = py:stop_pool(ws),
    T0 = erlang:monotonic_time(millisecond),
    R = py:call({H, '__repr__'}, [], [], #{timeout => 3000}),
    Ms = erlang:monotonic_time(millisecond) - T0,
    ct:pal("a proxy of the stopped pool: ~p in ~p ms", [R, Ms]),
    {error, {worker_down, _}} = R,
    true = Ms < 1000.

stop_under_load(Config, Node, From) ->
    {ok, _} = py:start_pool(ws, worker_opts(Config, #{node => Node, size => 2})),
    ok = wait_seen(ws, [Node], lists:usort([node() | From])),
    Call = fun() ->
                   case py:call({operator, add}, [1, 2], [], #{on => ws, timeout => 3000}) of
                       {ok, _} = Ok -> Ok;
                       %% Not a flood of errors once the pool is gone.
                       Error -> timer:sleep(5), Error
                   end
           end,
    Callers = [start_caller(F, Call) || F <- From],
    [ok = wait_results(C, fun(Rs) -> length(Rs) > 5 end, 10000) || C <- Callers],
    ok = stop_pool(ws, Node),
    %% Long enough for a call that hangs to reach its timeout.
    timer:sleep(3500),
    Rs = lists:append([ask(C, stop) || C <- Callers]),
    Failed = [{D, R} || {_, D, R} <- Rs, D >= 1000 orelse element(1, R) =/= ok],
    %% Per result: how many, and the longest (ms).
    maps:to_list(lists:foldl(fun({D, R}, Acc) ->
                                     {C0, M0} = maps:get(R, Acc, {0, 0}),
                                     Acc#{R => {C0 + 1, max(M0, D)}}
                             end, #{}, Failed)).

%% A process's own namespace for a pool of another node lives on one node that
%% has the pool, and its eval/exec go there. When that pool is gone (stopped,
%% started on another node, started again as another kind) or the worker the
%% namespace lives in dies, the process hears of it once ({namespace_lost,
%% Pool}, or the call's {worker_down, R}), and its next eval/exec get a new
%% namespace where the pool now is: never a namespace of a pool that is gone
%% (it used to go on running there, in a context of a node that no longer had
%% the pool), never the same error for ever.
remote_namespace_moves_on(Config) ->
    [N1, N2, _] = Nodes = ?config(nodes, Config),
    All = [node() | Nodes],
    On = #{on => nsm},
    Pid = <<"__import__('os').getpid()">>,
    Start = fun(Node, Opts) ->
                    {ok, _} = py:start_pool(nsm, Opts#{node => Node, size => 1}),
                    ok = wait_seen(nsm, [Node], All)
            end,
    Lost = fun(Expected) ->
                   {'EXIT', {Expected, _}} = (catch py:eval(<<"x">>, #{}, On)),
                   {'EXIT', {{python, <<"builtins.NameError">>, _, _}, _}} =
                       (catch py:eval(<<"x">>, #{}, On))
           end,
    %% A context pool on N1: the namespace is there.
    ok = Start(N1, #{}),
    ok = py:exec(<<"x = 1">>, #{}, On),
    1 = py:eval(<<"x">>, #{}, On),
    P1 = os_pid(N1),
    P1 = py:eval(Pid, #{}, On),
    %% Moved to N2.
    ok = erpc:call(N1, py, stop_pool, [nsm]),
    ok = Start(N2, #{}),
    Lost({namespace_lost, nsm}),
    ok = py:exec(<<"x = 2">>, #{}, On),
    2 = py:eval(<<"x">>, #{}, On),
    P2 = os_pid(N2),
    P2 = py:eval(Pid, #{}, On),
    %% Started again on N2 as a pool of workers: eval runs in the worker.
    ok = erpc:call(N2, py, stop_pool, [nsm]),
    ok = Start(N2, worker_opts(Config, #{})),
    Lost({namespace_lost, nsm}),
    ok = py:exec(<<"x = 3">>, #{}, On),
    3 = py:eval(<<"x">>, #{}, On),
    {ok, W} = py:call({os, getpid}, [], [], On),
    W = py:eval(Pid, #{}, On),
    true = W =/= P2,
    %% Its worker dies of another process's call.
    Self = self(),
    spawn_link(fun() -> Self ! {crashed, py:call({os, '_exit'}, [3], [], On)} end),
    {error, {worker_down, {exit, 3}}} = receive {crashed, R} -> R after 10000 -> timeout end,
    Lost({worker_down, {exit, 3}}),
    ok = py:exec(<<"x = 4">>, #{}, On),
    4 = py:eval(<<"x">>, #{}, On),
    ok = erpc:call(N2, py, stop_pool, [nsm]),
    ok = wait_seen(nsm, [], All),
    ok.
