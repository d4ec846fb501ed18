%% @doc Start-up checks what it is given (issue 13): a bad application env, a
%% venv that does not exist or was made by another Python, a call before py
%% runs, a restart with another venv. Each case runs in a VM of its own: the
%% NIF starts the interpreter once per OS process.
-module(py_start_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0]).
-export([bad_value_is_one_clear_error/1, unknown_keys_are_warned/1,
         missing_venv_is_one_clear_error/1, foreign_venv_is_refused/1,
         foreign_python_is_refused/1, calls_before_start_say_not_started/1,
         restart_with_another_venv_warns/1, start_log_names_the_python/1]).

suite() ->
    [{timetrap, {minutes, 5}}].

all() ->
    [bad_value_is_one_clear_error, unknown_keys_are_warned, missing_venv_is_one_clear_error,
     foreign_venv_is_refused, foreign_python_is_refused, calls_before_start_say_not_started,
     restart_with_another_venv_warns, start_log_names_the_python].

%% `{path, "mods"}' crashed on_load with function_clause in py_nif:bin/1.
bad_value_is_one_clear_error(_Config) ->
    Out = start(["-py", "path", "\"mods\""]),
    has(Out, <<"RESULT {error,{py,{{bad_config,{path,\"mods\"}},">>),
    has(Out, <<"py not started: bad value for the path setting of py: \"mods\"; "
               "it takes a list of directories (strings)">>),
    quiet(Out),
    Out2 = start(["-py", "pool_size", "0"]),
    has(Out2, <<"{bad_config,{pool_size,0}}">>),
    Out3 = start(["-py", "call_timeout", "\"5000\""]),
    has(Out3, <<"{bad_config,{call_timeout,\"5000\"}}">>).

unknown_keys_are_warned(_Config) ->
    Out = start(["-py", "virtualenv", "\"/x\"", "-py", "call_timout", "5",
                 "-py", "paths", "[\"a\"]"]),
    has(Out, <<"RESULT {ok,[py]}">>),
    has(Out, <<"unknown configuration key virtualenv (did you mean venv?)">>),
    has(Out, <<"unknown configuration key call_timout (did you mean call_timeout?)">>),
    has(Out, <<"unknown configuration key paths (did you mean path?)">>).

%% One error line and OTP's report of the application's exit, not a cascade
%% of supervisor reports with every later call saying `{no_pool, default}'.
missing_venv_is_one_clear_error(_Config) ->
    Out = vm(["-py", "venv", "\"/nonexistent/venv\""],
             "R = application:ensure_all_started(py), "
             "io:format(\"~nRESULT ~s~n\", [io_lib:print(R, 1, 100000, -1)]), "
             "io:format(\"~nCALL ~w~n\", [py:call({math, pow}, [2, 3], [], #{})]), logger_std_h:filesync(default), halt().",
             [{"VIRTUAL_ENV", false}]),
    has(Out, <<"py not started: Python failed to start: venv \"/nonexistent/venv\" "
               "is not a virtualenv (no pyvenv.cfg)">>),
    has(Out, <<"RESULT {error,{py,{{python_init_failed,">>),
    has(Out, <<"CALL {error,not_started}">>),
    quiet(Out).

