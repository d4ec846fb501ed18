%% @doc The owner of one worker: a Python interpreter in an OS process of its own
%% (`priv/py_worker'), driven over a port (docs/worker-protocol.md).
%%
%% Callers send jobs here; this process writes them to the port and hands what
%% the worker answers (results, callbacks, output) to the caller that waits.
%% When the worker dies (a segfault, `os._exit', a memory cap, or a kill after
%% a timeout), every caller with a job on it gets `{error, {worker_down,
%% Reason}}' and a new worker takes its place in the same process: callers and
%% the pool keep this pid. Objects of the old worker are gone; their proxy
%% handles answer `{error, {worker_down, Reason}}'.
-module(py_worker).
-behaviour(gen_server).

-export([start_link/3, marker/0, init_marker/0, submit/7, cancel/3, callback_reply/3,
         output_ack/2, decode/4, info/1, executable/0, spawn_worker/1, stop_port/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-export_type([opts/0, down_reason/0]).

%% What a worker is started with: the pool's options that reach the process.
-type opts() :: #{python := binary() | undefined,
                  venv := binary() | undefined,
                  path := [binary()],
                  env := [{binary(), binary()}],
                  max_memory := pos_integer() | undefined,
                  kill_after := non_neg_integer()}.
-type down_reason() :: {signal, pos_integer()} | {exit, non_neg_integer()} | max_memory
                     | killed_after_timeout | {start_failed, binary()} | stopped.

-record(job, {caller :: pid(),
              reply_to :: reference(),
              %% The caller is watched: a job whose caller died is cancelled, so the
              %% worker does not work on for nobody.
              monitor :: reference(),
              memory = false :: boolean()}).

-record(state, {pool :: atom(),
                index :: pos_integer(),
                opts :: opts(),
                port :: port() | undefined,
                os_pid = 0 :: non_neg_integer(),
                gen = 0 :: non_neg_integer(),
                jobs = #{} :: #{pos_integer() => #job{}},
                callers = #{} :: #{reference() => pos_integer()},
                %% Jobs given up by their callers: killed after kill_after if they
                %% have not stopped by then.
                cancelled = #{} :: #{pos_integer() => reference()},
                %% Why each earlier generation ended (the last few), for their proxies.
                down = [] :: [{non_neg_integer(), down_reason()}],
                %% Set when the worker is killed on purpose, so its exit is not taken
                %% for a crash of its own.
                killing = undefined :: down_reason() | undefined,
                restarts = 0 :: non_neg_integer(),
                handles = 0 :: non_neg_integer(),
                %% The pieces of a packet of the worker read so far, last first.
                pieces = [] :: [binary()],
                %% Writes the port refused at once, in order (see send/2): the
                %% process that waits on the port for them, and how many batches
                %% it has not finished.
                writer :: pid() | undefined,
                backlog = 0 :: non_neg_integer(),
                load :: atomics:atomics_ref()}).

%% How long a worker has to start Python and answer `ready'.
-define(START_TIMEOUT, 30000).
%% How many ended generations are remembered for their proxies' reasons.
-define(DOWN_KEPT, 8).
%% Packets of more than ?WHOLE bytes go in pieces of ?PIECE bytes, both ways
%% (write/2, packet/2): a 1 MiB piece costs the port about 0.1-1 ms here.
-define(WHOLE, 2 * ?PIECE).
-define(PIECE, 1 bsl 20).
%% The kinds of a piece and of the last piece of a packet.
-define(PIECE_KIND, 9).
-define(LAST_PIECE, 10).

-ifdef(TEST).
-export([split/2]).
-endif.

%%% Callers' side

%% @doc Starts the owner of slot `Index' of pool `Pool', and its worker. `Load'
%% is the pool's atomics array of jobs in flight per slot (for `least_busy').
-spec start_link(atom(), pos_integer(), {opts(), atomics:atomics_ref()}) ->
          {ok, pid()} | {error, term()}.
start_link(Pool, Index, {Opts, Load}) ->
    gen_server:start_link(?MODULE, {Pool, Index, Opts, Load}, []).

%% @doc The reference that marks handles and markers in the external format
%% (docs/worker-protocol.md, "Markers"): one per VM, never given to user code;
%% `undefined' until py starts.
-spec marker() -> reference() | undefined.
marker() ->
    persistent_term:get({?MODULE, marker}, undefined).

%% @doc Makes the marker once per VM (when `py' starts): workers started later
%% by any pool use the same one.
-spec init_marker() -> ok.
init_marker() ->
    case persistent_term:get({?MODULE, marker}, undefined) of
        undefined -> persistent_term:put({?MODULE, marker}, make_ref());
        _ -> ok
    end.

%% @doc Sends a job, written by `py_nif:worker_write/2', to the worker of
%% `Owner'. Whatever comes of it is sent to `ReplyTo' (an alias of the caller)
%% as `{ReplyTo, Message}'. `Gen' is the generation the job's proxies belong
%% to, or `none'; `Parent' the job whose callback the caller is running, or 0.
-spec submit(pid(), reference(), pos_integer(), non_neg_integer(), 0 | 1 | 2,
             none | non_neg_integer(), iodata()) -> ok.
submit(Owner, ReplyTo, JobId, Parent, Return, Gen, Etf) ->
    Owner ! {py_job, self(), ReplyTo, JobId, Parent, Return, Gen, Etf},
    ok.

%% @doc Gives up a job: the worker is interrupted, and killed if the job has
%% not stopped after the pool's `kill_after'. With `notify', the caller gets
%% `{error, cancelled}' unless the result has gone to it already (py:cancel/1);
%% `silent' is for a caller that gave up and dropped its alias.
-spec cancel(pid(), pos_integer(), notify | silent) -> ok.
cancel(Owner, JobId, Mode) ->
    Owner ! {py_cancel, JobId, Mode},
    ok.

%% @doc The caller's answer to a callback of job `JobId'.
-spec callback_reply(pid(), pos_integer(), py_nif:callback_result()) -> ok.
callback_reply(Owner, JobId, Reply) ->
    Etf = case write(Reply) of
              {ok, Bin, _} -> Bin;
              {error, Reason} -> term_to_binary({error, {error, Reason, []}})
          end,
    Owner ! {py_callback_reply, JobId, Etf},
    ok.

%% @doc The caller has written one output message of job `JobId' (0: output made
%% outside any job, written by the py server).
-spec output_ack(pid(), non_neg_integer()) -> ok.
output_ack(Owner, JobId) ->
    Owner ! {py_output_ack, JobId},
    ok.

%% @doc A term from a worker: its handle markers become proxy handles of
%% `Owner''s generation `Gen' when `HasHandles' (the worker says whether there
%% are any, so that plain data is not walked).
-spec decode(binary(), boolean(), pid(), non_neg_integer()) -> term().
decode(Etf, false, _Owner, _Gen) ->
    binary_to_term(Etf);
