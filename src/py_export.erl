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
%% Calls from other nodes run in processes of their own (runners), which
%% `py_import' on the caller's node can cancel.
-module(py_export).
-behaviour(gen_server).

-export([start_link/0, run/2, export/3, lease/1, claim/2, held/0]).
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
-spec run(request(), pid()) -> ok.
run(#{importer := Importer, gen := Gen, reply_to := To, job_id := JobId, return := Return,
      etf := Etf, on := On, marker := M, group_leader := GL}, _Exporter) ->
    true = group_leader(GL, self()),
    Holder = node(Importer),
    Result = try binary_to_term(iolist_to_binary(Etf)) of
                 {_Caller, Job0} ->
                     case unmark(Job0, M) of
                         {ok, Job} -> py_exec:run(Job, opts(Return, On));
                         {error, _} = Error -> Error
                     end
             catch
                 error:badarg -> {error, {bad_job, iolist_to_binary(Etf)}}
             end,
    {HasHandles, Out} = export(Result, Holder, M),
    To ! {To, {worker_result, HasHandles, term_to_binary(Out), Importer, Gen}},
    Importer ! {py_done, JobId},
    ok.

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
        #{{Importer, JobId} := Pid} -> exit(Pid, kill);
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
    maps:foreach(fun({Importer, _}, Pid) when node(Importer) =:= Node -> exit(Pid, kill);
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
