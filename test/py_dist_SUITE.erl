%% @doc Calls over Erlang distribution: `on => {node, N}', and handles that
%% belong to another node. A peer node is started with the same code and venv.
-module(py_dist_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1]).
-export([call_on_node/1, eval_on_node/1, remote_handle_is_a_proxy/1,
         remote_error_is_data/1, node_down_is_an_error/1]).

suite() ->
    [{timetrap, {minutes, 2}}].

all() ->
    [call_on_node, eval_on_node, remote_handle_is_a_proxy, remote_error_is_data,
     node_down_is_an_error].

init_per_suite(Config) ->
    ok = py_test_util:start(),
    StartedDist = py_test_util:start_distribution(py_dist_ct),
    Paths = py_test_util:peer_paths(),
    %% Not start_link: init_per_suite runs in a process of its own that ends at once.
    {ok, Peer, Node} = peer:start(#{name => peer:random_name(py_dist), args => Paths}),
    {ok, _} = erpc:call(Node, application, ensure_all_started, [py]),
    [{peer, Peer}, {node, Node}, {started_dist, StartedDist} | Config].

end_per_suite(Config) ->
    catch peer:stop(?config(peer, Config)),
    case ?config(started_dist, Config) of
        true -> net_kernel:stop();
        false -> ok
    end,
    Config.

call_on_node(Config) ->
    Node = ?config(node, Config),
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => {node, Node}}),
    LocalPid = py:func(os, getpid),
    RemotePid = erpc:call(Node, py, func, [os, getpid]),
    {ok, RemotePid} = py:call({os, getpid}, [], [], #{on => {node, Node}}),
    true = RemotePid =/= LocalPid,
    %% Big values cross too, through the remote codec.
    List = lists:seq(1, 100000),
    {ok, 100000} = py:call({builtins, len}, [List], [], #{on => {node, Node}}).

eval_on_node(Config) ->
    Node = ?config(node, Config),
    42 = py:eval(<<"x * 2">>, #{x => 21}, #{on => {node, Node}}).

%% A handle made on another node comes back as a proxy handle: calls on it
%% run there. A plain reference from another node (a handle sent in a message
%% as it is) is still refused clearly.
remote_handle_is_a_proxy(Config) ->
    Node = ?config(node, Config),
    {ok, Date} = py:call({datetime, date}, [2024, 2, 29], [], #{on => {node, Node}}),
    {Importer, _Gen, _Id} = py_nif:proxy_info(Date),
    Node = erpc:call(Node, erlang, node, []),
    true = node(Importer) =:= node(),
    {ok, <<"2024-02-29">>} = py:call({Date, isoformat}, [], [], #{}),
    2024 = py:attr(Date, year),
    {ok, <<"2024-02-29">>} = py:call('builtins.str', [Date], [], #{}),
    Plain = erpc:call(Node, erlang, make_ref, []),
    {error, {remote_handle, Node}} = py:call({Plain, isoformat}, [], [], #{}).

remote_error_is_data(Config) ->
    Node = ?config(node, Config),
    {error, {python, <<"builtins.ZeroDivisionError">>, _, _}} =
        py:call({operator, truediv}, [1, 0], [], #{on => {node, Node}}),
    {error, timeout} =
        py:call('builtins.exec', [<<"while True: pass">>, #{}], [], #{on => {node, Node}, timeout => 200}),
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => {node, Node}}).

node_down_is_an_error(_Config) ->
    T0 = erlang:monotonic_time(millisecond),
    {error, {node_down, 'nobody@nowhere'}} =
        py:call({operator, add}, [1, 2], [], #{on => {node, 'nobody@nowhere'}, timeout => 2000}),
    true = erlang:monotonic_time(millisecond) - T0 < 2000.
