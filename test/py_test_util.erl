%% @doc Helpers shared by the Common Test suites: the codec corpus, paths,
%% mailbox checks, a capturing group leader and a logger handler that
%% forwards events to a test process.
-module(py_test_util).

-export([start/0, with_capture/1, with_console/1,
         corpus/0, from_python_corpus/0, runtime_corpus/0, expected/2,
         test_dir/0, corpus_dir/0, repo_root/0, add_corpus_path/0, add_python_path/1,
         raised/1, flush/0, assert_mailbox_empty/0, wait_until/2,
         start_capture/0, captured/1, stop_capture/1,
         add_log_forwarder/1, remove_log_forwarder/0, log/2, log_text/1, wait_log/1,
         crowd/2, start_distribution/1, peer_paths/0,
         contains/2, run/4, in_process/1,
         in_place/2, start_worker_group/3, stop_worker_group/1, is_handle/1,
         timing/1, answer_samples/0, same_answer/2]).

-type corpus_entry() :: {atom(), term(), binary(), term()}.
-export_type([corpus_entry/0]).

-define(LOG_HANDLER, py_test_forwarder).

%% @doc Starts the py application (and what it needs).
-spec start() -> ok.
start() ->
    {ok, _} = application:ensure_all_started(py),
    ok.

%% @doc The shared corpus: `{Name, Term, PyExpr, Back}' entries from
%% test/corpus/corpus.eterm.
-spec corpus() -> [corpus_entry()].
corpus() ->
    {ok, Entries} = file:consult(filename:join(corpus_dir(), "corpus.eterm")),
    Entries.

%% @doc Python-only samples: `{Name, PyExpr, Expected}' from
%% test/corpus/from_python.eterm.
-spec from_python_corpus() -> [{atom(), binary(), term()}].
from_python_corpus() ->
    {ok, Entries} = file:consult(filename:join(corpus_dir(), "from_python.eterm")),
    Entries.

%% @doc Values that cannot be written in a consult file (pids, references,
%% ports, funs), in the corpus shape `{Name, Term, PyPredicate, Back}'.
%% PyPredicate is a Python expression over the converted value `v' (and
%% `erlang', `math') that must be true.
-spec runtime_corpus() -> [corpus_entry()].
runtime_corpus() ->
    Pid = self(),
    Ref = make_ref(),
    Port = hd(erlang:ports()),
    Fun = fun(X) -> X + 1 end,
    Ext = fun lists:reverse/1,
    Remote = list_to_pid("<0.1.0>"),
    [{pid_self, Pid, <<"isinstance(v, erlang.Pid) and v == v and hash(v) == hash(v)">>, same},
     {pid_other, Remote, <<"isinstance(v, erlang.Pid)">>, same},
     {ref, Ref, <<"isinstance(v, erlang.Ref) and v == v">>, same},
     {port, Port, <<"isinstance(v, erlang.Port)">>, same},
     {fun_local, Fun, <<"isinstance(v, erlang.Fun)">>, same},
     {fun_external, Ext, <<"isinstance(v, erlang.Fun)">>, same},
     {pid_list_distinct, [Pid, Remote],
      <<"v[0] != v[1] and isinstance(v[1], erlang.Pid)">>, same},
     {pid_key, #{Pid => Ref},
      <<"isinstance(list(v)[0], erlang.Pid) and isinstance(list(v.values())[0], erlang.Ref)">>,
      same},
     {mixed_opaque, {Pid, Ref, Port, Fun, [Ext]},
      <<"[type(x).__name__ for x in v[:4]] == ['Pid', 'Ref', 'Port', 'Fun']">>, same},
     {pid_as_set_member, [Pid, Pid],
      <<"len(set(v)) == 1">>, same}].

%% @doc What an entry's Term is expected to come back as.
-spec expected(term(), term()) -> term().
expected(Term, same) -> Term;
expected(_Term, Back) -> Back.

