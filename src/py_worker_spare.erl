%% @doc A pool's spare worker: one worker started ahead and kept ready, so that
%% a worker that dies is replaced in the time it takes to hand over a port, not
%% in the time Python takes to start (tens of milliseconds, more on a busy
%% machine). Taking the spare starts the next one.
-module(py_worker_spare).
-behaviour(gen_server).

-export([start_link/2, take/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-record(state, {pool :: atom(),
                opts :: py_worker:opts(),
                port :: port() | undefined,
                os_pid = 0 :: non_neg_integer()}).

%% A spare that failed to start is tried again after this long (ms), so a
%% broken venv does not make this process spin.
-define(RETRY, 1000).
%% How long a slot waits for the spare to hand over its port.
-define(TAKE_TIMEOUT, 1000).

%% @doc Starts the spare keeper of pool `Pool'.
-spec start_link(atom(), py_worker:opts()) -> {ok, pid()}.
start_link(Pool, Opts) ->
    gen_server:start_link(?MODULE, {Pool, Opts}, []).

%% @doc The spare's port, now linked to and read by the caller; `none' when no
%% spare is ready (the caller starts a worker itself).
-spec take(atom()) -> {ok, port(), pos_integer()} | none.
take(Pool) ->
    case persistent_term:get({?MODULE, Pool}, undefined) of
        undefined ->
            none;
        Keeper ->
            try
                gen_server:call(Keeper, take, ?TAKE_TIMEOUT)
            catch
                exit:_ -> none
            end
    end.

%% @private
-spec init({atom(), py_worker:opts()}) -> {ok, #state{}}.
init({Pool, Opts}) ->
    process_flag(trap_exit, true),
    persistent_term:put({?MODULE, Pool}, self()),
    %% Started after the slots' first workers, so it never slows the pool's start.
    self() ! fill,
    {ok, #state{pool = Pool, opts = Opts}}.

%% @private
-spec handle_call(term(), gen_server:from(), #state{}) -> {reply, term(), #state{}}.
handle_call(take, {From, _}, #state{port = Port, os_pid = OsPid} = State) when Port =/= undefined ->
    true = erlang:port_connect(Port, From),
    unlink(Port),
    self() ! fill,
    {reply, {ok, Port, OsPid}, State#state{port = undefined, os_pid = 0}};
handle_call(take, _From, State) ->
    {reply, none, State};
handle_call(_Request, _From, State) ->
    {reply, {error, unknown_call}, State}.

%% @private
-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(_Msg, State) ->
    {noreply, State}.

%% @private
-spec handle_info(term(), #state{}) -> {noreply, #state{}}.
handle_info(fill, #state{port = undefined, opts = Opts, pool = Pool} = State) ->
    case py_worker:spawn_worker(Opts) of
        {ok, Port, OsPid} ->
            {noreply, State#state{port = Port, os_pid = OsPid}};
        {error, Reason} ->
            logger:warning("py: the spare worker of pool ~p did not start (~0p)", [Pool, Reason],
                           #{domain => [py]}),
            erlang:send_after(?RETRY, self(), fill),
            {noreply, State}
    end;
handle_info({Port, {exit_status, _}}, #state{port = Port} = State) ->
    %% The spare died before it served (killed from outside): start another.
    erlang:send_after(?RETRY, self(), fill),
    {noreply, State#state{port = undefined, os_pid = 0}};
handle_info(_Other, State) ->
    {noreply, State}.

%% @private
-spec terminate(term(), #state{}) -> ok.
terminate(_Reason, #state{pool = Pool, port = Port, os_pid = OsPid}) ->
    _ = persistent_term:erase({?MODULE, Pool}),
    py_worker:stop_port(Port, OsPid).