decode(Etf, true, Owner, Gen) ->
    proxies(binary_to_term(Etf), marker(), Owner, Gen).

proxies({M, handle, Id}, M, Owner, Gen) when is_integer(Id) ->
    py_nif:proxy_new(Owner, Gen, Id);
proxies([H | T], M, Owner, Gen) ->
    [proxies(H, M, Owner, Gen) | proxies_tail(T, M, Owner, Gen)];
proxies(T, M, Owner, Gen) when is_tuple(T) ->
    list_to_tuple([proxies(E, M, Owner, Gen) || E <- tuple_to_list(T)]);
proxies(Map, M, Owner, Gen) when is_map(Map) ->
    maps:from_list([{proxies(K, M, Owner, Gen), proxies(V, M, Owner, Gen)}
                    || {K, V} <- maps:to_list(Map)]);
proxies(Other, _M, _Owner, _Gen) ->
    Other.

proxies_tail([H | T], M, Owner, Gen) -> [proxies(H, M, Owner, Gen) | proxies_tail(T, M, Owner, Gen)];
proxies_tail(Tail, M, Owner, Gen) -> proxies(Tail, M, Owner, Gen).

%% A term written for a worker, on a dirty scheduler when it is big.
write(Term) ->
    case py_nif:worker_write(Term, marker()) of
        too_large -> py_nif:worker_write_large(Term, marker());
        Written -> Written
    end.

