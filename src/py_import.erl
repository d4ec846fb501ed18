%% @doc This node's side of another node's Python (docs/cluster.md): one process
%% per remote node, the owner of the proxy handles for that node's objects.
%%
%% It speaks to callers as a worker's owner does (py_worker's messages), and
%% to the other node's `py_export': a job goes there to run in a process of its
%% own, its result comes straight back to the caller's alias, a cancel kills
%% that process, and a collected proxy releases its object there. When the node
%% goes down, every call waiting for it gets `{error, {node_down, Node}}' at
%% once, and its proxies answer the same from then on (a new generation
%% begins if it comes back).
-module(py_import).
-behaviour(gen_server).

-export([start_link/1, for/1, submit/6, portable/1, from_portable/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-export_type([portable/0]).

%% A handle made portable by py:export/1: it can travel to any node, where
%% py:import_handle/1 makes it a proxy again (within a minute).
-type portable() :: {py_portable, node(), pos_integer()}.

-record(state, {node :: node(),
                gen = 1 :: pos_integer(),
                up = false :: boolean(),
                %% Each job's reply alias and the monitor of its caller.
                jobs = #{} :: #{pos_integer() => {reference(), reference()}},
                callers = #{} :: #{reference() => pos_integer()}}).

%% @doc Starts the importer of `Node' (py_import_sup does, on demand).
-spec start_link(node()) -> {ok, pid()} | {error, term()}.
start_link(Node) ->
    gen_server:start_link(?MODULE, Node, []).

%% @doc The importer of `Node', started on first use.
-spec for(node()) -> {ok, pid()} | {error, term()}.
for(Node) ->
    case lookup(Node) of
        [{Node, Pid}] when node(Pid) =:= node() ->
            case is_process_alive(Pid) of
                true -> {ok, Pid};
                false -> start(Node)
            end;
        [] ->
            start(Node)
    end.

lookup(Node) ->
    try
        ets:lookup(py_import, Node)
    catch
        error:badarg -> []
    end.

start(Node) ->
    case whereis(py_import_sup) of
        undefined ->
            {error, not_started};
        _ ->
            case supervisor:start_child(py_import_sup, [Node]) of
                {ok, Pid} when is_pid(Pid) ->
                    {ok, Pid};
                {ok, undefined} ->
                    %% Another caller's importer won (init/1 said `ignore').
                    case lookup(Node) of
                        [{Node, Pid}] -> {ok, Pid};
                        [] -> {error, not_started}
                    end;
                {error, _} = Error ->
                    Error
            end
    end.