%% @doc The test directory of the source tree (where this module's source is).
-spec test_dir() -> file:filename().
test_dir() ->
    Source = proplists:get_value(source, ?MODULE:module_info(compile)),
    Dir = filename:dirname(Source),
    case filelib:is_dir(filename:join(Dir, "corpus")) of
        true -> Dir;
        false -> error({test_dir_not_found, Source})
    end.

%% @doc The corpus directory.
-spec corpus_dir() -> file:filename().
corpus_dir() ->
    filename:join(test_dir(), "corpus").

%% @doc The repository root (physical path, symlinks resolved).
-spec repo_root() -> file:filename().
repo_root() ->
    Root = filename:dirname(test_dir()),
    Marks = ["rebar.config", "native", "src", "scripts/build-native.sh"],
    case lists:all(fun(M) -> filelib:is_file(filename:join(Root, M)) end, Marks) of
        true -> resolve(Root);
        false -> error({repo_root_not_found, Root})
    end.

%% Symlinks are resolved so that a _checkouts link points at the real tree.
resolve(Dir) ->
    string:trim(os:cmd("cd '" ++ Dir ++ "' && pwd -P")).

%% @doc Puts test/corpus on Python's `sys.path' (process-wide, so every
%% context sees it) for `corpus_check'.
-spec add_corpus_path() -> ok.
add_corpus_path() ->
    add_python_path(corpus_dir()).

%% @doc Puts a directory at the front of Python's `sys.path' (shared by every
%% context), once.
-spec add_python_path(file:filename_all()) -> ok.
add_python_path(Dir) ->
    Code = <<"import sys\n"
             "if d not in sys.path:\n"
             "    sys.path.insert(0, d)\n">>,
    ok = py:exec(Code, #{d => unicode:characters_to_binary(Dir)}).

%% @doc Runs Fun and returns the reason of the error it raises; fails the
%% test when it returns or raises anything else.
-spec raised(fun(() -> term())) -> term().
raised(Fun) ->
    try Fun() of
        Value -> ct:fail({expected_error, {returned, Value}})
    catch
        error:Reason -> Reason
    end.

%% @doc Every message in the mailbox (removing them).
-spec flush() -> [term()].
flush() ->
    receive Msg -> [Msg | flush()]
    after 0 -> []
    end.

%% @doc Fails the test when a stray message is in the mailbox.
-spec assert_mailbox_empty() -> ok.
assert_mailbox_empty() ->
    case flush() of
        [] -> ok;
        Msgs -> ct:fail({stray_messages, Msgs})
    end.

%% @doc Runs a case that measures time once more when it misses its limit (a
%% `badmatch'): on this 2-core machine a burst of other work can starve every
%% thread for a moment. Two misses in a row fail.
-spec timing(fun(() -> T)) -> T.
timing(Case) ->
    try
        Case()
    catch
        error:{badmatch, _} = Reason:Stack ->
            ct:log("missed once (~p at ~p); measuring again", [Reason, hd(Stack)]),
            Case()
    end.

%% @doc Calls `{Target, Args, Kwargs}' whose answers (values and Python errors)
%% must be the same wherever Python runs: for comparing two places call for call.
-spec answer_samples() -> [{term(), list(), py:kwargs()}].
answer_samples() ->
    [{{operator, add}, [1, 2], []},
     {'math.pow', [2, 16], []},
     {'builtins.sorted', [[3, 1, 2]], []},
     {'builtins.int', [<<"ff">>], [{base, 16}]},
     {'json.dumps', [#{a => [1, 2.5, undefined]}], #{sort_keys => true}},
     {'builtins.divmod', [7, 2], []},
     {'builtins.pow', [6, 42], []},
     {'builtins.list', [<<"h", 255>>], []},
     {'builtins.eval', [<<"{'a': (1, [2.5, None]), 3: b'x', (1, 2): {True}}">>], []},
     {'builtins.eval', [<<"[float('inf'), float('nan'), -0.0, 2**70]">>], []},
     {'builtins.str', [a], []},
     {'builtins.len', [lists:seq(1, 100000)], []},
     {'math.sqrt', [-1], []},
     {'no_such_module_xyz.f', [], []},
     {'builtins.int', [<<"x">>], []},
     {'json.loads', [<<"{">>], []}].

%% @doc Whether two places answered alike: the same value, or the same Python
%% exception (type, message and the traceback's last line).
-spec same_answer(term(), term()) -> boolean().
same_answer({ok, A}, {ok, B}) ->
    A =:= B;
same_answer({error, {python, T, M, TbA}}, {error, {python, T, M, TbB}}) ->
    lists:last([none | TbA]) =:= lists:last([none | TbB]);
same_answer(_, _) ->
    false.

%% @doc Polls Fun every 10 ms until it returns true, at most Timeout ms.
-spec wait_until(fun(() -> boolean()), non_neg_integer()) -> ok | timeout.
wait_until(Fun, Timeout) when Timeout =< 0 ->
    case Fun() of
        true -> ok;
        false -> timeout
    end;
wait_until(Fun, Timeout) ->
    case Fun() of
        true -> ok;
        false ->
            timer:sleep(10),
            wait_until(Fun, Timeout - 10)
    end.

%% @doc Starts a process that speaks the I/O protocol and keeps everything
%% written to it; use it as a group leader.
-spec start_capture() -> pid().
start_capture() ->
    spawn(fun() -> capture_loop([]) end).

%% @doc Everything written to a capture process so far, as one binary.
-spec captured(pid()) -> binary().
captured(Pid) ->
    Ref = make_ref(),
    Pid ! {captured, self(), Ref},
    receive {Ref, Bin} -> Bin
    after 5000 -> error(capture_not_answering)
    end.

%% @doc Runs `Fun' with a capture process as this process's group leader and
%% returns everything written meanwhile (print from Python included).
-spec with_capture(fun(() -> term())) -> binary().
with_capture(Fun) ->
    GL = start_capture(),
    Old = group_leader(),
    group_leader(GL, self()),
    try
        Fun()
    after
        group_leader(Old, self())
    end,
    Out = captured(GL),
    ok = stop_capture(GL),
    Out.

%% @doc Runs `Fun(Captured)' with a capture process registered as `user', the
%% VM's console, in place of the real one; `Captured()' is everything written
%% there so far. The real console is back when it returns or raises.
-spec with_console(fun((fun(() -> binary())) -> T)) -> T.
with_console(Fun) ->
    Cap = start_capture(),
    Console = whereis(user),
    true = unregister(user),
    true = register(user, Cap),
    try
        Fun(fun() -> captured(Cap) end)
    after
        true = unregister(user),
        true = register(user, Console),
        ok = stop_capture(Cap)
    end.

%% @doc Stops a capture process.
-spec stop_capture(pid()) -> ok.
stop_capture(Pid) ->
    exit(Pid, kill),
    ok.

capture_loop(Acc) ->
    receive
        {io_request, From, ReplyAs, Request} ->
            {Reply, Acc1} = io_request(Request, Acc),
            From ! {io_reply, ReplyAs, Reply},
            capture_loop(Acc1);
        {captured, From, Ref} ->
            From ! {Ref, unicode:characters_to_binary(lists:reverse(Acc))},
            capture_loop(Acc);
        _ ->
            capture_loop(Acc)
    end.

io_request({put_chars, Enc, Chars}, Acc) ->
    {ok, [unicode:characters_to_binary(Chars, Enc) | Acc]};
io_request({put_chars, Enc, M, F, A}, Acc) ->
    io_request({put_chars, Enc, apply(M, F, A)}, Acc);
io_request({put_chars, Chars}, Acc) ->
    io_request({put_chars, latin1, Chars}, Acc);
io_request({put_chars, M, F, A}, Acc) ->
    io_request({put_chars, latin1, M, F, A}, Acc);
io_request({requests, Reqs}, Acc) ->
    lists:foldl(fun(R, {_, A}) -> io_request(R, A) end, {ok, Acc}, Reqs);
io_request({get_geometry, _}, Acc) ->
    {{error, enotsup}, Acc};
io_request(getopts, Acc) ->
    {[{binary, false}, {encoding, unicode}], Acc};
io_request({setopts, _}, Acc) ->
    {ok, Acc};
io_request(_, Acc) ->
    {{error, request}, Acc}.

%% @doc Adds a logger handler that sends `{py_test_log, Level, Text}' to Pid
%% for every log event.
-spec add_log_forwarder(pid()) -> ok.
add_log_forwarder(Pid) ->
    _ = logger:remove_handler(?LOG_HANDLER),
    ok = logger:add_handler(?LOG_HANDLER, ?MODULE, #{level => all, config => #{pid => Pid}}).

%% @doc Removes the handler added by add_log_forwarder/1.
-spec remove_log_forwarder() -> ok.
remove_log_forwarder() ->
    _ = logger:remove_handler(?LOG_HANDLER),
    ok.

%% @doc logger handler callback.
-spec log(logger:log_event(), logger:handler_config()) -> ok.
log(#{level := Level} = Event, #{config := #{pid := Pid}}) ->
    Pid ! {py_test_log, Level, log_text(Event)},
    ok.

%% @doc `N' callers at once, `Caller(Parent, I)' each, one in ten killed mid-call
%% (a few ms apart). Each caller ends by sending `{caller, self(), Replies, Stray}'
%% to `Parent'. Gives each caller's outcome (`{done, I, Replies, Stray}', `killed',
%% `{no_report, I}', `{crashed, I, Reason}' or `{hung, I}') and the time in ms.
-spec crowd(pos_integer(), fun((pid(), pos_integer()) -> term())) -> {[term()], integer()}.
crowd(N, Caller) ->
    Self = self(),
    T0 = erlang:monotonic_time(millisecond),
    Callers = [begin
                   {Pid, Mon} = spawn_monitor(fun() -> Caller(Self, I) end),
                   {Pid, Mon, I}
               end || I <- lists:seq(1, N)],
    ToKill = [Pid || {Pid, _, I} <- Callers, I rem 10 =:= 3],
    Killer = spawn_link(fun() -> [begin timer:sleep(I rem 7), exit(P, kill) end
                                  || {P, I} <- lists:zip(ToKill, lists:seq(1, length(ToKill)))] end),
    Outcomes = [receive
                    {'DOWN', Mon, process, Pid, normal} ->
                        receive {caller, Pid, Rs, Stray} -> {done, I, Rs, Stray}
                        after 0 -> {no_report, I}
                        end;
                    {'DOWN', Mon, process, Pid, killed} ->
                        receive {caller, Pid, _, _} -> ok after 0 -> ok end,
                        killed;
                    {'DOWN', Mon, process, Pid, Other} ->
                        {crashed, I, Other}
                after 120000 ->
                        {hung, I}
                end || {Pid, Mon, I} <- Callers],
    unlink(Killer),
    {Outcomes, erlang:monotonic_time(millisecond) - T0}.

%% @doc Makes the CT node distributed as `Name' (and starts epmd), unless it is
%% already; `true' if it did, so the suite stops it again.
-spec start_distribution(atom()) -> boolean().
start_distribution(Name) ->
    case node() of
        nonode@nohost ->
            _ = os:cmd("epmd -daemon"),
            {ok, _} = net_kernel:start([Name, shortnames]),
            true;
        _ ->
            false
    end.

%% @doc The `-pa' arguments that give a peer node this node's build and test code.
-spec peer_paths() -> [string()].
peer_paths() ->
    lists:append([["-pa", P] || P <- code:get_path(),
                                string:find(P, "/_build/") =/= nomatch
                                    orelse string:find(P, "/test") =/= nomatch]).

%% @doc Waits (3 s at most) for a forwarded log event whose text holds `Needle';
%% its level.
-spec wait_log(string()) -> logger:level().
wait_log(Needle) ->
    receive
        {py_test_log, Level, Text} ->
            case contains(Text, Needle) of
                true -> Level;
                false -> wait_log(Needle)
            end
    after 3000 ->
            ct:fail({no_log, Needle})
    end.

%% @doc The text of a log event's message, whatever its form.
-spec log_text(logger:log_event()) -> binary().
log_text(#{msg := {string, S}}) ->
    unicode:characters_to_binary(S);
log_text(#{msg := {report, R}}) ->
    unicode:characters_to_binary(io_lib:format("~0p", [R]));
log_text(#{msg := {Format, Args}}) ->
    unicode:characters_to_binary(io_lib:format(Format, Args)).

%% @doc True when Needle occurs in Haystack.
-spec contains(unicode:chardata(), unicode:chardata()) -> boolean().
contains(Haystack, Needle) ->
    string:find(Haystack, Needle) =/= nomatch.

%% @doc Runs an executable (found on PATH) with arguments in a directory with
%% extra environment, and returns `{ExitStatus, Output}' (stdout and stderr).
-spec run(string(), [string()], file:filename(), [{string(), string() | false}]) ->
          {non_neg_integer() | timeout, binary()}.
run(Exe, Args, Dir, Env) ->
    Path = case os:find_executable(Exe) of
               false -> error({not_found, Exe});
               P -> P
           end,
    Port = open_port({spawn_executable, Path},
                     [{args, Args}, {cd, Dir}, {env, Env}, exit_status,
                      stderr_to_stdout, binary, hide]),
    collect(Port, []).

collect(Port, Acc) ->
    receive
        {Port, {data, Data}} -> collect(Port, [Data | Acc]);
        {Port, {exit_status, Status}} -> {Status, iolist_to_binary(lists:reverse(Acc))}
    after 600000 ->
        catch port_close(Port),
        {timeout, iolist_to_binary(lists:reverse(Acc))}
    end.

%% @doc The result of `Fun()' run in a new process.
-spec in_process(fun(() -> T)) -> T.
in_process(Fun) ->
    {Pid, Mon} = spawn_monitor(fun() -> exit({result, Fun()}) end),
    receive
        {'DOWN', Mon, process, Pid, {result, Result}} -> Result;
        {'DOWN', Mon, process, Pid, Other} -> error({in_process, Other})
    end.

%%% Groups that run a suite's cases on a worker pool

%% @doc Runs a case body with the group's place (`{py_on, On}' in Config, set
%% by start_worker_group/3) as the default `on' of every py call it makes in
%% this process (py_exec:with_defaults/2); without one, as it is. A process
%% the body spawns has no defaults: wrap its fun too when it makes py calls.
-spec in_place(list(), fun(() -> T)) -> T.
in_place(Config, Fun) ->
    case proplists:get_value(py_on, Config) of
        undefined -> Fun();
        On -> py_exec:with_defaults(#{on => On}, Fun)
    end.

%% @doc Starts a pool of workers for a group (`#{kind => worker}' and Opts)
%% and says in Config that the group's calls go there (see in_place/2).
-spec start_worker_group(atom(), map(), list()) -> list().
start_worker_group(Pool, Opts, Config) ->
    {ok, _} = py:start_pool(Pool, maps:merge(#{kind => worker, size => 2}, Opts)),
    #{size := Size} = py:pool_info(Pool),
    [{ok, 3} = py:call({operator, add}, [1, 2], [], #{on => {Pool, N}, timeout => 30000})
     || N <- lists:seq(1, Size)],
    [{py_on, Pool} | Config].

%% @doc Stops the pool of start_worker_group/3.
-spec stop_worker_group(list()) -> ok.
stop_worker_group(Config) ->
    case proplists:get_value(py_on, Config) of
        undefined -> ok;
        Pool -> _ = py:stop_pool(Pool), ok
    end.

%% @doc Whether a term is a handle: of a context (py_nif:is_handle/1 is true
%% only for those) or a proxy handle of a worker's object.
-spec is_handle(term()) -> boolean().
is_handle(Term) ->
    py_nif:is_handle(Term) orelse py_nif:proxy_info(Term) =/= false.
