%% @doc The objects of this node that other nodes hold, and the calls they run
%% here (docs/cluster.md). One per node, registered as `py_export'.
%%
%% A handle cannot leave its node as itself (OTP sends a resource as a plain
%% reference), so a result going to another node carries `{M, handle, Id}'
%% instead, `M' the marker of the node that asked (docs/worker-protocol.md,
%% "Markers"), and the handle waits in this node's table under `Id', held by
%% that node. There `py_import' makes it a proxy handle; when the proxy is
%% collected, the holder releases `Id'. When a node goes down, what it held is
%% dropped: nothing leaks when the other side vanishes.
%%
%% Calls from other nodes run in processes of their own (runners, see run/2),
%% which `py_import' on the caller's node can cancel.
-module(py_export).
-behaviour(gen_server).

-export([start_link/0, run/2, export/3, handle_ids/3, lease/1, claim/2, held/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-export_type([request/0]).

%% A call from another node (built by py_import, run here by run/2).
-type request() :: #{importer := pid(), gen := non_neg_integer(), reply_to := reference(),
                     job_id := pos_integer(), return := 0 | 1 | 2, etf := iodata(),
                     on := term(), marker := reference(), group_leader := pid()}.

%% Table: {Id, Term, Holder}. Holder is the node holding a proxy for Id, or
%% {lease, ExpiresAt} for a handle made portable by py:export/1.
-define(TABLE, py_export).
%% How long a portable handle (py:export/1) can be claimed (ms).
-define(LEASE, 60000).

-record(state, {runners = #{} :: #{{pid(), pos_integer()} => pid()},
                monitors = #{} :: #{reference() => {pid(), pos_integer()}}}).

%% @doc Starts the table and the process, registered as `py_export'.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @doc Runs a request from another node; on the caller's side it goes to the
%% alias `reply_to' as a worker's result would (py_exec reads both alike).
%%
%% The Python job runs in a process of its own, which a cancel (`cancel' in
%% this process's mailbox) kills, and so stops the job. This process is never
%% killed: it puts the result's handles in the table, and a kill halfway would
%% leave entries there that no proxy will ever release.
-spec run(request(), pid()) -> ok.
run(#{etf := Etf, marker := M, return := Return, on := On, group_leader := GL} = Request,
    _Exporter) ->
    %% The job's process inherits it: output goes to the caller's group leader.
    true = group_leader(GL, self()),
    Self = self(),
    {Job, MRef} = spawn_monitor(fun() -> Self ! {py_ran, self(), run_job(Etf, M, Return, On)} end),
    receive
        {py_ran, Job, Result} ->
            erlang:demonitor(MRef, [flush]),
            deliver(Request, Result);
        {'DOWN', MRef, process, Job, Reason} ->
            deliver(Request, {error, {panic, unicode:characters_to_binary(
                                               io_lib:format("~0tp", [Reason]))}});
        cancel ->
            exit(Job, kill),
            ok
    end.

run_job(Etf, M, Return, On) ->
    try binary_to_term(iolist_to_binary(Etf)) of
        {_Caller, Job0} ->
            case unmark(Job0, M) of
                {ok, Job} -> py_exec:run(Job, opts(Return, On));
                {error, _} = Error -> Error
            end
    catch
        error:badarg -> {error, {bad_job, iolist_to_binary(Etf)}}
    end.

%% A result without handles goes to the caller. One with handles goes through
%% the importer, which knows whether the caller still waits: the handles of a
%% result its caller gave up on are released at once. Nothing is kept for a
%% node that is gone (py_export drops what it held when it hears; a result
%% exported as it goes is dropped here).
deliver(#{importer := Importer, gen := Gen, reply_to := To, job_id := JobId, marker := M},
        Result) ->
    Holder = node(Importer),
    _ = case has_handles(Result) of
            false ->
                To ! {To, {worker_result, false, term_to_binary(Result), Importer, Gen}},
                Importer ! {py_done, JobId};
            true ->
                case lists:member(Holder, nodes()) of
                    true ->
                        {_, Out} = export(Result, Holder, M),
                        case lists:member(Holder, nodes()) of
                            true ->
                                Importer ! {py_result, To, JobId, term_to_binary(Out), Gen};
                            false ->
                                lists:foreach(fun(Id) -> ets:delete(?TABLE, Id) end,
                                              handle_ids(Out, M, []))
                        end;
                    false ->
                        ok
                end
        end,
    ok.

