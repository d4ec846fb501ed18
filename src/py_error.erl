%% @doc The vocabulary of `py''s errors: every reason a call can give (as
%% `{error, Reason}', or raise from the functions that return values), in one
%% place. The NIF renders its own into these terms (`convert::reason' in
%% native/py_nif); `py', `py_exec' and the Elixir wrapper ask this module
%% instead of keeping lists of their own. docs/api.md ("Errors") explains each.
-module(py_error).

-export([is_reason/1, format/1]).

-export_type([reason/0, start_reason/0, path/0, worker_down/0]).

%% Why a worker ended: a signal (`{signal, 11}' for a segfault), its own exit
%% (`os._exit(1)'), its memory cap, the kill after a timeout's grace, a failed
%% start of its replacement, or its pool stopping.
-type worker_down() :: {signal, pos_integer()} | {exit, non_neg_integer()} | max_memory
                     | killed_after_timeout | stopped | gone | starting
                     | {exit_port, term()}.

%% Steps from the top of a value: 0-based positions, map keys, keyword names.
-type path() :: [non_neg_integer() | term()].
-type reason() ::
        %% Python raised: qualified class name, str(exc), formatted traceback lines.
        {python, Type :: binary(), Message :: binary(), Traceback :: [binary()]}
        %% Conversion.
      | {unsupported, path(), term()}
      | {too_deep, path()}
      | {too_large, path()}
      | {cycle, path()}
      | {key_collision, path(), Key :: term()}
      | {bad_kwargs, term()}
      | {bad_args, term()}
        %% A field of py:ndarray/1,2's map: shape, dtype or data, and why.
      | {bad_array, shape | dtype | data, Why :: binary()}
        %% Time and the interpreter.
      | timeout
      | cancelled
      | {busy, #{gil_stuck_ms := non_neg_integer()}}
      | {context_down, term()}
      | {python_init_failed, binary()}
      | {panic, binary()}
        %% Workers: the worker a call (or a handle) was on ended, and why.
      | {worker_down, worker_down()}
        %% A handle passed where its object is not (a context's handle to a
        %% worker, or a handle of another worker).
      | {wrong_place, term()}
        %% A worker's handle whose object the worker no longer has.
      | {no_handle, non_neg_integer()}
        %% The call itself.
      | not_started
      | {bad_option, term()}
      | {no_pool, atom()}
      | {no_context, {atom(), pos_integer()}}
      | {bad_target, term()}
      | {bad_job, term()}
      | {not_a_handle, term()}
      | not_owner
        %% This process's own namespace for a pool of another node was
        %% made on a pool that is gone (stopped, moved, its node down).
      | {namespace_lost, atom()}
        %% Other nodes.
      | {node_down, node()}
      | {erpc, term()}
      | {remote, error | exit | throw, term()}
      | {remote_handle, node()}.

%% Why `py' refused to start (application:ensure_all_started(py) gives it,
%% wrapped by OTP); `{python_init_failed, _}' too. docs/configuration.md.
-type start_reason() :: {bad_config, {atom(), term()}} | nif_not_loaded.

%% @doc Whether `Term' is one of py's error reasons. A misused argument of a
%% function that returns a value (`{bad_name, _}', `{bad_binding, _}', a
%% `badarg') is not: like any misuse of a function, it is the caller's bug.
%% `is_reason(timeout)' gives `true'.
-spec is_reason(term()) -> boolean().
is_reason({python, T, M, Tb}) -> is_binary(T) andalso is_binary(M) andalso is_list(Tb);
is_reason({unsupported, P, _}) -> is_list(P);
is_reason({too_deep, P}) -> is_list(P);
is_reason({too_large, P}) -> is_list(P);
is_reason({cycle, P}) -> is_list(P);
is_reason({key_collision, P, _}) -> is_list(P);
is_reason({bad_kwargs, _}) -> true;
is_reason({bad_args, _}) -> true;
is_reason({bad_array, K, W}) ->
    (K =:= shape orelse K =:= dtype orelse K =:= data) andalso is_binary(W);
is_reason(timeout) -> true;
is_reason(cancelled) -> true;
is_reason({busy, #{gil_stuck_ms := _}}) -> true;
is_reason({context_down, _}) -> true;
is_reason({python_init_failed, M}) -> is_binary(M);
is_reason({panic, M}) -> is_binary(M);
is_reason({worker_down, _}) -> true;
is_reason({wrong_place, _}) -> true;
is_reason({no_handle, Id}) -> is_integer(Id);
is_reason(not_started) -> true;
is_reason({bad_option, _}) -> true;
is_reason({no_pool, _}) -> true;
is_reason({no_context, _}) -> true;
is_reason({bad_target, _}) -> true;
is_reason({bad_job, _}) -> true;
is_reason({not_a_handle, _}) -> true;
is_reason(not_owner) -> true;
is_reason({namespace_lost, P}) -> is_atom(P);
is_reason({node_down, N}) -> is_atom(N);
is_reason({erpc, _}) -> true;
is_reason({remote, C, _}) -> C =:= error orelse C =:= exit orelse C =:= throw;
is_reason({remote_handle, N}) -> is_atom(N);
is_reason(_) -> false.

%% @doc A reason as text for a person: the Python type, message and traceback
%% for an exception, a sentence for the rest.
%% `format(timeout)' gives `<<"timeout: the deadline passed">>'.
-spec format(reason() | start_reason()) -> binary().
format({python, Type, Message, Traceback}) ->
    Head = [Type, ": ", Message],
    case Traceback of
        [] -> iolist_to_binary(Head);
        _ -> iolist_to_binary([Head, "\n\nPython traceback:\n", lists:join("\n", Traceback)])
    end;
format(Reason) ->
    unicode:characters_to_binary(describe(Reason)).

describe({unsupported, Path, Term}) -> io_lib:format("cannot convert ~0tp at ~0tp", [Term, Path]);
describe({too_deep, Path}) -> io_lib:format("nesting deeper than max_depth at ~0tp", [Path]);
describe({too_large, Path}) -> io_lib:format("more terms than max_terms at ~0tp", [Path]);
describe({cycle, Path}) -> io_lib:format("a cyclic structure at ~0tp", [Path]);
describe({key_collision, Path, Key}) ->
    io_lib:format("key ~0tp collides in Python with another key of the map at ~0tp", [Key, Path]);
describe({bad_args, A}) ->
    io_lib:format("the arguments must be a list, not ~0tp", [A]);
describe({bad_kwargs, Kw}) ->
    io_lib:format("keyword arguments must be a map or a list of pairs, not ~0tp", [Kw]);
describe({bad_array, Key, Why}) -> io_lib:format("bad array: ~0tp: ~ts", [Key, Why]);
describe(timeout) -> "timeout: the deadline passed";
describe(cancelled) -> "cancelled";
describe({busy, #{gil_stuck_ms := Ms}}) ->
    io_lib:format("refused: the GIL has not been released for ~b ms (C code holds it)", [Ms]);
describe({context_down, R}) -> io_lib:format("the Python context stopped: ~0tp", [R]);
describe({python_init_failed, M}) -> ["Python failed to start: ", M];
describe({panic, M}) -> ["internal error in the py NIF (please report it): ", M];
describe({worker_down, {signal, N}}) ->
    io_lib:format("the worker running the call died of signal ~b~ts", [N, signal_name(N)]);
describe({worker_down, {exit, N}}) ->
    io_lib:format("the worker running the call exited with status ~b", [N]);
describe({worker_down, max_memory}) ->
    "the worker running the call went over its max_memory and was replaced";
describe({worker_down, killed_after_timeout}) ->
    "the worker was killed: a call timed out and did not stop within kill_after";
describe({worker_down, R}) -> io_lib:format("the worker is down: ~0tp", [R]);
describe({wrong_place, H}) ->
    io_lib:format("handle ~0tp is not where this call runs (a context's handle "
                  "given to a worker, or one worker's handle to another)", [H]);
describe({no_handle, Id}) ->
    io_lib:format("the worker no longer has object ~b (its handle was released)", [Id]);
describe(not_started) ->
    "py is not started: call application:ensure_all_started(py) first "
    "(in Elixir, list :py in your application's dependencies)";
describe({bad_option, K}) -> io_lib:format("bad option: ~0tp", [K]);
describe({bad_config, {Key, Value}}) ->
    io_lib:format("bad value for the ~0tp setting of py: ~0tp; it takes ~ts",
                  [Key, Value, py_config:expected(Key)]);
describe(nif_not_loaded) ->
    "the py NIF (priv/py_nif.so) did not load; the log says why";
describe({no_pool, N}) -> io_lib:format("no pool named ~0tp is started", [N]);
describe({no_context, {N, I}}) -> io_lib:format("pool ~0tp has no context ~b", [N, I]);
describe({namespace_lost, Pool}) ->
    io_lib:format("this process's namespace for pool ~0tp was on a pool that is gone "
                  "(stopped, moved to another node, or its node went down); "
                  "the next eval or exec runs in a new one", [Pool]);
describe({node_down, Node}) ->
    io_lib:format("node ~0tp went down or cannot be reached", [Node]);
describe({remote_handle, Node}) ->
    io_lib:format("a handle made on ~0tp cannot be used on this node", [Node]);
describe(Reason) -> io_lib:format("~0tp", [Reason]).

signal_name(11) -> " (SIGSEGV: a segmentation fault)";
signal_name(6) -> " (SIGABRT: abort)";
signal_name(9) -> " (SIGKILL)";
signal_name(7) -> " (SIGBUS)";
signal_name(_) -> "".