%% @doc Runs a job written by `py_nif:worker_write/2' on `Node', where `On'
%% says there (a pool, `{Pool, N}', `default').
-spec submit(pid(), reference(), pos_integer(), 0 | 1 | 2, iodata(), term()) -> ok.
submit(Importer, ReplyTo, JobId, Return, Etf, On) ->
    Importer ! {py_job_on, self(), ReplyTo, JobId, Return, Etf, On},
    ok.

%% @doc A handle (local, or a proxy of a worker or of another node) as a term
%% any node can turn back into a handle with from_portable/1 for a minute.
-spec portable(reference()) -> {ok, portable()} | {error, {not_a_handle, term()}}.
portable(Handle) ->
    %% Leased here whatever it is: a proxy kept in this node's table keeps its
    %% object alive in its worker or on its node, and a claim goes through here.
    case is_reference(Handle) andalso
        (py_nif:is_handle(Handle) orelse py_nif:proxy_info(Handle) =/= false) of
        true -> {ok, {py_portable, node(), py_export:lease(Handle)}};
        false -> {error, {not_a_handle, Handle}}
    end.

%% @doc The proxy handle (or, on its own node, the handle) of a portable one.
-spec from_portable(portable()) -> {ok, reference()} | {error, term()}.
from_portable({py_portable, Node, Id}) when Node =:= node() ->
    case ets:lookup(py_export, Id) of
        [{Id, Term, _}] -> {ok, Term};
        [] -> {error, {no_handle, Id}}
    end;
from_portable({py_portable, Node, Id}) when is_atom(Node), is_integer(Id) ->
    case for(Node) of
        {ok, Importer} -> gen_server:call(Importer, {claim, Id}, 10000);
        {error, _} = Error -> Error
    end;
from_portable(Other) ->
    {error, {not_a_handle, Other}}.

%% @private
-spec init(node()) -> {ok, #state{}} | ignore.
init(Node) ->
    %% The supervisor starts one child at a time: two callers asking at once
    %% get the same importer. The second start is ignored, quietly (a stop
    %% would log a crash report for each of the many processes of a map
    %% making their first call to a node together).
    case ets:lookup(py_import, Node) of
        [{Node, Pid}] when Pid =/= self() ->
            case is_process_alive(Pid) of
                true -> ignore;
                false -> claim_slot(Node)
            end;
        _ ->
            claim_slot(Node)
    end.

claim_slot(Node) ->
    process_flag(trap_exit, true),
    true = ets:insert(py_import, {Node, self()}),
    {ok, #state{node = Node}}.

%% @private
-spec handle_call(term(), gen_server:from(), #state{}) -> {reply, term(), #state{}}.
handle_call({claim, Id}, _From, #state{node = Node, gen = Gen} = State0) ->
    State = connect(State0),
    case State#state.up of
        false ->
            {reply, {error, {node_down, Node}}, State};
        true ->
            Ref = make_ref(),
            {py_export, Node} ! {claim, self(), Ref, Id, node()},
            receive
                {Ref, {ok, New}} -> {reply, {ok, py_nif:proxy_new(self(), Gen, New)}, State};
                {Ref, {error, _} = Error} -> {reply, Error, State};
                {nodedown, Node} -> {reply, {error, {node_down, Node}}, down(State)}
            after 5000 ->
                    {reply, {error, timeout}, State}
            end
    end;
handle_call(_Request, _From, State) ->
    {reply, {error, unknown_call}, State}.

%% @private
-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(_Msg, State) ->
    {noreply, State}.

%% @private
-spec handle_info(term(), #state{}) -> {noreply, #state{}}.
handle_info({py_job, Caller, ReplyTo, JobId, _Parent, Return, Gen, Etf}, #state{gen = Current} = State)
  when Gen =:= none; Gen =:= Current ->
    {noreply, forward(Caller, ReplyTo, JobId, Return, Etf, default, State)};
handle_info({py_job, _Caller, ReplyTo, _JobId, _Parent, _Return, _OldGen, _Etf},
            #state{node = Node} = State) ->
    %% A proxy of an earlier connection: that node went down since.
    ReplyTo ! {ReplyTo, {error, {node_down, Node}}},
    {noreply, State};
handle_info({py_job_on, Caller, ReplyTo, JobId, Return, Etf, On}, State) ->
    {noreply, forward(Caller, ReplyTo, JobId, Return, Etf, On, State)};
handle_info({py_cancel, JobId, Mode}, #state{node = Node} = State0) ->
    case take_job(JobId, State0) of
        {To, State} ->
            _ = Mode =:= notify andalso (To ! {To, {error, cancelled}}),
            {py_export, Node} ! {cancel, self(), JobId},
            {noreply, State};
        error ->
            {noreply, State0}
    end;
handle_info({py_result, To, JobId, Etf, Gen}, #state{node = Node} = State0) ->
    %% A result with handles (py_export sends those here): to its caller as
    %% a term with proxies, or, if the caller gave up on it, its handles are
    %% released at once.
    case take_job(JobId, State0) of
        {_, State} ->
            %% The proxies are made in a process of their own: garbage here
            %% would keep their objects until this process collects it, and if
            %% the caller gives up now, the message is dropped and they go.
            Importer = self(),
            _ = spawn(fun() -> To ! {To, py_worker:decode(Etf, true, Importer, Gen)} end),
            {noreply, State};
        error ->
            {py_export, Node} ! {release, py_export:handle_ids(binary_to_term(Etf),
                                                                 py_worker:marker(), [])},
            {noreply, State0}
    end;
handle_info({py_done, JobId}, State0) ->
    case take_job(JobId, State0) of
        {_To, State} -> {noreply, State};
        error -> {noreply, State0}
    end;
handle_info({'DOWN', MRef, process, _, _}, #state{node = Node, callers = Callers} = State) ->
    %% A caller died waiting: its job there stops, as a context's job does
    %% when its caller dies, rather than run on for no one.
    case maps:take(MRef, Callers) of
        {JobId, Rest} ->
            {py_export, Node} ! {cancel, self(), JobId},
            {noreply, State#state{callers = Rest,
                                  jobs = maps:remove(JobId, State#state.jobs)}};
        error ->
            {noreply, State}
    end;
handle_info({py_release, Gen, Id}, #state{gen = Gen, up = true, node = Node} = State) ->
    {py_export, Node} ! {release, [Id]},
    {noreply, State};
handle_info({py_release, _Gen, _Id}, State) ->
    {noreply, State};
handle_info({nodedown, Node}, #state{node = Node} = State) ->
    {noreply, down(State)};
handle_info(_Other, State) ->
    {noreply, State}.

%% @private
-spec terminate(term(), #state{}) -> ok.
terminate(_Reason, #state{node = Node, jobs = Jobs}) ->
    maps:foreach(fun(_, {To, _}) -> To ! {To, {error, {node_down, Node}}} end, Jobs),
    ets:delete(py_import, Node),
    ok.

forward(Caller, ReplyTo, JobId, Return, Etf, On, #state{node = Node} = State0) ->
    State = connect(State0),
    case State#state.up of
        false ->
            ReplyTo ! {ReplyTo, {error, {node_down, Node}}},
            State;
        true ->
            GL = case erlang:process_info(Caller, group_leader) of
                     {group_leader, L} -> L;
                     undefined -> whereis(user)
                 end,
            {py_export, Node} ! {run, #{importer => self(), gen => State#state.gen,
                                        reply_to => ReplyTo, job_id => JobId,
                                        return => Return, etf => Etf, on => On,
                                        marker => py_worker:marker(), group_leader => GL}},
            MRef = erlang:monitor(process, Caller),
            State#state{jobs = (State#state.jobs)#{JobId => {ReplyTo, MRef}},
                        callers = (State#state.callers)#{MRef => JobId}}
    end.

take_job(JobId, #state{jobs = Jobs, callers = Callers} = State) ->
    case maps:take(JobId, Jobs) of
        {{To, MRef}, Rest} ->
            erlang:demonitor(MRef, [flush]),
            {To, State#state{jobs = Rest, callers = maps:remove(MRef, Callers)}};
        error ->
            error
    end.

%% The node is watched from the first job on; a node that went down is tried
%% again at the next job (it may be back), under a new generation.
connect(#state{up = true} = State) ->
    State;
connect(#state{node = Node} = State) ->
    case net_kernel:connect_node(Node) of
        true ->
            erlang:monitor_node(Node, true),
            State#state{up = true};
        _ ->
            State
    end.

down(#state{node = Node, jobs = Jobs, gen = Gen} = State) ->
    maps:foreach(fun(_, {To, MRef}) ->
                         erlang:demonitor(MRef, [flush]),
                         To ! {To, {error, {node_down, Node}}}
                 end, Jobs),
    State#state{up = false, jobs = #{}, callers = #{}, gen = Gen + 1}.
