%% @doc The usual first mistakes (issue 13) get an answer that says what to do:
%% names given as strings, erlang_python's call/3, arguments that are not a
%% list, charlist arguments, callbacks to missing functions, Erlang funs called
%% from Python, errors printed in the shell, colliding dict keys.
-module(py_mistakes_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1]).
-export([names_as_strings/1, call_module_function_args/1, args_not_a_list/1,
         charlist_argument_hint/1, callback_to_missing_function/1,
         erlang_fun_is_callable/1, errors_as_text/1, shell_prints_traceback/1,
         value_with_colliding_keys/1, shell_help_shows_docs/1]).

suite() ->
    [{timetrap, {minutes, 2}}].

all() ->
    [names_as_strings, call_module_function_args, args_not_a_list, charlist_argument_hint,
     callback_to_missing_function, erlang_fun_is_callable, errors_as_text,
     shell_prints_traceback, value_with_colliding_keys, shell_help_shows_docs].

init_per_suite(Config) ->
    {ok, _} = application:ensure_all_started(py),
    Config.

end_per_suite(_Config) ->
    ok.

%% `py:func("math", "pow", [2, 16])' said `{bad_name, "math"}'.
names_as_strings(_Config) ->
    65536.0 = py:func("math", "pow", [2, 16]),
    65536.0 = py:func(math, "pow", [2, 16]),
    65536.0 = py:func("math.pow", [2, 16]),
    65536.0 = py:func("math", "pow", [2, 16], []),
    {ok, Cwd} = file:get_cwd(),
    Cwd = binary_to_list(py:func("os", "getcwd")),
    3.141592653589793 = py:const("math", "pi"),
    2023 = py:attr(py:init("datetime", "date", [2023, 1, 2]), "year"),
    <<"A,B">> = py:method(<<"a,b">>, "upper"),
    %% A list in second place is still the argument list where that is meant.
    <<"A">> = py:func(chr, [65], []),
    <<"A">> = py:func('builtins.chr', [65]),
    %% A list that is no text is no name.
    {bad_name, [1, 2]} = py_test_util:raised(fun() -> py:const([1, 2], pi) end).