%% @doc The state of one worker, for `py:pool_info/1'.
-spec info(pid()) -> #{os_pid := non_neg_integer(), busy := boolean(), queued := non_neg_integer(),
                       restarts := non_neg_integer(), handles := non_neg_integer(),
                       generation := non_neg_integer()}.
info(Owner) ->
    gen_server:call(Owner, info).

%% @doc The worker program: `priv/py_worker'.
-spec executable() -> file:filename().
executable() ->
    filename:join(py_nif:priv_dir(), "py_worker").

%%% The owner

%% @private
-spec init({atom(), pos_integer(), opts(), atomics:atomics_ref()}) ->
          {ok, #state{}} | {stop, term()}.
init({Pool, Index, Opts, Load}) ->
    %% terminate/2 must run on shutdown so that the worker is stopped at once.
    process_flag(trap_exit, true),
    State = #state{pool = Pool, index = Index, opts = Opts, load = Load},
    case start_worker(State) of
        {ok, Started} ->
            ok = py_worker_pool:publish_owner(Pool, Index, self()),
            {ok, Started};
        {error, Reason} -> {stop, {worker_start_failed, Reason}}
    end.

%% @private
-spec handle_call(term(), gen_server:from(), #state{}) -> {reply, term(), #state{}}.
handle_call(info, _From, #state{jobs = Jobs, os_pid = OsPid, restarts = R, handles = H,
                                gen = Gen} = State) ->
    N = map_size(Jobs),
    {reply, #{os_pid => OsPid, busy => N > 0, queued => max(0, N - 1), restarts => R,
              handles => H, generation => Gen}, State};
handle_call(kill, _From, State) ->
    %% For tests and operators: the worker is killed as a crash would kill it.
    {reply, ok, kill_worker(State, {signal, 9})};
handle_call(_Request, _From, State) ->
    {reply, {error, unknown_call}, State}.

%% @private
-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(_Msg, State) ->
    {noreply, State}.