%% @doc The ids of the `{M, handle, Id}' in a term written by export/3.
-spec handle_ids(term(), reference(), [pos_integer()]) -> [pos_integer()].
handle_ids({M, handle, Id}, M, Acc) when is_integer(Id) -> [Id | Acc];
handle_ids([H | T], M, Acc) -> handle_ids(T, M, handle_ids(H, M, Acc));
handle_ids(T, M, Acc) when is_tuple(T) -> handle_ids(tuple_to_list(T), M, Acc);
handle_ids(Map, M, Acc) when is_map(Map) -> handle_ids(maps:to_list(Map), M, Acc);
handle_ids(_Other, _M, Acc) -> Acc.

opts(Return, On) ->
    Base = #{on => On, timeout => infinity},
    case Return of
        2 -> Base#{return => handle};
        1 -> Base#{none => nil};
        _ -> Base
    end.

%% Markers of the asking node, back into what they stand for here.
unmark(Term, M) ->
    try
        {ok, unmark1(Term, M)}
    catch
        throw:{no_handle, _} = Reason -> {error, Reason}
    end.

unmark1({M, handle, Id}, M) ->
    case ets:lookup(?TABLE, Id) of
        [{Id, Term, _}] -> Term;
        [] -> throw({no_handle, Id})
    end;
unmark1({M, bytes, Bin}, M) when is_binary(Bin) -> py_nif:bytes(Bin);
unmark1({M, buffer, Bin}, M) when is_binary(Bin) -> py_nif:buffer(Bin);
unmark1([H | T], M) -> [unmark1(H, M) | unmark_tail(T, M)];
unmark1(T, M) when is_tuple(T) -> list_to_tuple([unmark1(E, M) || E <- tuple_to_list(T)]);
unmark1(Map, M) when is_map(Map) ->
    maps:from_list([{unmark1(K, M), unmark1(V, M)} || {K, V} <- maps:to_list(Map)]);
unmark1(Other, _M) -> Other.

unmark_tail([H | T], M) -> [unmark1(H, M) | unmark_tail(T, M)];
unmark_tail(T, M) -> unmark1(T, M).

%% A result with a handle in it (a context's handle, or a proxy of a worker
%% or of another node) goes through the table.
has_handles(R) when is_reference(R) ->
    py_nif:is_handle(R) orelse py_nif:proxy_info(R) =/= false;
has_handles([H | T]) -> has_handles(H) orelse has_handles(T);
has_handles(T) when is_tuple(T) -> has_handles(tuple_to_list(T));
has_handles(Map) when is_map(Map) -> has_handles(maps:to_list(Map));
has_handles(_) -> false.

%% @doc `Term' with each handle in it (a context's handle or a proxy of a
%% worker or another node) put in the table for `Holder' and written as
%% `{M, handle, Id}'; the boolean says whether there was any.
-spec export(term(), node() | {lease, integer()}, reference()) -> {boolean(), term()}.
export(Term, Holder, M) ->
    Found = put('$py_exported', false),
    Out = export1(Term, Holder, M),
    Any = put('$py_exported', Found),
    {Any =:= true, Out}.

export1(R, Holder, M) when is_reference(R) ->
    case py_nif:is_handle(R) orelse py_nif:proxy_info(R) =/= false of
        true ->
            Id = erlang:unique_integer([positive]),
            true = ets:insert(?TABLE, {Id, R, Holder}),
            put('$py_exported', true),
            {M, handle, Id};
        false ->
            R
    end;
export1([H | T], Holder, M) -> [export1(H, Holder, M) | export_tail(T, Holder, M)];
export1(T, Holder, M) when is_tuple(T) ->
    list_to_tuple([export1(E, Holder, M) || E <- tuple_to_list(T)]);
export1(Map, Holder, M) when is_map(Map) ->
    maps:from_list([{export1(K, Holder, M), export1(V, Holder, M)} || {K, V} <- maps:to_list(Map)]);
export1(Other, _Holder, _M) -> Other.

export_tail([H | T], Holder, M) -> [export1(H, Holder, M) | export_tail(T, Holder, M)];
export_tail(T, Holder, M) -> export1(T, Holder, M).

