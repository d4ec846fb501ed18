%% @doc Receives what the NIF sends outside any job (Python log records,
%% `erlang.cast' calls and output written while no call was running) and the
%% output that workers make outside any job.
-module(py_server).
-behaviour(gen_server).

-export([start_link/0, console/2]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2]).

%% @doc Starts the server, registered as `py_server'.
-spec start_link() -> {ok, pid()} | {error, term()}.
start_link() ->
    gen_server:start_link({local, ?MODULE}, ?MODULE, [], []).

%% @private
-spec init([]) -> {ok, undefined}.
init([]) ->
    ok = py_nif:set_server(self()),
    {ok, undefined}.

%% @private
-spec handle_call(term(), gen_server:from(), State) ->
          {reply, {error, unknown_call}, State}.
handle_call(_Request, _From, State) ->
    {reply, {error, unknown_call}, State}.

%% @private
-spec handle_cast(term(), State) -> {noreply, State}.
handle_cast(_Msg, State) ->
    {noreply, State}.

%% @private
-spec handle_info(term(), State) -> {noreply, State}.
handle_info({py_log, Level, Source, Msg}, State) ->
    logger:log(Level, "~ts: ~ts", [Source, Msg], #{domain => [py]}),
    {noreply, State};
handle_info({py_cast, Call}, State) ->
    %% A cast must never block or crash the server; a failure is logged by
    %% the spawned process's crash report.
    _ = spawn(fun() -> py_exec:apply_call(Call) end),
    {noreply, State};
handle_info({py_console, Data, Worker}, State) ->
    console(Data),
    py_worker:output_ack(Worker, 0),
    {noreply, State};
handle_info({py_output, _Stream, Data}, State) ->
    %% Output outside any call has no caller: the VM's console is the best reader.
    %% Acknowledged once written, like a caller's (see py_exec).
    console(Data),
    lists:foreach(fun({_, More}) -> console(More) end, py_nif:server_output_ack()),
    {noreply, State};
handle_info(_Other, State) ->
    {noreply, State}.

%% @doc Writes output of a worker's Python that no caller waits for (another
%% Python thread's, or made between calls) where the VM's own goes, then acknowledges
%% it to the worker's owner `Worker'. Without a py server the output is dropped but
%% acknowledged: a worker never waits for a reader that is not there.
-spec console(binary(), pid()) -> ok.
console(Data, Worker) ->
    try
        ?MODULE ! {py_console, Data, Worker},
        ok
    catch
        error:badarg -> py_worker:output_ack(Worker, 0)
    end.

%% The console is the `user' device; a failed write must not take the server down.
console(Data) ->
    try
        io:put_chars(user, Data)
    catch
        _:_ -> ok
    end.