%% A venv made by another Python 3.11 (Debian's /usr/bin/python3 -m venv, when
%% py embeds another 3.11) started and then failed at `import math'. Here the
%% other Python is a directory laid out like one: what the check reads.
foreign_venv_is_refused(Config) ->
    Dir = ?config(priv_dir, Config),
    Other = fake_python(Dir, "other_python"),
    Venv = filename:join(Dir, "foreign_venv"),
    ok = filelib:ensure_dir(filename:join([Venv, "bin", "x"])),
    ok = file:write_file(filename:join(Venv, "pyvenv.cfg"),
                         ["home = ", filename:dirname(Other), "\n",
                          "include-system-site-packages = false\n",
                          "version = 3.11.2\n",
                          "executable = ", Other, "\n"]),
    ok = file:write_file(filename:join([Venv, "bin", "python"]), <<>>),
    Out = start(["-py", "venv", "\"" ++ Venv ++ "\""]),
    Embedded = embedded_python(),
    has(Out, <<"RESULT {error,{py,{{python_init_failed,">>),
    has(Out, iolist_to_binary(["venv \"", Venv, "\" was made by ", Other,
                               " (Python 3.11.2)"])),
    has(Out, iolist_to_binary(["py embeds ", Embedded])),
    has(Out, iolist_to_binary(["Make the venv with the embedded Python: ",
                               Embedded, " -m venv ", Venv])),
    quiet(Out).

foreign_python_is_refused(Config) ->
    Other = fake_python(?config(priv_dir, Config), "another_python"),
    Out = start(["-py", "python", "\"" ++ Other ++ "\""]),
    has(Out, <<"RESULT {error,{py,{{python_init_failed,">>),
    has(Out, iolist_to_binary(["python \"", Other, "\" is another Python"])),
    quiet(Out).

calls_before_start_say_not_started(_Config) ->
    Out = vm([],
             "io:format(\"~nBEFORE ~w~n\", [py:call({math, pow}, [2, 3], [], #{})]), "
             "{ok, _} = application:ensure_all_started(py), "
             "io:format(\"~nDURING ~w ~w~n\", [py:call({math, pow}, [2, 3], [], #{}), "
             "    py:call({math, pow}, [2, 3], [], #{on => nope})]), "
             "ok = application:stop(py), "
             "io:format(\"~nAFTER ~w~n\", [py:call({math, pow}, [2, 3], [], #{on => {default, 1}})]), "
             "logger_std_h:filesync(default), halt().",
             []),
    has(Out, <<"BEFORE {error,not_started}">>),
    has(Out, <<"DURING {ok,8.0} {error,{no_pool,nope}}">>),
    has(Out, <<"AFTER {error,not_started}">>).

%% application:stop(py), a new venv, application:start(py) gave {ok, _} with
%% the old interpreter, in silence.
restart_with_another_venv_warns(_Config) ->
    Venv = filename:join(py_test_util:repo_root(), ".venv"),
    Out = vm(["-py", "venv", "\"" ++ Venv ++ "\""],
             "{ok, _} = application:ensure_all_started(py), "
             "ok = application:stop(py), "
             "ok = application:set_env(py, venv, \"/srv/other/.venv\"), "
             "ok = application:set_env(py, pool_size, 1), "
             "io:format(\"~nRESULT ~w~n\", [application:start(py)]), logger_std_h:filesync(default), halt().",
             [{"VIRTUAL_ENV", false}]),
    has(Out, <<"RESULT ok">>),
    has(Out, <<"py: venv changed since Python started in this VM; the interpreter keeps "
               "the old setting until the VM restarts">>),
    has(Out, unicode:characters_to_binary(Venv)).

start_log_names_the_python(_Config) ->
    Venv = filename:join(py_test_util:repo_root(), ".venv"),
    %% The NIF's line reaches the logger through py_server, some time after
    %% the start: a primary filter tells this process when it has been logged.
    Out = vm(["-kernel", "logger_level", "info", "-py", "venv", "\"" ++ Venv ++ "\""],
             "Self = self(), "
             "ok = logger:add_primary_filter(started, "
             "    {fun(#{msg := {_, [<<\"py_nif\">>, T]}} = E, _) -> Self ! {started, T}, E; "
             "        (E, _) -> E end, []}), "
             "{ok, _} = application:ensure_all_started(py), "
             "Wait = fun W() -> receive {started, T} -> "
             "    case string:find(T, \" started: \") of nomatch -> W(); _ -> ok end "
             "    after 10000 -> timeout end end, "
             "ok = Wait(), "
             "io:format(\"~nPREFIX ~ts~n\", [py:const(sys, prefix)]), "
             "logger_std_h:filesync(default), halt().",
             [{"VIRTUAL_ENV", false}]),
    [Prefix] = [P || <<"PREFIX ", P/binary>> <- binary:split(Out, <<"\n">>, [global])],
    has(Out, <<"py_nif: python 3.11.">>),
    has(Out, iolist_to_binary([" started: ", embedded_python(), ", venv ", Venv,
                               ", sys.prefix ", Prefix, " (base "])).

%%% Helpers

start(Flags) ->
    vm(Flags,
       "R = application:ensure_all_started(py), "
       "io:format(\"~nRESULT ~s~n\", [io_lib:print(R, 1, 100000, -1)]), logger_std_h:filesync(default), halt().",
       [{"VIRTUAL_ENV", false}]).

vm(Flags, Eval, Env) ->
    Ebin = filename:dirname(code:which(py)),
    {0, Out} = py_test_util:run("erl", ["-noshell", "-pa", Ebin | Flags] ++ ["-eval", Eval],
                                py_test_util:repo_root(), Env),
    ct:log("~ts", [Out]),
    Out.

has(Out, Text) ->
    case py_test_util:contains(Out, Text) of
        true -> ok;
        false -> ct:fail({missing, Text})
    end.

%% No report from a supervisor: the tree was never started.
quiet(Out) ->
    false = py_test_util:contains(Out, <<"SUPERVISOR REPORT">>),
    false = py_test_util:contains(Out, <<"no_pool">>),
    ok.

%% PREFIX/bin/python3.11 and PREFIX/lib/python3.11/os.py: enough for Python's
%% getpath (and py's check) to take PREFIX for a Python installation.
fake_python(Dir, Name) ->
    Prefix = filename:join(Dir, Name),
    Exe = filename:join([Prefix, "bin", "python3.11"]),
    ok = filelib:ensure_dir(Exe),
    ok = file:write_file(Exe, <<>>),
    OsPy = filename:join([Prefix, "lib", "python3.11", "os.py"]),
    ok = filelib:ensure_dir(OsPy),
    ok = file:write_file(OsPy, <<>>),
    Exe.

%% The Python the NIF is built against, as the pin records it.
embedded_python() ->
    Pin = filename:join([py_test_util:repo_root(), "target", "py-python", "pyo3-config.txt"]),
    {ok, Text} = file:read_file(Pin),
    [Exe] = [E || <<"executable=", E/binary>> <- binary:split(Text, <<"\n">>, [global])],
    Exe.