%% erlang_python's shape: `py:call(math, sqrt, [16])' said `{bad_job, ...}'.
call_module_function_args(_Config) ->
    {ok, 4.0} = py:call(math, sqrt, [16]),
    {ok, 4.0} = py:call(<<"math">>, <<"sqrt">>, [16]),
    {ok, 4.0} = py:call("math", "sqrt", [16]),
    {ok, 4.0} = py:call(math, "sqrt", [16]),
    %% The other call/3 stays: target, arguments, keyword arguments.
    {ok, 255} = py:call('builtins.int', [<<"ff">>], #{base => 16}),
    {ok, 255} = py:call({builtins, int}, [<<"ff">>], [{base, 16}]).

%% `py:func(math, pow, 2, 16)' said `{bad_job, ...}'.
args_not_a_list(_Config) ->
    {bad_args, 2} = py_test_util:raised(fun() -> py:func(math, pow, 2, 16) end),
    {error, {bad_args, 2}} = py:call({math, pow}, 2, 16, #{}),
    {error, {bad_args, x}} = py:async_call({math, pow}, x, [], #{}),
    true = py_error:is_reason({bad_args, 2}),
    65536.0 = py:func(math, pow, [2, 16]).

%% A TypeError from a call given a charlist says what to pass instead.
charlist_argument_hint(_Config) ->
    {python, <<"builtins.TypeError">>, Msg, _} =
        py_test_util:raised(fun() -> py:func(os, getenv, ["HOME"]) end),
    {match, _} = re:run(Msg, "hint: \"HOME\" is a charlist"),
    {match, _} = re:run(Msg, "pass <<\"HOME\">> or py:str\\(\"HOME\"\\)"),
    %% Other TypeErrors keep their message as it is.
    {python, <<"builtins.TypeError">>, Plain, _} =
        py_test_util:raised(fun() -> py:func(os, getenv, [1]) end),
    nomatch = re:run(Plain, "hint"),
    %% The documented rule for arguments holds: a charlist is a list.
    <<"[104, 105]">> = py:func(json, dumps, ["hi"]).

%% `erlang.call("nosuchmod", "f", [])' said `badarg in binary_to_existing_atom'.
callback_to_missing_function(_Config) ->
    Code = <<"import erlang\n"
             "try:\n"
             "    erlang.call('py_no_such_module_xyz', 'f', [1])\n"
             "    r = 'no error'\n"
             "except erlang.Error as e:\n"
             "    r = str(e)\n">>,
    ok = py:exec(Code),
    Text = py:eval("r"),
    {match, _} = re:run(Text, "py_no_such_module_xyz:f/1: no such module or function").

%% `py:eval("x(3)", #{x => fun ...})' said `'erlang.Fun' object is not callable'.
erlang_fun_is_callable(_Config) ->
    6 = py:eval("x(3)", #{x => fun(A) -> A * 2 end}),
    [3, 2, 1] = py:eval("sorted([1, 3, 2], key=k)", #{k => fun(A) -> -A end}),
    [11, 12] = py:eval("list(map(f, [1, 2]))", #{f => fun(A) -> A + 10 end}),
    Self = self(),
    ok = py:exec("g()", #{g => fun() -> Self ! {ran_in, self()}, ok end}),
    receive {ran_in, Self} -> ok after 1000 -> ct:fail(callback_not_in_caller) end,
    %% An exception in the fun reaches Python as erlang.Error.
    {python, <<"erlang.Error">>, _, _} =
        py_test_util:raised(fun() -> py:eval("x(0)", #{x => fun(A) -> 1 div A end}) end).

errors_as_text(_Config) ->
    <<"builtins.KeyError: 'a'">> = py:format_error({python, <<"builtins.KeyError">>, <<"'a'">>, []}),
    Text = py:format_error({python, <<"builtins.ValueError">>, <<"bad">>,
                            [<<"Traceback (most recent call last):">>, <<"ValueError: bad">>]}),
    {match, _} = re:run(Text, "Python traceback:\nTraceback"),
    <<"timeout: the deadline passed">> = py:format_error(timeout),
    <<"{something,else}">> = py:format_error({something, else}),
    #{reason := Reason} = py:format_error({bad_option, colour}, []),
    "bad option: colour" = Reason.

%% An error raised by py carries error_info, so the shell prints the traceback
%% as text instead of a list of binaries cut with `...'.
shell_prints_traceback(_Config) ->
    try py:eval("1 / 0") of
        _ -> ct:fail(no_error)
    catch
        error:{python, <<"builtins.ZeroDivisionError">>, _, _} = R:St ->
            [{py, _, _, Info} | _] = St,
            #{module := py} = proplists:get_value(error_info, Info),
            Printed = lists:flatten(erl_error:format_exception(error, R, St)),
            {match, _} = re:run(Printed, "ZeroDivisionError: division by zero\n"),
            {match, _} = re:run(Printed, "File \"<py>\", line 1")
    end.

%% `py:value' of a dict with colliding keys said `{unsupported, [], #Ref}'.
value_with_colliding_keys(_Config) ->
    {key_collision, [], <<"a">>} =
        py_test_util:raised(fun() -> py:eval("{'a': 1, b'a': 2}") end),
    {key_collision, [1], <<"k">>} =
        py_test_util:raised(fun() -> py:eval("[0, {'k': 1, b'k': 2}]") end),
    H = py:eval("{'a': 1, b'a': 2}", #{}, #{return => handle}),
    {key_collision, [], <<"a">>} = py_test_util:raised(fun() -> py:value(H) end).

%% `h(py, func)' said there is no documentation: the docs are in the .beam files.
shell_help_shows_docs(_Config) ->
    {ok, {docs_v1, _, erlang, _, #{<<"en">> := _}, _, Docs}} = code:get_doc(py),
    [Doc] = [D || {{function, func, 3}, _, _, #{<<"en">> := D}, _} <- Docs],
    true = iolist_size(io_lib:format("~p", [Doc])) > 20,
    {ok, {docs_v1, _, _, _, _, _, ExecDocs}} = code:get_doc(py_exec),
    [_] = [D || {{function, with_defaults, 2}, _, _, #{<<"en">> := D}, _} <- ExecDocs].
