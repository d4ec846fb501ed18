%% @doc The Python package `erlang' (python/erlang): its unit tests in plain
%% CPython, and the embedded tests (python/tests/embedded) run by pytest
%% inside the VM, where Python calls back into this module.
-module(py_python_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("stdlib/include/assert.hrl").

-export([all/0, init_per_suite/1, end_per_suite/1]).
-export([unit_tests/1, embedded_tests/1]).
%% Called from the embedded Python tests.
-export([spawn_idle/0, spawn_echo/0, a_port/0, adder/1, kwargs/0, recv/1,
         notify/3, py_reenter/1, on_dirty/2]).
%% logger handler callback.
-export([log/2]).

-define(PYTEST_TIMEOUT, 120000).
-define(STDOUT_MARKER, "py_python_SUITE stdout marker \x{e9} 1\n").
-define(STDERR_MARKER, "py_python_SUITE stderr marker\n").
-define(LOG_MARKER, "py_python_SUITE log marker 7").
%% A lone surrogate (from a surrogateescape decode) printed escaped.
-define(ESCAPED_MARKER, "py_python_SUITE \\udcff escaped\n").

all() ->
    [unit_tests, embedded_tests].

init_per_suite(Config) ->
    {ok, _} = application:ensure_all_started(py),
    Config.

end_per_suite(_Config) ->
    ok.

%%% Cases

%% The pytest unit tests of python/erlang, in the venv's own python (no BEAM).
unit_tests(_Config) ->
    Root = root(),
    Python = venv_python(),
    Args = ["-m", "pytest", "-q", "-p", "no:cacheprovider",
            filename:join([Root, "python", "tests", "unit"])],
    {Status, Output} = run(Python, Args, Root),
    ct:log("~ts ~p~n~ts", [Python, Args, Output]),
    case Status of
        0 -> ok;
        _ -> ct:fail({pytest_exit_status, Status, Output})
    end,
    ?assertNotEqual(nomatch, string:find(Output, " passed")).

%% pytest.main inside the VM on python/tests/embedded. The tests call back
%% into this module; callbacks run in the process that called Python, so
%% pytest.main can call Erlang although it is itself a call from Erlang.
embedded_tests(_Config) ->
    Dir = unicode:characters_to_binary(
            filename:join([root(), "python", "tests", "embedded"])),
    {ok, _} = py:start_pool(pytest, #{size => 1}),
    ok = logger:add_handler(?MODULE, ?MODULE, #{config => #{pid => self()}}),
    try
        {Result, Output} = run_pytest(Dir),
        ct:log("pytest.main returned ~p~n~ts", [Result, Output]),
        %% pytest.ExitCode.OK is an IntEnum, an int subclass: it arrives as 0.
        case Result of
            {ok, 0} -> ok;
            _ -> ct:fail({pytest_failed, Result, Output})
        end,
        %% Output made by Python reached the group leader of the caller.
        ?assertNotEqual(nomatch, string:find(Output, ?STDOUT_MARKER)),
        ?assertNotEqual(nomatch, string:find(Output, ?STDERR_MARKER)),
        ?assertNotEqual(nomatch, string:find(Output, ?ESCAPED_MARKER)),
        ?assertNotEqual(nomatch, string:find(Output, " passed")),
        %% The Python logging record reached the Erlang logger.
        {Level, Text} = receive_log(?LOG_MARKER, 5000),
        ?assertEqual(warning, Level),
        ?assertEqual(<<"py_python_SUITE: " ?LOG_MARKER>>, Text)
    after
        _ = logger:remove_handler(?MODULE),
        ok = py_sup:stop_pool(pytest)
    end.

%%% Helpers for the embedded tests (called from Python)

spawn_idle() ->
    spawn(fun() -> receive stop -> ok end end).

spawn_echo() ->
    spawn(fun() -> receive {From, Tag, Term} -> From ! {Tag, Term} end end).

a_port() ->
    [Port | _] = erlang:ports(),
    Port.

adder(N) ->
    fun(X) -> X + N end.

kwargs() ->
    #{base => 16}.

recv(Tag) ->
    receive {Tag, Value} -> Value
    after 5000 -> error({no_message, Tag})
    end.

notify(Pid, Tag, Value) ->
    Pid ! {Tag, Value},
    ok.

py_reenter(N) ->
    py:func(operator, add, [N, 1]).

on_dirty(Name, Args) ->
    py:call(Name, Args, [], #{on => dirty}).

%%% logger handler: forwards the formatted records of domain [py] to the test.

log(#{level := Level, msg := Msg, meta := Meta}, #{config := #{pid := Pid}}) ->
    case Meta of
        #{domain := [py | _]} -> Pid ! {py_python_log, Level, format_msg(Msg)};
        _ -> ok
    end.

format_msg({string, S}) -> unicode:characters_to_binary(S);
format_msg({report, R}) -> unicode:characters_to_binary(io_lib:format("~tp", [R]));
format_msg({F, A}) -> unicode:characters_to_binary(io_lib:format(F, A)).

%%% Internals

receive_log(Marker, Timeout) ->
    receive
        {py_python_log, Level, Text} ->
            case string:find(Text, Marker) of
                nomatch -> receive_log(Marker, Timeout);
                _ -> {Level, Text}
            end
    after Timeout ->
            ct:fail({no_log_record, Marker})
    end.

%% Runs pytest in a process whose group leader collects everything written,
%% so the test can check what Python printed.
run_pytest(Dir) ->
    Collector = spawn_link(fun() -> collect([]) end),
    Parent = self(),
    Args = [<<"-q">>, <<"-p">>, <<"no:cacheprovider">>,
            %% The VM's file descriptors and signal handlers are not pytest's
            %% to redirect: capture at the sys level and leave faulthandler off.
            <<"--capture=sys">>, <<"-p">>, <<"no:faulthandler">>,
            Dir],
    {Runner, MRef} =
        spawn_monitor(
          fun() ->
                  true = group_leader(Collector, self()),
                  Result = py:call(<<"pytest.main">>, [Args], #{},
                                   #{timeout => ?PYTEST_TIMEOUT, on => pytest}),
                  Parent ! {self(), Result}
          end),
    Result = receive
                 {Runner, R} ->
                     erlang:demonitor(MRef, [flush]),
                     R;
                 {'DOWN', MRef, process, Runner, Why} ->
                     {runner_died, Why}
             after ?PYTEST_TIMEOUT + 10000 ->
                     exit(Runner, kill),
                     {runner_hung, ?PYTEST_TIMEOUT + 10000}
             end,
    Collector ! {get, self()},
    Output = receive {Collector, Out} -> Out after 5000 -> <<"(no output)">> end,
    unlink(Collector),
    exit(Collector, kill),
    {Result, Output}.

%% A minimal io server: enough of the protocol for io:put_chars/2.
collect(Acc) ->
    receive
        {io_request, From, ReplyAs, Request} ->
            {Reply, Acc1} = io_request(Request, Acc),
            From ! {io_reply, ReplyAs, Reply},
            collect(Acc1);
        {get, From} ->
            From ! {self(), unicode:characters_to_binary(lists:reverse(Acc))},
            collect(Acc)
    end.

io_request({put_chars, unicode, Chars}, Acc) ->
    {ok, [Chars | Acc]};
io_request({put_chars, latin1, Chars}, Acc) ->
    {ok, [unicode:characters_to_binary(Chars, latin1) | Acc]};
io_request({put_chars, Enc, M, F, A}, Acc) ->
    io_request({put_chars, Enc, apply(M, F, A)}, Acc);
io_request({requests, Requests}, Acc) ->
    lists:foldl(fun(R, {_, A}) -> io_request(R, A) end, {ok, Acc}, Requests);
io_request(getopts, Acc) ->
    {[{binary, true}, {encoding, unicode}], Acc};
io_request(_Other, Acc) ->
    {{error, enotsup}, Acc}.

%% The repository root, from where this suite's source was compiled.
root() ->
    Source = proplists:get_value(source, ?MODULE:module_info(compile)),
    filename:dirname(filename:dirname(Source)).

venv_python() ->
    Venv = case os:getenv("VIRTUAL_ENV") of
               false -> filename:join(root(), ".venv");
               "" -> filename:join(root(), ".venv");
               V -> V
           end,
    Python = filename:join([Venv, "bin", "python"]),
    case filelib:is_regular(Python) of
        true -> Python;
        false -> ct:fail({no_venv_python, Python})
    end.

run(Exe, Args, Cd) ->
    Port = open_port({spawn_executable, Exe},
                     [{args, Args}, {cd, Cd}, exit_status, stderr_to_stdout,
                      binary, use_stdio, hide]),
    read_port(Port, []).

read_port(Port, Acc) ->
    receive
        {Port, {data, Data}} ->
            read_port(Port, [Data | Acc]);
        {Port, {exit_status, Status}} ->
            {Status, unicode:characters_to_binary(lists:reverse(Acc))}
    after ?PYTEST_TIMEOUT ->
            _ = (catch port_close(Port)),
            {timeout, unicode:characters_to_binary(lists:reverse(Acc))}
    end.
