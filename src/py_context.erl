%% @doc The owner of one context (a NIF thread with its own Python thread state
%% and globals).
%%
%% The NIF monitors this process: when it stops, the context stops. When the
%% context's thread dies (a bug in the NIF: a job's own panic is caught and
%% reported to its caller), this process puts a new context in the same pool
%% slot itself, without stopping: no number of such deaths can exhaust the
%% supervisors' restart intensity and stop `py'.
-module(py_context).
-behaviour(gen_server).

-export([start_link/2, ctx/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-record(state, {ctx :: py_nif:ctx(), pool :: py_nif:pool(), index :: non_neg_integer()}).

%% @doc Starts a context for slot `Index' (0-based) of `Pool'.
-spec start_link(py_nif:pool(), non_neg_integer()) -> {ok, pid()} | {error, term()}.
start_link(Pool, Index) ->
    gen_server:start_link(?MODULE, {Pool, Index}, []).

%% @doc The context resource owned by a `py_context' process.
-spec ctx(pid()) -> py_nif:ctx().
ctx(Owner) ->
    gen_server:call(Owner, ctx).

%% @private
-spec init({py_nif:pool(), non_neg_integer()}) ->
          {ok, #state{}} | {stop, {context_new_failed, term()}}.
init({Pool, Index}) ->
    %% terminate/2 must run on shutdown so that the thread is stopped at once.
    process_flag(trap_exit, true),
    case py_nif:context_new(self()) of
        {error, Reason} ->
            {stop, {context_new_failed, Reason}};
        Ctx ->
            ok = py_nif:pool_set(Pool, Index, Ctx),
            {ok, #state{ctx = Ctx, pool = Pool, index = Index}}
    end.

%% @private
-spec handle_call(term(), gen_server:from(), #state{}) ->
          {reply, py_nif:ctx() | {error, unknown_call}, #state{}}.
handle_call(ctx, _From, #state{ctx = Ctx} = State) ->
    {reply, Ctx, State};
handle_call(_Request, _From, State) ->
    {reply, {error, unknown_call}, State}.

%% @private
-spec handle_cast(term(), #state{}) -> {noreply, #state{}}.
handle_cast(_Msg, State) ->
    {noreply, State}.

%% @private
-spec handle_info(term(), #state{}) ->
          {noreply, #state{}} | {stop, {context_down, term()}, #state{}}.
handle_info({py_context_down, Ctx, Reason}, #state{ctx = Ctx, pool = Pool, index = Index} = State) ->
    logger:warning("py: context ~p of a pool died (~0p); starting a new one", [Index + 1, Reason],
                   #{domain => [py]}),
    case py_nif:context_new(self()) of
        {error, NewReason} ->
            {stop, {context_down, NewReason}, State};
        New ->
            ok = py_nif:pool_set(Pool, Index, New),
            {noreply, State#state{ctx = New}}
    end;
handle_info(_Other, State) ->
    {noreply, State}.

%% @private
-spec terminate(term(), #state{}) -> ok.
terminate(_Reason, #state{ctx = Ctx}) ->
    py_nif:context_stop(Ctx).