%% @private
-spec handle_info(term(), #state{}) -> {noreply, #state{}} | {stop, term(), #state{}}.
handle_info({Port, {data, Packet}}, #state{port = Port} = State) ->
    {noreply, packet(Packet, State)};
handle_info({py_job, Caller, ReplyTo, JobId, Parent, Return, Gen, Etf}, State) ->
    {noreply, job(Caller, ReplyTo, JobId, Parent, Return, Gen, Etf, State)};
handle_info({py_cancel, JobId, Mode}, State) ->
    {noreply, cancel_job(JobId, Mode, State)};
handle_info({py_callback_reply, JobId, Etf}, State) ->
    {noreply, send_any([<<2, JobId:64>>, Etf], State)};
handle_info({py_output_ack, JobId}, State) ->
    {noreply, send_any(<<5, JobId:64>>, State)};
handle_info({py_release, Gen, Id}, #state{gen = Gen} = State) ->
    {noreply, send_any(<<4, 1:32, Id:64>>, State)};
handle_info({py_written, Writer}, #state{writer = Writer, backlog = N} = State) ->
    {noreply, State#state{backlog = N - 1}};
handle_info({'EXIT', Writer, _}, #state{writer = Writer} = State) ->
    %% It never fails on its own (it catches what the port raises); whatever it
    %% held is lost, and the calls it was for end at their deadlines.
    {noreply, State#state{writer = undefined, backlog = 0}};
handle_info({py_release, _OldGen, _Id}, State) ->
    %% Its worker is gone, and the object with it.
    {noreply, State};
handle_info({kill_after, JobId, Gen}, #state{gen = Gen, cancelled = Cancelled} = State) ->
    case Cancelled of
        #{JobId := _} -> {noreply, kill_worker(State, killed_after_timeout)};
        _ -> {noreply, State}
    end;
handle_info({kill_after, _JobId, _OldGen}, State) ->
    {noreply, State};
handle_info({'DOWN', MRef, process, _, _}, #state{callers = Callers} = State) ->
    case Callers of
        #{MRef := JobId} -> {noreply, cancel_job(JobId, silent, State)};
        _ -> {noreply, State}
    end;
handle_info({Port, {exit_status, Status}}, #state{port = Port} = State) ->
    worker_down(exit_reason(Status, State), State);
handle_info({'EXIT', Port, Reason}, #state{port = Port, killing = Killing} = State) ->
    %% The port closed without an exit status (it failed, or a write to a worker
    %% killed on purpose met a closed pipe): the worker is gone.
    worker_down(case Killing of
                    undefined -> {exit_port, Reason};
                    _ -> Killing
                end, State);
handle_info({'EXIT', _OldPort, _}, State) ->
    {noreply, State};
handle_info(_Other, State) ->
    {noreply, State}.

%% @private
-spec terminate(term(), #state{}) -> ok.
terminate(_Reason, #state{port = Port, os_pid = OsPid, jobs = Jobs}) ->
    maps:foreach(fun(_, #job{reply_to = To}) -> To ! {To, {error, {worker_down, stopped}}} end,
                 Jobs),
    stop_port(Port, OsPid),
    ok.

%%% Jobs

job(Caller, ReplyTo, JobId, Parent, Return, Gen, Etf,
    #state{gen = Current, load = Load, index = I} = State0)
  when Gen =:= none; Gen =:= Current ->
    case send([<<1, JobId:64, Parent:64, Return>>, Etf], State0) of
        {ok, #state{jobs = Jobs} = State} ->
            atomics:add(Load, I, 1),
            MRef = erlang:monitor(process, Caller),
            State#state{jobs = Jobs#{JobId => #job{caller = Caller, reply_to = ReplyTo,
                                                   monitor = MRef}},
                        callers = (State#state.callers)#{MRef => JobId}};
        {error, State} ->
            ReplyTo ! {ReplyTo, {error, {worker_down, starting}}},
            State
    end;
job(_Caller, ReplyTo, _JobId, _Parent, _Return, Gen, _Etf, #state{down = Down} = State) ->
    Reason = proplists:get_value(Gen, Down, gone),
    ReplyTo ! {ReplyTo, {error, {worker_down, Reason}}},
    State.

cancel_job(JobId, Mode, #state{jobs = Jobs, opts = #{kill_after := Grace},
                               gen = Gen, load = Load, index = I} = State0) ->
    case maps:take(JobId, Jobs) of
        {#job{reply_to = To, monitor = MRef}, Rest} ->
            _ = Mode =:= notify andalso (To ! {To, {error, cancelled}}),
            erlang:demonitor(MRef, [flush]),
            atomics:sub(Load, I, 1),
            State = send_any(<<3, JobId:64>>, State0),
            TRef = erlang:send_after(Grace, self(), {kill_after, JobId, Gen}),
            State#state{jobs = Rest, callers = maps:remove(MRef, State#state.callers),
                        cancelled = (State#state.cancelled)#{JobId => TRef}};
        error ->
            State0
    end.

%% What the worker says (docs/worker-protocol.md, "Worker -> VM").
packet(<<1, JobId:64, Flags, Etf/binary>>, #state{jobs = Jobs, gen = Gen} = State) ->
    case maps:take(JobId, Jobs) of
        {#job{reply_to = To, monitor = MRef}, Rest} ->
            atomics:sub(State#state.load, State#state.index, 1),
            _ = case Flags band 1 of
                    %% Plain data: the caller decodes it, so this process stays light.
                    0 -> To ! {To, {worker_result, false, Etf, self(), Gen}};
                    %% Handles are made here, not by the caller: if it dies before it
                    %% reads the message, they are collected and their objects
                    %% released. In a process of its own, whose heap goes at once: in
                    %% this long-lived one, dropped proxies would keep their objects
                    %% until its next garbage collection.
                    _ -> to_caller(To, Etf, Gen, fun(Term) -> Term end)
                end,
            erlang:demonitor(MRef, [flush]),
            State#state{jobs = Rest, callers = maps:remove(MRef, State#state.callers)};
        error ->
            %% Nobody receives this result: the objects it made are released.
            Released = case Flags band 1 of
                           1 -> release_dropped(Etf, State);
                           0 -> State
                       end,
            %% A job its caller gave up on has stopped: it is not killed.
            case maps:take(JobId, Released#state.cancelled) of
                {TRef, Cancelled} ->
                    _ = erlang:cancel_timer(TRef),
                    Released#state{cancelled = Cancelled};
                error ->
                    Released
            end
    end;
packet(<<2, JobId:64, Etf/binary>>, #state{jobs = Jobs, gen = Gen} = State) ->
    case Jobs of
        #{JobId := #job{reply_to = To}} ->
            %% Decoded here, for the same reason as a result with handles.
            _ = to_caller(To, Etf, Gen, fun(Call) -> {callback, Call} end),
            State;
        _ ->
            %% The caller is gone: the worker must not wait for it.
            Reply = term_to_binary({error, {exit, timeout, []}}),
            send_any([<<2, JobId:64>>, Reply], State)
    end;
packet(<<3, JobId:64, Stream, Data/binary>>, #state{jobs = Jobs} = State) ->
    case Jobs of
        #{JobId := #job{reply_to = To}} ->
            To ! {To, {output, stream(Stream), Data}},
            State;
        _ when JobId =:= 0 ->
            %% Output of another Python thread, or between jobs: the py server writes
            %% it where it writes the VM's own and acknowledges it (back-pressure
            %% without this process waiting on the console).
            ok = py_server:console(Data, self()),
            State;
        _ ->
            %% The caller is gone; acknowledged so that the job is not held up.
            send_any(<<5, JobId:64>>, State)
    end;
packet(<<4, Etf/binary>>, State) ->
    log(Etf, State),
    State;
packet(<<5, Etf/binary>>, #state{gen = Gen} = State) ->
    _ = case safe_decode(Etf, Gen) of
        {ok, {Pid, Msg}} when is_pid(Pid) -> Pid ! Msg;
        _ -> ok
    end,
    State;
packet(<<6, Etf/binary>>, #state{gen = Gen} = State) ->
    _ = case safe_decode(Etf, Gen) of
        {ok, Call} -> _ = spawn(fun() -> cast(Call) end);
        _ -> ok
    end,
    State;
packet(<<7, JobId:64>>, #state{jobs = Jobs} = State) ->
    case Jobs of
        #{JobId := Job} -> State#state{jobs = Jobs#{JobId := Job#job{memory = true}}};
        _ -> State
    end;
packet(<<8, Count:64>>, State) ->
    State#state{handles = Count};
%% A packet longer than 2 MiB comes in pieces of 1 MiB: the port copies each
%% packet it has read into one binary, on a normal scheduler and without
%% yielding (16 ms for 26 MB here). iolist_to_binary/1 yields.
packet(<<?PIECE_KIND, Piece/binary>>, #state{pieces = Pieces} = State) ->
    State#state{pieces = [Piece | Pieces]};
packet(<<?LAST_PIECE, Piece/binary>>, #state{pieces = Pieces} = State) ->
    Whole = iolist_to_binary(lists:reverse(Pieces, [Piece])),
    joined(Whole, State#state{pieces = []});
packet(Other, State) ->
    unexpected(Other, State).

%% A packet in pieces is never itself a piece.
joined(<<Kind, _/binary>> = Whole, State) when Kind =:= ?PIECE_KIND; Kind =:= ?LAST_PIECE ->
    unexpected(Whole, State);
joined(Whole, State) ->
    packet(Whole, State).

unexpected(Packet, #state{pool = Pool, index = I} = State) ->
    logger:warning("py: worker ~p of pool ~p sent a packet it should not: ~P",
                   [I, Pool, Packet, 12], #{domain => [py]}),
    State.

release_dropped(Etf, State) ->
    case ids(binary_to_term(Etf), marker(), []) of
        [] -> State;
        Ids -> send_any([<<4, (length(Ids)):32>>, [<<Id:64>> || Id <- Ids]], State)
    end.

ids({M, handle, Id}, M, Acc) when is_integer(Id) -> [Id | Acc];
ids([H | T], M, Acc) -> ids(T, M, ids(H, M, Acc));
ids(T, M, Acc) when is_tuple(T) -> lists:foldl(fun(E, A) -> ids(E, M, A) end, Acc, tuple_to_list(T));
ids(Map, M, Acc) when is_map(Map) -> maps:fold(fun(K, V, A) -> ids(V, M, ids(K, M, A)) end, Acc, Map);
ids(_, _, Acc) -> Acc.

%% A term from the worker, its markers made proxy handles, sent to a caller by a
%% short-lived process (see packet/2).
to_caller(To, Etf, Gen, Wrap) ->
    Owner = self(),
    _ = spawn(fun() -> To ! {To, Wrap(decode(Etf, true, Owner, Gen))} end),
    ok.

stream(1) -> stdout;
stream(_) -> stderr.

safe_decode(Etf, Gen) ->
    try
        {ok, proxies(binary_to_term(Etf), marker(), self(), Gen)}
    catch
        error:badarg -> error
    end.

cast(Call) ->
    try
        _ = py_exec:apply_call(Call),
        ok
    catch
        Class:Reason:Stack ->
            logger:warning("py: erlang.cast from a worker failed: ~p:~p ~p",
                           [Class, Reason, Stack], #{domain => [py]})
    end.

%% A `logging' record of the worker's Python, as the NIF logs those of contexts.
log(Etf, #state{pool = Pool, index = I}) ->
    case catch binary_to_term(Etf) of
        {Level, Logger, Msg} when is_integer(Level) ->
            logger:log(level(Level), "~ts: ~ts", [Logger, Msg],
                       #{domain => [py, python], py_worker => {Pool, I}});
        _ ->
            ok
    end.

level(L) when L >= 50 -> critical;
level(L) when L >= 40 -> error;
level(L) when L >= 30 -> warning;
level(L) when L >= 20 -> info;
level(_) -> debug.

%%% The worker process

%% A new worker for the slot: the pool's spare if it has one ready (a Python
%% start takes tens of milliseconds), else one started here.
start_worker(#state{opts = Opts, gen = Gen, pool = Pool} = State) ->
    Started = case py_worker_spare:take(Pool) of
                  {ok, _Port, _OsPid} = Spare -> Spare;
                  none -> spawn_worker(Opts)
              end,
    case Started of
        {ok, Port, OsPid} -> {ok, State#state{port = Port, os_pid = OsPid, gen = Gen + 1}};
        {error, _} = Error -> Error
    end.

%% @doc Starts a worker process and waits until its Python is ready; the port
%% is linked to the calling process, which receives its messages.
-spec spawn_worker(opts()) -> {ok, port(), pos_integer()} | {error, term()}.
spawn_worker(Opts) ->
    Env = [{binary_to_list(K), binary_to_list(V)} || {K, V} <- maps:get(env, Opts)],
    try open_port({spawn_executable, executable()},
                  [{packet, 4}, binary, nouse_stdio, exit_status, {env, Env}]) of
        Port ->
            %% A new port is never busy: nothing is written to it before.
            try port_command(Port, [<<0>>, term_to_binary(hello(Opts))]) of
                true -> await_ready(Port)
            catch
                error:badarg -> {error, worker_exited}
            end
    catch
        error:Reason -> {error, {open_port, Reason}}
    end.

hello(Opts) ->
    Settings = case py_nif:loaded_settings() of
                   undefined -> #{};
                   S -> S
               end,
    Base = maps:with([max_depth, max_terms], Settings),
    Given = maps:filter(fun(_, V) -> V =/= undefined end,
                        maps:with([python, venv, path, max_memory], Opts)),
    %% Neither named: the VM's own interpreter, as the NIF resolved it ($VIRTUAL_ENV).
    Interp = case is_map_key(python, Given) orelse is_map_key(venv, Given) of
                 true -> #{};
                 false -> maps:filter(fun(_, V) -> V =/= undefined end,
                                      maps:with([python, venv], Settings))
             end,
    maps:merge(maps:merge(Base, Interp), Given#{marker => marker(),
                            python_pkg => unicode:characters_to_binary(py_nif:python_pkg())}).

await_ready(Port) ->
    receive
        {Port, {data, <<0, Etf/binary>>}} ->
            case catch binary_to_term(Etf) of
                #{pid := OsPid} ->
                    {ok, Port, OsPid};
                {error, Msg} ->
                    stop_port(Port, 0),
                    {error, {python_init_failed, Msg}};
                Other ->
                    stop_port(Port, 0),
                    {error, {bad_ready, Other}}
            end;
        {Port, {exit_status, Status}} ->
            {error, {worker_exit, Status}}
    after ?START_TIMEOUT ->
            stop_port(Port, 0),
            {error, start_timeout}
    end.

%% A packet to the worker; `error' when there is no worker to take it.
%%
%% The owner never waits on the port. A worker that does not read (stopped, or
%% swapped out) fills the pipe; a process that writes to a busy port is
%% suspended until it is not, and the owner suspended could not kill that very
%% worker after kill_after: a SIGSTOPped worker and a 3 MB job left the pool
%% dead for good. So the owner writes with `nosuspend', and what the port
%% refuses goes, in order, to a writer process that may wait; while it holds
%% anything, later packets queue behind it there.
send(_Data, #state{port = undefined} = State) ->
    {error, State};
send(Data, #state{port = Port, backlog = 0} = State) ->
    write_now(Port, packets(Data), State);
send(Data, #state{port = Port} = State) ->
    {ok, hand_over(Port, packets(Data), State)}.

%% send/2 when what happens to the packet changes nothing here (the worker, if
%% it is gone, is replaced and the packet meant nothing to the new one).
send_any(Data, State) ->
    {_, Sent} = send(Data, State),
    Sent.

write_now(_Port, [], State) ->
    {ok, State};
write_now(Port, [Packet | Rest] = Packets, State) ->
    try port_command(Port, Packet, [nosuspend]) of
        true when Rest =:= [] ->
            {ok, State};
        true ->
            erlang:yield(),
            write_now(Port, Rest, State);
        false ->
            {ok, hand_over(Port, Packets, State)}
    catch
        error:badarg -> {error, State}
    end.

hand_over(Port, Packets, #state{writer = Writer0, backlog = N} = State) ->
    Writer = case Writer0 of
                 undefined ->
                     Owner = self(),
                     spawn_link(fun() -> writer(Owner) end);
                 _ ->
                     Writer0
             end,
    Writer ! {py_write, Port, Packets},
    State#state{writer = Writer, backlog = N + 1}.

%% Writes for its owner, waiting on the port as long as it takes. A closed
%% port (the worker died, or was killed) fails the write; the packets were for
%% that worker only.
writer(Owner) ->
    receive
        {py_write, Port, Packets} ->
            _ = (catch lists:foreach(fun(P) -> true = port_command(Port, P) end, Packets)),
            Owner ! {py_written, self()},
            writer(Owner)
    end.

%% A packet of more than ?WHOLE bytes goes out in pieces of ?PIECE (kinds 9
%% and 10, docs/worker-protocol.md). The port copies what it is given on the
%% scheduler of the process that gives it (it flattens the iolist, then queues
%% what the pipe does not take): 2-20 ms for a 21 MB job here, which held a
%% normal scheduler that long. One piece costs at most about a millisecond,
%% and the owner yields between pieces.
packets(Data) ->
    case iolist_size(Data) =< ?WHOLE of
        true -> [Data];
        false -> pieces(split(Data, ?PIECE))
    end.

pieces([Last]) -> [[?LAST_PIECE | Last]];
pieces([Piece | Rest]) -> [[?PIECE_KIND | Piece] | pieces(Rest)].

%% @private An iolist cut into iolists of Size bytes each (the last one
%% shorter), in order; binaries are shared (sub-binaries), never copied.
%% Exported for py_worker_tests.
-spec split(iodata(), pos_integer()) -> [iodata()].
split(Data, Size) when is_integer(Size), Size > 0 ->
    split([Data], Size, Size, [], []).

split([], _Size, _Left, [], Acc) ->
    lists:reverse(Acc);
split([], _Size, _Left, Cur, Acc) ->
    lists:reverse([lists:reverse(Cur) | Acc]);
split([Empty | T], Size, Left, Cur, Acc) when Empty =:= []; Empty =:= <<>> ->
    split(T, Size, Left, Cur, Acc);
split([[H | T1] | T], Size, Left, Cur, Acc) ->
    split([H, T1 | T], Size, Left, Cur, Acc);
split([B | T], Size, Left, Cur, Acc) when is_binary(B), byte_size(B) =< Left ->
    split(T, Size, Left - byte_size(B), [B | Cur], Acc);
split([B | T], Size, Left, Cur, Acc) when is_binary(B) ->
    <<Piece:Left/binary, Rest/binary>> = B,
    split([Rest | T], Size, Size, [], [lists:reverse([Piece | Cur]) | Acc]);
split([Byte | T], Size, Left, Cur, Acc) when is_integer(Byte) ->
    split([<<Byte>> | T], Size, Left, Cur, Acc).

%% Why the worker ended, from its exit status: 128 + N is signal N, as the
%% port reports a death by signal. A job that met MemoryError under max_memory
%% names the cap.
exit_reason(_Status, #state{killing = Killing}) when Killing =/= undefined ->
    Killing;
exit_reason(Status, #state{jobs = Jobs, opts = #{max_memory := Max}})
  when Max =/= undefined, Status =/= 0 ->
    case [J || #job{memory = true} = J <- maps:values(Jobs)] of
        [] -> signal_or_exit(Status);
        _ -> max_memory
    end;
exit_reason(Status, _State) ->
    signal_or_exit(Status).

signal_or_exit(Status) when Status > 128 -> {signal, Status - 128};
signal_or_exit(Status) -> {exit, Status}.

kill_worker(#state{os_pid = OsPid} = State, Reason) when OsPid > 0 ->
    _ = py_nif:kill_os_process(OsPid),
    State#state{killing = Reason};
kill_worker(State, _Reason) ->
    State.

%% Every caller with a job on the worker learns why it ended; a new worker
%% takes its place under the same owner.
worker_down(Reason, #state{jobs = Jobs, cancelled = Cancelled, gen = Gen, down = Down,
                           restarts = R, pool = Pool, index = I, load = Load} = State) ->
    maps:foreach(fun(_, #job{reply_to = To, monitor = MRef}) ->
                         erlang:demonitor(MRef, [flush]),
                         To ! {To, {error, {worker_down, Reason}}}
                 end, Jobs),
    maps:foreach(fun(_, TRef) -> erlang:cancel_timer(TRef) end, Cancelled),
    atomics:put(Load, I, 0),
    logger:warning("py: worker ~p of pool ~p went down (~0p); starting a new one",
                   [I, Pool, Reason], #{domain => [py]}),
    Next = State#state{port = undefined, os_pid = 0, jobs = #{}, callers = #{}, cancelled = #{},
                       killing = undefined, handles = 0, pieces = [], restarts = R + 1,
                       down = lists:sublist([{Gen, Reason} | Down], ?DOWN_KEPT)},
    case start_worker(Next) of
        {ok, Started} -> {noreply, Started};
        {error, Why} -> {stop, {worker_start_failed, Why}, Next}
    end.

%% @doc Stops a worker: end of input makes it exit; one stuck in C does not
%% read it, so it is killed as well.
-spec stop_port(port() | undefined, non_neg_integer()) -> ok.
stop_port(undefined, _OsPid) ->
    ok;
stop_port(Port, OsPid) ->
    catch port_close(Port),
    _ = OsPid > 0 andalso py_nif:kill_os_process(OsPid),
    ok.
