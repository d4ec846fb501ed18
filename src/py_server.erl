%% @doc Receives what the NIF sends outside any job: Python log records,
%% `erlang.cast' calls and output written while no call was running.
-module(py_server).
-behaviour(gen_server).

-export([start_link/0]).
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
handle_info({py_output, _Stream, Data}, State) ->
    %% Output outside any call has no caller: the VM's console is the best reader.
    %% Acknowledged once written, like a caller's (see py_exec).
    write_user(Data),
    lists:foreach(fun({_, More}) -> write_user(More) end, py_nif:server_output_ack()),
    {noreply, State};
handle_info(_Other, State) ->
    {noreply, State}.

write_user(Data) ->
    try
        io:put_chars(user, Data)
    catch
        _:_ -> ok
    end.
