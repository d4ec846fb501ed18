%% @doc The one routing point: where a job runs (a pool, one context, a dirty
%% scheduler or another node), how its options are checked, and how the caller
%% waits for the result while serving callbacks and output.
-module(py_exec).

-export([idle/0, run/2, validate_opts/1, with_defaults/2, new_namespace/1, apply_call/1,
         async/2, await/1, cancel/1]).
-export([load_default_timeout/0, set_default_timeout/1, unload_default_timeout/0]).

-export_type([opts/0, on/0, request/0]).

-type on() :: default
            | atom()
            | {atom(), pos_integer()}
            | dirty
            | {node, node()}
            | {node, node(), atom() | {atom(), pos_integer()}}.
-type opts() :: #{timeout := timeout(), return := term | handle, none := undefined | nil,
                  on := on(), namespace => py_nif:handle()}.

%% A call started by async/2: only the process that started it may await it.
-record(py_request, {ref :: reference(),
                     job :: {py_nif:job_res() | worker_job(), term()},
                     deadline :: integer() | infinity,
                     owner :: pid()}).
-opaque request() :: #py_request{}.

%% A job on a worker or another node: its owner (a py_worker or py_import),
%% its id there and when it was submitted (ms).
-type worker_job() :: {py_wjob, pid(), pos_integer(), integer()}.

%% {JobRes, Where} of the job whose callback this process is running, so that
%% a call made from inside the callback runs on the context that waits for it.
-define(CALLBACK_KEY, '$py_callback_job').

%% Options in force for the calls this process makes without giving them
%% (with_defaults/2); not inside callbacks from Python, which run other code.
-define(DEFAULTS_KEY, '$py_defaults').

%% The namespace of this process's eval/exec calls that name none, made on its
%% first one: it goes when the process does (the handle is garbage then).
-define(NAMESPACE_KEY, '$py_namespace').

%% {?WRITER_KEY, Ref}: the process writing a call's output (see output/3).
-define(WRITER_KEY, '$py_writer').

%% The default timeout in force, kept as a persistent term: reading the
%% application env on every call costs more than the rest of the call's
%% Erlang side together.
-define(TIMEOUT_KEY, {?MODULE, default_timeout}).


%% @doc Runs a job where the options say and returns its result.
%% `py_exec:run({call, <<"math.pow">>, [2, 16], []}, #{})' gives `{ok, 65536.0}'.
-spec run(py_job:job(), map()) -> {ok, term()} | {error, py_error:reason()}.
run(Job, Opts) ->
    case py_job:check(Job) of
        ok -> with_hint(Job, run_job(Job, Opts));
        {error, _} = Error -> Error
    end.

run_job(Job, Opts) when map_size(Opts) =:= 0 ->
    case get(?DEFAULTS_KEY) of
        undefined ->
            %% The common case, on every call: the default timeout is looked up
            %% only if the call has to wait for its result.
            route(default, Job, #{timeout => default, return => term, none => undefined,
                                  on => default});
        _ ->
            run_checked(Job, Opts)
    end;
run_job(Job, Opts) ->
    run_checked(Job, Opts).