%% @doc Keeps a handle of this node claimable by other nodes for a while
%% (py:export/1); returns its id.
-spec lease(reference()) -> pos_integer().
lease(Handle) ->
    Id = erlang:unique_integer([positive]),
    true = ets:insert(?TABLE, {Id, Handle, {lease, erlang:monotonic_time(millisecond) + ?LEASE}}),
    Id.

%% @doc A node claims a portable handle: a new entry it holds, for a proxy.
-spec claim(pos_integer(), node()) -> {ok, pos_integer()} | {error, {no_handle, pos_integer()}}.
claim(Id, Holder) ->
    Now = erlang:monotonic_time(millisecond),
    case ets:lookup(?TABLE, Id) of
        [{Id, Term, {lease, Until}}] when Until > Now ->
            New = erlang:unique_integer([positive]),
            true = ets:insert(?TABLE, {New, Term, Holder}),
            {ok, New};
        [{Id, Term, _Holder}] ->
            New = erlang:unique_integer([positive]),
            true = ets:insert(?TABLE, {New, Term, Holder}),
            {ok, New};
        _ ->
            {error, {no_handle, Id}}
    end.

%% @doc How many handles other nodes hold here (or may claim), for tests and
%% `py:pool_info/1'.
-spec held() -> non_neg_integer().
held() ->
    case ets:info(?TABLE, size) of
        undefined -> 0;
        N -> N
    end.

%% @private
-spec init([]) -> {ok, #state{}}.
init([]) ->
    _ = ets:new(?TABLE, [named_table, public, set, {read_concurrency, true},
                         {write_concurrency, true}]),
    ok = net_kernel:monitor_nodes(true),
    erlang:send_after(?LEASE, self(), expire),
    {ok, #state{}}.

%% @private
-spec handle_call(term(), gen_server:from(), #state{}) -> {reply, term(), #state{}}.
handle_call(_Request, _From, State) ->
    {reply, {error, unknown_call}, State}.

%% @private
-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(_Msg, State) ->
    {noreply, State}.

%% @private
-spec handle_info(term(), #state{}) -> {noreply, #state{}}.
handle_info({run, #{importer := Importer, job_id := JobId} = Request}, State) ->
    {Pid, MRef} = spawn_monitor(?MODULE, run, [Request, self()]),
    Key = {Importer, JobId},
    {noreply, State#state{runners = (State#state.runners)#{Key => Pid},
                          monitors = (State#state.monitors)#{MRef => Key}}};
handle_info({cancel, Importer, JobId}, #state{runners = Runners} = State) ->
    case Runners of
        #{{Importer, JobId} := Pid} -> Pid ! cancel;
        _ -> ok
    end,
    {noreply, State};
handle_info({release, Ids}, State) ->
    lists:foreach(fun(Id) -> ets:delete(?TABLE, Id) end, Ids),
    {noreply, State};
handle_info({claim, From, Ref, Id, Holder}, State) ->
    From ! {Ref, claim(Id, Holder)},
    {noreply, State};
handle_info({'DOWN', MRef, process, _, _}, #state{monitors = Monitors, runners = Runners} = State) ->
    case maps:take(MRef, Monitors) of
        {Key, Rest} -> {noreply, State#state{monitors = Rest, runners = maps:remove(Key, Runners)}};
        error -> {noreply, State}
    end;
handle_info({nodedown, Node}, #state{runners = Runners} = State) ->
    %% What that node held goes, and so do the calls it was waiting for.
    true = ets:match_delete(?TABLE, {'_', '_', Node}),
    maps:foreach(fun({Importer, _}, Pid) when node(Importer) =:= Node -> Pid ! cancel;
                    (_, _) -> ok
                 end, Runners),
    {noreply, State};
handle_info(expire, State) ->
    Now = erlang:monotonic_time(millisecond),
    Expired = ets:select(?TABLE, [{{'$1', '_', {lease, '$2'}}, [{'<', '$2', Now}], ['$1']}]),
    lists:foreach(fun(Id) -> ets:delete(?TABLE, Id) end, Expired),
    erlang:send_after(?LEASE, self(), expire),
    {noreply, State};
handle_info(_Other, State) ->
    {noreply, State}.

%% @private
-spec terminate(term(), #state{}) -> ok.
terminate(_Reason, _State) ->
    ok.