%% A TypeError from a call that was given a string as a charlist (`"HOME"'):
%% the usual first mistake, so the message says what to pass instead.
with_hint(Job, {error, {python, <<"builtins.TypeError">> = Type, Msg, Tb}} = Error) ->
    case [A || A <- py_job:args(Job), py_lib:is_text(A)] of
        [] ->
            Error;
        [Text | _] ->
            Hint = io_lib:format("~ts~nhint: ~tp is a charlist, a list of integers in Python; "
                                 "pass ~tp or py:str(~tp)",
                                 [Msg, Text, unicode:characters_to_binary(Text), Text]),
            {error, {python, Type, unicode:characters_to_binary(Hint), Tb}}
    end;
with_hint(_Job, Result) ->
    Result.

run_checked(Job, Opts) ->
    case validate_opts(Opts) of
        {ok, #{on := On} = Normal} -> route(On, Job, Normal);
        {error, _} = Error -> Error
    end.

%% @doc Checks call options and fills in the defaults (those of with_defaults/2
%% first): the only place that knows them. `validate_opts(#{return => handle})'
%% gives `{ok, #{timeout => 5000, return => handle, none => undefined, on => default}}'.
-spec validate_opts(term()) -> {ok, opts()} | {error, {bad_option, term()}}.
validate_opts(Opts) when is_map(Opts) ->
    Given = case get(?DEFAULTS_KEY) of
                undefined -> Opts;
                Defaults -> maps:merge(Defaults, Opts)
            end,
    case check_opts(maps:to_list(Given), #{return => term, none => undefined, on => default}) of
        {ok, #{timeout := _}} = Ok ->
            Ok;
        {ok, Normal} ->
            case default_timeout() of
                {ok, T} -> {ok, Normal#{timeout => T}};
                {error, _} = Error -> Error
            end;
        {error, _} = Error ->
            Error
    end;
validate_opts(Opts) ->
    {error, {bad_option, Opts}}.

check_opts([], Acc) ->
    {ok, Acc};
check_opts([{timeout, T} | Rest], Acc)
  when T =:= infinity; is_integer(T), T >= 0 ->
    check_opts(Rest, Acc#{timeout => T});
check_opts([{return, R} | Rest], Acc) when R =:= term; R =:= handle ->
    check_opts(Rest, Acc#{return => R});
check_opts([{none, N} | Rest], Acc) when N =:= undefined; N =:= nil ->
    check_opts(Rest, Acc#{none => N});
check_opts([{namespace, Ns} | Rest], Acc) when is_reference(Ns) ->
    check_opts(Rest, Acc#{namespace => Ns});
check_opts([{on, On} | Rest], Acc) ->
    case valid_on(On) of
        true -> check_opts(Rest, Acc#{on => On});
        false -> {error, {bad_option, on}}
    end;
check_opts([{Key, _} | _], _Acc) ->
    {error, {bad_option, Key}}.

%% @doc Runs `Fun' with `Defaults' as the options of every py call in it that
%% does not give them itself, in this process. Blocks nest (the inner wins);
%% callbacks from Python run without them. The Elixir wrapper runs its calls
%% with `#{none => nil}' this way, so that results are converted for Elixir
%% once, in the NIF. `with_defaults(#{timeout => 100}, fun() -> py:func(...) end)'.
-spec with_defaults(map(), fun(() -> Result)) -> Result.
with_defaults(Defaults, Fun) when is_map(Defaults), is_function(Fun, 0) ->
    case check_opts(maps:to_list(Defaults), #{}) of
        {ok, _} -> ok;
        {error, Reason} -> error(Reason)
    end,
    Previous = get(?DEFAULTS_KEY),
    Merged = case Previous of
                 undefined -> Defaults;
                 _ -> maps:merge(Previous, Defaults)
             end,
    put(?DEFAULTS_KEY, Merged),
    try
        Fun()
    after
        restore(?DEFAULTS_KEY, Previous)
    end.

valid_on({node, Node}) when is_atom(Node) -> true;
valid_on({node, Node, On}) when is_atom(Node) -> On =/= dirty andalso valid_local_on(On);
valid_on(On) -> valid_local_on(On).

valid_local_on({Pool, N}) -> is_atom(Pool) andalso is_integer(N) andalso N > 0;
valid_local_on(Pool) -> is_atom(Pool).

%% @doc Applies `{M, F, Args}' or `{Fun, Args}' (a callback or a cast from
%% Python). `apply_call({lists, reverse, [[1, 2]]})' gives `[2, 1]'.
-spec apply_call({module() | binary(), atom() | binary(), list()} | {fun(), list()}) -> term().
apply_call({M, F, Args}) ->
    case {existing_atom(M), existing_atom(F)} of
        {Mod, Fun} when is_atom(Mod), is_atom(Fun) ->
            erlang:apply(Mod, Fun, Args);
        _ ->
            %% A name that is no atom yet names no loaded module or function:
            %% say so, rather than `badarg' from the atom conversion.
            error({undefined_function,
                   unicode:characters_to_binary(
                     io_lib:format("~ts:~ts/~b: no such module or function",
                                   [M, F, length(Args)]))})
    end;
apply_call({Fun, Args}) ->
    erlang:apply(Fun, Args).

%% Python may name a module with a str; only atoms that already exist are
%% accepted, so Python cannot fill the atom table.
existing_atom(A) when is_atom(A) -> A;
existing_atom(B) when is_binary(B) ->
    try
        binary_to_existing_atom(B, utf8)
    catch
        error:badarg -> B
    end;
existing_atom(Other) -> error({badarg, Other}).

%%% Routing

route(dirty, Job0, Opts) ->
    case proxy_of(Job0) of
        false -> route_dirty(Job0, Opts);
        %% A worker's handle decides where its call runs, `on => dirty' too.
        Owner -> call_worker({py_worker_owner, Owner}, dirty, Job0, Opts)
    end;
route({node, Node}, Job, Opts) ->
    route({node, Node, default}, Job, Opts);
route(On, Job, Opts) ->
    route_on(On, Job, Opts).

route_dirty(Job0, #{timeout := Timeout} = Opts) ->
    case namespaced(dirty, Job0, Opts) of
        {ok, Job} -> py_nif:call_dirty(Job, nif_return(Opts), Timeout);
        {error, _} = Error -> Error
    end.

route_on({node, Node, On}, Job, Opts) when Node =:= node() ->
    route(On, Job, Opts#{on := On});
route_on({node, Node, On}, Job0, Opts) ->
    %% Only a namespace named explicitly goes along (a proxy of that node's
    %% namespace): without one, the call gets a fresh namespace there.
    Job = case Opts of
              #{namespace := Ns} -> py_job:in_namespace(Job0, Ns);
              _ -> Job0
          end,
    call({py_remote, Node, On}, {node, Node, On}, Job, maps:remove(namespace, Opts));
route_on(On, Job0, Opts) ->
    case namespaced(On, Job0, Opts) of
        {ok, Job} -> forget_lost_namespace(On, Job0, Opts, route_local(On, Job, Opts));
        {error, _} = Error -> Error
    end.

route_local(On, Job, Opts) ->
    case remote_handle(Job) of
        false ->
            case where(On) of
                {ok, Place, Where} -> call(Place, Where, Job, Opts);
                {error, _} = Error -> Error
            end;
        Node ->
            {error, {remote_handle, Node}}
    end.

%% @doc Starts a job on a context and returns at once, for await/1 and cancel/1.
%% `{ok, R} = py_exec:async({call, <<"time.sleep">>, [1], []}, #{})'.
-spec async(py_job:job(), map()) -> {ok, request()} | {error, py_error:reason()}.
async(Job, Opts) ->
    case py_job:check(Job) =:= ok andalso validate_opts(Opts) of
        false -> py_job:check(Job);
        {ok, #{on := dirty}} -> {error, {bad_option, on}};
        {ok, #{on := {node, Node}} = Normal} -> start_remote(Node, default, Job, Normal);
        {ok, #{on := {node, Node, On}} = Normal} -> start_remote(Node, On, Job, Normal);
        {ok, #{on := On} = Normal} -> start(On, Job, Normal);
        {error, _} = Error -> Error
    end.

%% @doc Waits for a job started by async/2, serving its callbacks and output, until
%% its result, its deadline (`{error, timeout}') or a cancel (`{error, cancelled}').
%% Only the process that started it may await it.
-spec await(request()) -> {ok, term()} | {error, term()}.
await(#py_request{ref = Ref, job = Job, deadline = Deadline, owner = Owner}) when Owner =:= self() ->
    await(Ref, Job, Deadline);
await(#py_request{}) ->
    {error, not_owner}.

%% @doc Cancels a job started by async/2, from any process: running Python code is
%% interrupted and the job's await/1 returns `{error, cancelled}' (or the result, if
%% it was already on its way). Nothing else is ever delivered for it.
-spec cancel(request()) -> ok.
cancel(#py_request{job = {{py_wjob, WOwner, JobId, _}, _}}) ->
    %% The worker's owner sends the final `{error, cancelled}' if the result
    %% has not gone yet: it is the only sender, so exactly one final message.
    py_worker:cancel(WOwner, JobId, notify);
cancel(#py_request{ref = Ref, job = {JobRes, _}, owner = Owner}) ->
    case py_nif:cancel(JobRes) of
        ok ->
            %% The NIF will send nothing more: this is the job's one final message.
            Owner ! {Ref, {error, cancelled}},
            ok;
        sent ->
            ok
    end.

start_remote(Node, On, Job, Opts) when Node =:= node() ->
    start(On, Job, Opts#{on := On});
start_remote(Node, On, Job, Opts) ->
    start_worker({py_remote, Node, On}, {node, Node, On}, Job, Opts).

%% Where the job runs: during a callback, a call naming the same place (or none)
%% goes to the waiting context, the only one that can serve it without deadlock
%% when the pool has one context.
start(On, Job0, Opts) ->
    case namespaced(On, Job0, Opts) of
        {ok, Job} ->
            case where(On) of
                {ok, Place, Where} -> start(Place, Where, Job, Opts);
                {error, _} = Error -> Error
            end;
        {error, _} = Error ->
            Error
    end.

%% The job with its namespace: the one the options name, else, for eval and
%% exec, this process's own (made on its first use, where the call goes).
namespaced(_On, Job, #{namespace := Ns}) ->
    {ok, py_job:in_namespace(Job, Ns)};
namespaced(On, Job, _Opts) ->
    case py_job:uses_namespace(Job) of
        false ->
            {ok, Job};
        true ->
            case own_namespace(On) of
                {ok, Ns} -> {ok, py_job:in_namespace(Job, Ns)};
                {error, _} = Error -> Error
            end
    end.

own_namespace(On) ->
    case namespace_key(On) of
        {remote, Key, Pool} ->
            case get(Key) of
                undefined ->
                    new_remote_namespace(Key, Pool, On);
                {Ns, Member} ->
                    %% Made on a pool that is gone (stopped, moved, its node
                    %% down): said once, then a new one.
                    case py_cluster:member(Pool, node(Member)) =:= Member of
                        true ->
                            {ok, Ns};
                        false ->
                            erase(Key),
                            {error, {namespace_lost, Pool}}
                    end
            end;
        Key ->
            case get(Key) of
                undefined ->
                    case new_namespace(On) of
                        {ok, Ns} = Ok ->
                            put(Key, Ns),
                            Ok;
                        {error, _} = Error ->
                            Error
                    end;
                Ns ->
                    {ok, Ns}
            end
    end.

%% A namespace on one of the nodes that have the pool, kept with the pool's
%% process there (py_cluster:member/2). Its calls go to that node: the handle
%% decides where they run.
new_remote_namespace(Key, Pool, On) ->
    case py_cluster:remote_pool(Pool) of
        {ok, Node} ->
            case {py_cluster:member(Pool, Node), new_namespace({node, Node, On})} of
                {Member, {ok, Ns} = Ok} when is_pid(Member) ->
                    put(Key, {Ns, Member}),
                    Ok;
                {none, {ok, _}} ->
                    %% Stopped there meanwhile.
                    {error, {namespace_lost, Pool}};
                {_, {error, _} = Error} ->
                    Error
            end;
        none ->
            {error, {no_pool, Pool}}
    end.

%% A process has one namespace for all contexts (a context's namespace can be
%% used from any context of the VM), one per worker pool (a worker's objects
%% live in that worker), and one per pool of another node.
namespace_key(On) ->
    Pool = case On of
               {Name, _} -> Name;
               Name -> Name
           end,
    case is_atom(Pool) andalso Pool =/= dirty andalso py_pool:lookup(Pool) of
        {py_workers, _, _, _, _, _} -> {?NAMESPACE_KEY, Pool};
        undefined -> {remote, {?NAMESPACE_KEY, Pool}, Pool};
        _ -> ?NAMESPACE_KEY
    end.

%% A call in this process's own namespace that failed because the namespace's
%% place is gone (its worker died, its node went down): the namespace went
%% with it, and the next call gets a new one.
forget_lost_namespace(On, Job0, Opts, {error, {Down, _}} = Error)
  when Down =:= worker_down; Down =:= node_down ->
    case not is_map_key(namespace, Opts) andalso py_job:uses_namespace(Job0) of
        true ->
            _ = case namespace_key(On) of
                    {remote, Key, _} -> erase(Key);
                    ?NAMESPACE_KEY -> ok;
                    Key -> erase(Key)
                end,
            Error;
        false ->
            Error
    end;
forget_lost_namespace(_On, _Job0, _Opts, Result) ->
    Result.

%% @doc A new namespace (globals for eval/exec, a dict) where `On' says: a
%% handle, so the calls that name it run where it lives.
-spec new_namespace(on()) -> {ok, py_nif:handle()} | {error, py_error:reason()}.
new_namespace(dirty) ->
    py_nif:call_dirty(py_job:namespace(), handle, infinity);
new_namespace(On) ->
    case default_timeout() of
        {ok, T} ->
            route(On, py_job:namespace(),
                  #{timeout => T, return => handle, none => undefined, on => On});
        {error, _} = Error ->
            Error
    end.

where(On) ->
    case get(?CALLBACK_KEY) of
        {JobRes, Where} when On =:= default; On =:= Where -> {ok, JobRes, Where};
        {JobRes, {On, _} = Where} -> {ok, JobRes, Where};
        _ -> local(On)
    end.

%% Where: the pool or context the caller asked for, remembered while the
%% job's callbacks run so that a nested call naming the same place runs on
%% the waiting context (the only one that can serve it without deadlock
%% when the pool has one context).
local({Name, N} = Where) ->
    case py_pool:lookup(Name) of
        {py_workers, _, _, _, _, _} = Workers ->
            case py_worker_pool:owner(Workers, N) of
                {ok, Owner} -> {ok, {py_worker_owner, Owner}, Where};
                {error, _} = Error -> Error
            end;
        undefined ->
            case whereis(py_sup) =/= undefined andalso py_cluster:remote_pool(Name) of
                {ok, Node} -> {ok, {py_remote, Node, Where}, Where};
                _ -> local_context(Name, N, Where)
            end;
        _ ->
            local_context(Name, N, Where)
    end;
local(Name) ->
    case py_pool:lookup(Name) of
        undefined ->
            %% No pool of that name here: one on another node of the cluster.
            case whereis(py_sup) =/= undefined andalso py_cluster:remote_pool(Name) of
                {ok, Node} -> {ok, {py_remote, Node, Name}, Name};
                _ -> not_started({error, {no_pool, Name}})
            end;
        Pool ->
            {ok, Pool, Name}
    end.

local_context(Name, N, Where) ->
    case py_pool:context(Name, N) of
        {ok, Ctx} -> {ok, Ctx, Where};
        {error, {no_pool, _}} = Error -> not_started(Error);
        {error, _} = Error -> Error
    end.

%% Only on a miss: is it that no pool of that name runs, or that py does not?
%% (`{no_pool, default}' sent people looking for a pool they never named.)
not_started(NoPool) ->
    case whereis(py_sup) of
        undefined -> {error, not_started};
        _ -> NoPool
    end.

%% A handle is only meaningful on the node that made it, and it cannot even be
%% sent back there: OTP turns a NIF resource that leaves its node into a plain
%% reference. A call on one is refused plainly rather than run on a dead reference.
remote_handle(Job) ->
    case py_job:object(Job) of
        Obj when is_reference(Obj), node(Obj) =/= node() -> node(Obj);
        _ -> false
    end.


%%% The context path

%% A call whose caller waits at once. When no other process waits to run
%% (idle/0), py_nif:call/4 answers a short job on a free context by returning
%% its final message, so the call never waits in `receive'; otherwise, or with
%% a zero timeout, the job is submitted and its reply comes by message. The
%% deadline counts from the submission.
call(Place, Where, Job, Opts) when is_tuple(Place) ->
    %% A context's handle as the target goes to its context, whatever pool was asked.
    case py_nif:is_handle(py_job:object(Job)) andalso py_pool:lookup(default) of
        Ctx when Ctx =/= false, Ctx =/= undefined -> call_context(Ctx, Where, Job, Opts);
        _ -> call_worker(Place, Where, Job, Opts)
    end;
call(Place, Where, Job, Opts) ->
    case proxy_of(Job) of
        false -> call_context(Place, Where, Job, Opts);
        Owner -> call_worker({py_worker_owner, Owner}, Where, Job, Opts)
    end.

call_context(Place, Where, Job, #{timeout := Timeout} = Opts) ->
    Return = nif_return(Opts),
    Ref = make_ref(),
    Idle = Timeout =/= 0 andalso idle(),
    First = case Idle of
                true -> py_nif:call(Place, Ref, Job, Return);
                false -> py_nif:submit(Place, Ref, Job, Return)
            end,
    Submitted = case First of
                    too_large -> py_nif:submit_large(Place, Ref, Job, Return);
                    Other -> Other
                end,
    case Submitted of
        {Ref, Result} ->
            Result;
        {ok, JobRes} ->
            %% Other processes wait to run: they run first, while the context
            %% works. A short job has then often answered by the time this
            %% process runs again, and the receive finds the reply without
            %% setting a timer and suspending, and the reply without waking
            %% a process (together about a fifth of a call under load).
            Idle orelse erlang:yield(),
            case resolve_timeout(Timeout) of
                {ok, T} ->
                    await_first(Ref, {JobRes, Where}, T);
                {error, _} = Error ->
                    abandon(Ref, JobRes),
                    Error
            end;
        {error, _} = Error ->
            Error
    end.

%%% The worker path (docs/worker-protocol.md)

%% A job on a worker. It is written out here, in the caller, so that the
%% worker's owner only passes bytes along; the reply comes to an alias of the
%% caller, so that nothing of a job given up can reach its mailbox later.
call_worker(Place, Where, Job, #{timeout := Timeout} = Opts) ->
    case submit_worker(Place, Job, Opts) of
        {ok, Alias, JobRes} ->
            case resolve_timeout(Timeout) of
                {ok, T} ->
                    await_first(Alias, {JobRes, Where}, T);
                {error, _} = Error ->
                    abandon(Alias, JobRes),
                    Error
            end;
        {error, _} = Error ->
            Error
    end.

submit_worker(Place, Job, Opts) ->
    case write_job(Job) of
        {ok, Etf, Affinity} ->
            JobId = erlang:unique_integer([positive]),
            Return = worker_return(Opts),
            case worker_target(Place, Affinity) of
                {ok, Owner, Parent, Gen} ->
                    %% The alias is a monitor of the owner: if it dies, the caller knows.
                    Alias = erlang:monitor(process, Owner, [{alias, explicit_unalias}]),
                    ok = py_worker:submit(Owner, Alias, JobId, Parent, Return, Gen, Etf),
                    {ok, Alias, {py_wjob, Owner, JobId, erlang:monotonic_time(millisecond)}};
                {remote, Importer, On} ->
                    Alias = alias(),
                    ok = py_import:submit(Importer, Alias, JobId, Return, Etf, On),
                    {ok, Alias, {py_wjob, Importer, JobId, erlang:monotonic_time(millisecond)}};
                {error, _} = Error ->
                    Error
            end;
        {error, _} = Error ->
            Error
    end.

%% `{self(), Job}' in the external format, with its handles and markers
%% written as the protocol says; big jobs are written on a dirty scheduler.
write_job(Job) ->
    Term = {self(), Job},
    case py_worker:marker() of
        undefined ->
            %% Made when py starts: workers and other nodes are reached through it.
            {error, not_started};
        Marker ->
            case py_nif:worker_write(Term, Marker) of
                too_large -> py_nif:worker_write_large(Term, Marker);
                Written -> Written
            end
    end.

%% The worker a job goes to: the one its proxy handles belong to, else the
%% one waiting for this process's callback (the job runs nested there), else
%% the place asked for.
worker_target({py_wjob, Owner, JobId, _}, {Owner, Gen}) -> {ok, Owner, JobId, Gen};
worker_target(_Place, {Owner, Gen}) -> {ok, Owner, 0, Gen};
worker_target({py_wjob, Owner, JobId, _}, none) -> {ok, Owner, JobId, none};
worker_target({py_worker_owner, Owner}, none) -> {ok, Owner, 0, none};
worker_target({py_remote, Node, On}, none) ->
    case py_import:for(Node) of
        {ok, Importer} -> {remote, Importer, On};
        {error, _} = Error -> Error
    end;
worker_target({py_workers, _, _, _, _, _} = Pool, none) ->
    case py_worker_pool:home(Pool) of
        {ok, Owner} -> {ok, Owner, 0, none};
        {error, _} = Error -> Error
    end.

worker_return(#{return := handle}) -> 2;
worker_return(#{none := nil}) -> 1;
worker_return(_) -> 0.

%% The worker whose proxy handle the job works on (or takes as its first
%% argument), or `false': such a job goes there, whatever place was asked.
proxy_of(Job) ->
    case py_job:object(Job) of
        Obj when is_reference(Obj) -> proxy_owner(Obj);
        _ ->
            case py_job:args(Job) of
                [First | _] when is_reference(First) -> proxy_owner(First);
                _ -> false
            end
    end.

proxy_owner(Ref) ->
    case py_nif:proxy_info(Ref) of
        {Owner, _Gen, _Id} -> Owner;
        false -> false
    end.

%% @doc Whether no process waits to run on any normal scheduler: then a caller
%% may wait for a short call inside the NIF (py_nif:call/4) instead of in
%% `receive', since its scheduler has nothing better to do. With other callers
%% their replies make them runnable, and the scheduler is better used running
%% them. A few nanoseconds: the run queue lengths are counters.
-spec idle() -> boolean().
idle() ->
    erlang:statistics(total_run_queue_lengths) =:= 0.

resolve_timeout(default) -> default_timeout();
resolve_timeout(T) -> {ok, T}.

%% @doc Reads the default timeout from the application env (`call_timeout')
%% and puts it in force: when `py' starts and when a release changes its env.
-spec load_default_timeout() -> ok | {error, {bad_option, timeout}}.
load_default_timeout() ->
    case env_timeout() of
        {ok, T} -> set_default_timeout(T);
        {error, _} = Error -> Error
    end.

%% @doc Puts a default timeout in force, for the calls that give none.
%% `set_default_timeout(10000)' gives `ok'.
-spec set_default_timeout(timeout()) -> ok | {error, {bad_option, timeout}}.
set_default_timeout(T) when T =:= infinity; is_integer(T), T >= 0 ->
    case persistent_term:get(?TIMEOUT_KEY, undefined) of
        T -> ok;
        _ -> persistent_term:put(?TIMEOUT_KEY, T)
    end;
set_default_timeout(_) ->
    {error, {bad_option, timeout}}.

%% @doc Forgets the default timeout when `py' stops: until it starts again,
%% the application env is read directly.
-spec unload_default_timeout() -> ok.
unload_default_timeout() ->
    _ = persistent_term:erase(?TIMEOUT_KEY),
    ok.

default_timeout() ->
    case persistent_term:get(?TIMEOUT_KEY, undefined) of
        undefined -> env_timeout();
        T -> {ok, T}
    end.

%% The application env's timeout: the one place that reads and checks it.
env_timeout() ->
    case application:get_env(py, call_timeout, 5000) of
        T when T =:= infinity; is_integer(T), T >= 0 -> {ok, T};
        _ -> {error, {bad_option, timeout}}
    end.

%% The first wait takes the timeout as it is and reads no clock (a clock
%% reading costs more than the rest of the wait's set-up): the deadline of a
%% wait resumed after a callback or output is worked out only then, from the
%% time the NIF took at submission.
await_first(Ref, Job, Timeout) ->
    await(Ref, Job, {submitted, Timeout}, Timeout).

start(Place, Where, Job, Opts) when is_tuple(Place) ->
    start_worker(Place, Where, Job, Opts);
start(Place, Where, Job, Opts) ->
    case proxy_of(Job) of
        false -> start_context(Place, Where, Job, Opts);
        Owner -> start_worker({py_worker_owner, Owner}, Where, Job, Opts)
    end.

start_worker(Place, Where, Job, #{timeout := Timeout} = Opts) ->
    Deadline = deadline(Timeout),
    case submit_worker(Place, Job, Opts) of
        {ok, Alias, JobRes} ->
            {ok, #py_request{ref = Alias, job = {JobRes, Where}, deadline = Deadline,
                             owner = self()}};
        {error, _} = Error ->
            Error
    end.

start_context(Place, Where, Job, #{timeout := Timeout} = Opts) ->
    Return = nif_return(Opts),
    Deadline = deadline(Timeout),
    Ref = make_ref(),
    Submitted = case py_nif:submit(Place, Ref, Job, Return) of
                    too_large -> py_nif:submit_large(Place, Ref, Job, Return);
                    Other -> Other
                end,
    case Submitted of
        {ok, JobRes} ->
            {ok, #py_request{ref = Ref, job = {JobRes, Where}, deadline = Deadline, owner = self()}};
        {error, _} = Error ->
            Error
    end.

await(Ref, Job, Deadline) ->
    await(Ref, Job, Deadline, remaining(Deadline)).

await(Ref, {JobRes, _} = Job, Deadline, After) ->
    receive
        {Ref, {worker_result, HasHandles, Etf, Owner, Gen}} ->
            _ = unalias(Ref),
            _ = erlang:demonitor(Ref, [flush]),
            Result = py_worker:decode(Etf, HasHandles, Owner, Gen),
            written(Ref, Deadline, JobRes),
            Result;
        {Ref, {ok, _} = Ok} ->
            done(Ref, JobRes),
            written(Ref, Deadline, JobRes),
            Ok;
        {Ref, {error, _} = Error} ->
            done(Ref, JobRes),
            written(Ref, Deadline, JobRes),
            lost(Error, JobRes),
            Error;
        {Ref, {callback, Call}} ->
            Fixed = fix_deadline(Deadline, JobRes),
            callback(Job, Call),
            await(Ref, Job, Fixed);
        {Ref, {output, _Stream, Data}} ->
            Fixed = fix_deadline(Deadline, JobRes),
            output(Ref, JobRes, Data),
            await(Ref, Job, Fixed);
        {'DOWN', Ref, process, _, Reason} ->
            _ = unalias(Ref),
            stop_writer(Ref),
            Error = {error, {worker_down, {owner_down, Reason}}},
            lost(Error, JobRes),
            Error
    after After ->
            abandon(Ref, JobRes),
            {error, timeout}
    end.

%% A worker that went down took its objects with it, this process's own
%% namespace there too (eval and exec without `namespace'). The call that met
%% the loss says `{worker_down, R}'; the next one gets a new namespace instead
%% of the same error for ever. Only a namespace of an ended generation is
%% forgotten: the owner starts the new worker before it answers anything else.
lost({error, {worker_down, _}}, {py_wjob, Owner, _, _}) ->
    %% This process's namespaces on that worker, with their generations.
    Mine = [{Key, Gen} || {?NAMESPACE_KEY, _} = Key <- get_keys(),
                          {O, Gen, _Id} <- [py_nif:proxy_info(get(Key))], O =:= Owner],
    case Mine of
        [] ->
            ok;
        _ ->
            Current = try py_worker:info(Owner) of
                          #{generation := G} -> G
                      catch
                          exit:_ -> gone
                      end,
            _ = [erase(Key) || {Key, Gen} <- Mine, Gen =/= Current],
            ok
    end;
lost(_Error, _JobRes) ->
    ok.

%% A worker job's alias goes with its final message.
done(Ref, {py_wjob, _, _, _}) -> _ = unalias(Ref), _ = erlang:demonitor(Ref, [flush]), ok;
done(_Ref, _JobRes) -> ok.

%% The caller gives up on a job: nothing of it may be left in the mailbox.
abandon(Ref, {py_wjob, Owner, JobId, _} = JobRes) ->
    %% Nothing sent to the alias arrives once it is gone; what arrived is flushed.
    _ = unalias(Ref),
    _ = erlang:demonitor(Ref, [flush]),
    py_worker:cancel(Owner, JobId, silent),
    flush(Ref, JobRes),
    stop_writer(Ref);
abandon(Ref, JobRes) ->
    case py_nif:cancel(JobRes) of
        ok -> flush(Ref, JobRes);
        sent -> drain(Ref, JobRes)
    end,
    stop_writer(Ref).

%% cancel/1 said `sent': the final reply is coming and must not be left behind.
drain(Ref, JobRes) ->
    receive
        {Ref, {ok, _}} ->
            flush(Ref, JobRes);
        {Ref, {error, _}} ->
            flush(Ref, JobRes);
        {Ref, {callback, _}} ->
            refuse_callback(JobRes),
            drain(Ref, JobRes);
        {Ref, {output, _Stream, Data}} ->
            output(Ref, JobRes, Data),
            drain(Ref, JobRes)
    end.

%% Whatever the cancelled job sent before it stopped.
flush(Ref, JobRes) ->
    receive
        {Ref, {callback, _}} ->
            refuse_callback(JobRes),
            flush(Ref, JobRes);

        {Ref, {output, _Stream, Data}} ->
            output(Ref, JobRes, Data),
            flush(Ref, JobRes);
        {Ref, _} ->
            flush(Ref, JobRes)
    after 0 ->
            ok
    end.

%% A callback that arrives after the deadline is answered with an error, so a
%% Python thread waiting for it is never left hanging.
refuse_callback(JobRes) ->
    ok = callback_reply(JobRes, {error, {exit, timeout, []}}).

callback({JobRes, _Where} = Job, Call) ->
    Previous = put(?CALLBACK_KEY, Job),
    %% The callback is other code: the caller's with_defaults/2 is not its own.
    Defaults = erase(?DEFAULTS_KEY),
    Reply = try
                {ok, apply_call(Call)}
            catch
                Class:Reason:Stack -> {error, {Class, Reason, Stack}}
            after
                %% Callbacks nest: an outer callback's job must be current again.
                restore(?CALLBACK_KEY, Previous),
                restore(?DEFAULTS_KEY, Defaults)
            end,
    ok = callback_reply(JobRes, Reply).

callback_reply({py_wjob, Owner, JobId, _}, Reply) -> py_worker:callback_reply(Owner, JobId, Reply);
callback_reply(JobRes, Reply) -> py_nif:callback_reply(JobRes, Reply).

restore(Key, undefined) -> _ = erase(Key), ok;
restore(Key, Value) -> _ = put(Key, Value), ok.

%% What the NIF converts the result to: a handle, or a term whose None is
%% `undefined' or (for Elixir) `nil'.
nif_return(#{return := handle}) -> handle;
nif_return(#{none := nil}) -> term_nil;
nif_return(_) -> term.

%% Output goes to the caller's group leader, so it shows where the call was
%% typed, a remote shell included. A writer of the call's own writes it (started
%% on the first output): a group leader that does not answer then holds the
%% writer, never the caller past its deadline. Each message is acknowledged once
%% written: the job has only a few unread, and what it wrote meanwhile comes back
%% with the acknowledgement (py_nif:output_ack/1), so a loop of prints cannot
%% fill a mailbox faster than the group leader writes.
output(Ref, JobRes, Data) ->
    Key = {?WRITER_KEY, Ref},
    Writer = case get(Key) of
                 undefined -> start_writer(Key, JobRes);
                 W -> W
             end,
    Writer ! {write, Data},
    ok.

start_writer(Key, JobRes) ->
    Caller = self(),
    Writer = spawn(fun() -> writer(Caller, JobRes) end),
    %% Set before the first write reaches it: the caller's shell is its reader.
    true = group_leader(group_leader(), Writer),
    put(Key, Writer),
    Writer.

writer(Caller, JobRes) ->
    MRef = erlang:monitor(process, Caller),
    writer_loop(MRef, JobRes).

writer_loop(MRef, JobRes) ->
    receive
        {write, Data} ->
            put_chars(Data),
            lists:foreach(fun({_, More}) -> put_chars(More) end, output_ack(JobRes)),
            writer_loop(MRef, JobRes);
        {done, From, Ref} ->
            From ! {Ref, written};
        {'DOWN', MRef, process, _, _} ->
            ok
    end.

output_ack({py_wjob, Owner, JobId, _}) ->
    %% The worker keeps what was written meanwhile and sends it on this ack.
    ok = py_worker:output_ack(Owner, JobId),
    [];
output_ack(JobRes) ->
    py_nif:output_ack(JobRes).

%% The call has its result: its output is written first (so it shows before
%% what the caller prints next), within the call's deadline.
written(Ref, Deadline, JobRes) ->
    case get({?WRITER_KEY, Ref}) of
        undefined ->
            ok;
        Writer ->
            Writer ! {done, self(), Ref},
            receive
                {Ref, written} -> _ = erase({?WRITER_KEY, Ref}), ok
            after remaining(fix_deadline(Deadline, JobRes)) ->
                stop_writer(Ref)
            end
    end.

%% The writer goes (its group leader did not answer in time, or the call was
%% given up); nothing of it is left in the mailbox.
stop_writer(Ref) ->
    case erase({?WRITER_KEY, Ref}) of
        undefined ->
            ok;
        Writer ->
            MRef = erlang:monitor(process, Writer),
            exit(Writer, kill),
            receive {'DOWN', MRef, process, _, _} -> ok end,
            receive {Ref, written} -> ok after 0 -> ok end
    end.

%% Python output to the group leader; a dead or refusing group
%% leader must not make the call fail.
put_chars(Data) ->
    try
        io:put_chars(Data)
    catch
        _:_ -> ok
    end.

fix_deadline({submitted, Timeout}, JobRes) ->
    deadline(erlang:monotonic_time(millisecond) - elapsed(JobRes), Timeout);
fix_deadline(Deadline, _JobRes) ->
    Deadline.

elapsed({py_wjob, _, _, Submitted}) -> erlang:monotonic_time(millisecond) - Submitted;
elapsed(JobRes) -> py_nif:elapsed(JobRes).

deadline(infinity) -> infinity;
deadline(Timeout) -> deadline(erlang:monotonic_time(millisecond), Timeout).

deadline(_Start, infinity) -> infinity;
deadline(Start, Timeout) -> Start + Timeout.

remaining(infinity) -> infinity;
remaining(Deadline) -> max(0, Deadline - erlang:monotonic_time(millisecond)).
