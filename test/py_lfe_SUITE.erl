%% @doc LFE py's whole surface (issue 13): every name/arity of its
%% include/builtins.lfe, include/operators.lfe, src/py.lfe and src/py-util.lfe
%% is exported by `py' (or `py-util') or is left out with its reason in
%% docs/lfe.md; every builtin and operator is called and compared with what
%% Python gives for the same expression; the README's examples; the server
%% functions.
-module(py_lfe_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([lfe_pairs_exported/1, left_out_documented/1, left_out_fail_in_python/1,
         every_builtin_and_operator_vs_python/1, readme_examples/1, kwargs_forms/1,
         charlist_keys/1, bytes_relation/1, iterators/1, server_helpers/1,
         py_util/1, start_stop_restart/1]).

suite() ->
    [{timetrap, {minutes, 3}}].

all() ->
    [lfe_pairs_exported, left_out_documented, left_out_fail_in_python,
     every_builtin_and_operator_vs_python, readme_examples, kwargs_forms,
     charlist_keys, bytes_relation, iterators, server_helpers, py_util,
     %% Last: it stops and starts py.
     start_stop_restart].

init_per_suite(Config) ->
    ok = py_test_util:start(),
    Config.

end_per_suite(_Config) ->
    ok.

init_per_testcase(_Case, Config) ->
    Config.

end_per_testcase(_Case, _Config) ->
    py_test_util:assert_mailbox_empty().

%%% LFE py's names, as its sources list them

%% include/builtins.lfe: get-builtin-funcs and get-kwarg-builtin-funcs.
lfe_builtins() ->
    [{abs, 1}, {all, 1}, {any, 1}, {ascii, 1}, {bin, 1}, {bool, 0}, {bool, 1},
     {bytearray, 0}, {bytearray, 1}, {bytearray, 2}, {bytearray, 3},
     {bytes, 0}, {bytes, 1}, {bytes, 2}, {bytes, 3},
     {callable, 1}, {chr, 1}, {compile, 3}, {complex, 0}, {complex, 1}, {complex, 2},
     {dict, 0}, {dir, 0}, {dir, 1}, {divmod, 2}, {enumerate, 1}, {enumerate, 2},
     {file, 1}, {file, 2}, {file, 3}, {filter, 2}, {float, 0}, {float, 1},
     {format, 1}, {format, 2}, {frozenset, 0}, {frozenset, 1},
     {getattr, 2}, {getattr, 3}, {globals, 0}, {hasattr, 2}, {hash, 1},
     {help, 0}, {help, 1}, {hex, 1}, {id, 1}, {int, 1}, {isinstance, 2},
     {issubclass, 2}, {iter, 1}, {iter, 2}, {len, 1}, {locals, 0}, {map, 2}, {map, 3},
     {max, 1}, {max, 2}, {max, 3}, {max, 4}, {memoryview, 1},
     {min, 1}, {min, 2}, {min, 3}, {min, 4}, {next, 1}, {next, 2}, {object, 0},
     {oct, 1}, {open, 1}, {ord, 1}, {pow, 2}, {pow, 3}, {print, 1},
     {range, 1}, {range, 2}, {range, 3}, {repr, 1}, {reversed, 1},
     {round, 1}, {round, 2}, {set, 0}, {set, 1}, {slice, 1}, {slice, 2}, {slice, 3},
     {sorted, 1}, {sorted, 2}, {sorted, 3}, {str, 1}, {sum, 1}, {sum, 2},
     {super, 0}, {super, 1}, {super, 2}, {tuple, 0}, {tuple, 1}, {type, 1}, {type, 3},
     {vars, 0}, {vars, 1}, {zip, 1}]
    ++ lfe_kwarg_builtins().

lfe_kwarg_builtins() ->
    [{compile, 4}, {int, 2}, {open, 2}, {print, 2}, {property, 1}, {str, 2}].

%% include/operators.lfe: get-operator-funcs (LFE's `not-' is the atom 'not-').
lfe_operators() ->
    [{lt, 2}, {le, 2}, {eq, 2}, {ne, 2}, {ge, 2}, {gt, 2},
     {'not-', 1}, {truth, 1}, {'is-', 2}, {'is-not', 2},
     {add, 2}, {floordiv, 2}, {index, 1}, {mod, 2}, {mul, 2}, {neg, 1}, {pos, 1},
     {sub, 2}, {truediv, 2},
     {'and-', 2}, {inv, 1}, {invert, 1}, {lshift, 2}, {'or-', 2}, {rshift, 2}, {'xor', 2},
     {concat, 2}, {contains, 2}, {countOf, 2}, {getitem, 2}, {indexOf, 2},
     {length_hint, 1}, {length_hint, 2},
     {attrgetter, 1}, {itemgetter, 1}, {methodcaller, 1}, {methodcaller, 2}].

%% src/py.lfe (export all): what is not generated from the include files.
lfe_py() ->
    [{start_link, 0}, {start_link, 1}, {start, 0}, {stop, 0}, {restart, 0},
     {'on-startworker', 1}, {'get-sup-pid', 0}, {'get-python-pids', 0}, {'add-server', 1},
     {pycall, 2}, {pycall, 3}, {init, 1}, {init, 2}, {init, 3}, {init, 4},
     {const, 1}, {const, 2}, {const, 3}, {attr, 2}, {method, 2}, {method, 3}, {method, 4},
     {'call-dotten', 1}, {func, 1}, {func, 2}, {func, 3}, {func, 4}, {'general-call', 5},
     {dict, 1}, {pylist, 0}, {pylist, 1}, {pdir, 1}, {pvars, 1}, {ptype, 1}, {prepr, 1}].

%% src/py-util.lfe (export all).
lfe_py_util() ->
    [{'get-erlport-version', 0}, {'get-py-version', 0}, {'get-python-version', 0},
     {'get-versions', 0}, {'proplist->binary', 1}, {'make-func', 2}, {'make-funcs', 2},
     {'make-kwarg-func', 2}, {'make-kwarg-funcs', 2}, {'split-last', 1},
     {'get-worker-names', 0}, {'split-dotted', 1}, {'dotted?', 1}].

%% What is deliberately not provided; docs/lfe.md names each one and says why.
left_out() ->
    [{py, dir, 0}, {py, vars, 0}, {py, globals, 0}, {py, locals, 0}, {py, super, 0},
     {py, help, 0}, {py, file, 1}, {py, file, 2}, {py, file, 3},
     {py, start_link, 0}, {py, start_link, 1}, {py, 'on-startworker', 1},
     {py, 'call-dotten', 1}, {py, 'general-call', 5},
     {'py-util', 'get-erlport-version', 0}, {'py-util', 'proplist->binary', 1},
     {'py-util', 'make-func', 2}, {'py-util', 'make-funcs', 2},
     {'py-util', 'make-kwarg-func', 2}, {'py-util', 'make-kwarg-funcs', 2},
     {'py-util', 'split-last', 1}, {'py-util', 'get-worker-names', 0},
     {'py-util', 'split-dotted', 1}, {'py-util', 'dotted?', 1}].

lfe_all() ->
    [{py, F, A} || {F, A} <- lfe_builtins() ++ lfe_operators() ++ lfe_py()]
    ++ [{'py-util', F, A} || {F, A} <- lfe_py_util()].

%%% The list against the exports and the docs

lfe_pairs_exported(_Config) ->
    LeftOut = left_out(),
    Missing = [MFA || {M, F, A} = MFA <- lfe_all(),
                      not lists:member(MFA, LeftOut),
                      not exported(M, F, A)],
    [] = Missing,
    %% Nothing is both provided and said to be left out.
    [] = [MFA || {M, F, A} = MFA <- LeftOut, exported(M, F, A)],
    %% Every left-out entry is one of LFE py's.
    [] = LeftOut -- lfe_all(),
    ok.

exported(M, F, A) ->
    lists:member({F, A}, M:module_info(exports)).

left_out_documented(_Config) ->
    {ok, Doc} = file:read_file(filename:join([py_test_util:repo_root(), "docs", "lfe.md"])),
    Undocumented = [{F, A} || {_, F, A} <- left_out(),
                              nomatch =:= binary:match(Doc, mention(F, A))],
    [] = Undocumented,
    ok.

mention(F, A) ->
    iolist_to_binary(["`", atom_to_list(F), "/", integer_to_list(A), "`"]).

%% The reasons docs/lfe.md gives, as Python gives them: a call from Erlang has
%% no Python frame.
left_out_fail_in_python(_Config) ->
    NoFrame = <<"frame does not exist">>,
    [{<<"builtins.SystemError">>, NoFrame}, {<<"builtins.SystemError">>, NoFrame},
     {<<"builtins.SystemError">>, NoFrame}, {<<"builtins.SystemError">>, _},
     {<<"builtins.RuntimeError">>, <<"super(): no current frame">>}] =
        [python_error(py:call({builtins, F}, [])) || F <- [dir, vars, locals, globals, super]],
    %% file() is Python 2's.
    {<<"builtins.AttributeError">>, _} = python_error(py:call({builtins, file}, [<<"/">>])),
    ok.

python_error({error, {python, Type, Message, _Traceback}}) -> {Type, Message};
python_error(Other) -> ct:fail({not_a_python_error, Other}).

%%% Every builtin and operator against Python

%% `{Function, Args, Check}'; Args are bound to a, b, c, d for the Python
%% expression of the check:
%%   {eq, Expr}      the result is the term Python's Expr converts to
%%   {sorted, Expr}  the same, in any order (sets)
%%   {repr, Expr}    a handle whose repr is Python's repr(Expr)
%%   {type, Expr}    a handle of the class of Expr (repr(type(Expr)))
%%   {output, Expr}  the same text printed and the same value returned
%%   {check, Fun}    Fun(Result) is true
calls(Config) ->
    File = filename:join(?config(priv_dir, Config), "lfe.txt"),
    ok = file:write_file(File, <<"one line\n">>),
    Path = unicode:characters_to_binary(File),
    Abs = py:const(builtins, abs),
    Add = py:const(operator, add),
    Next = py:attr(py:iter([1, 2, 0, 3]), '__next__'),
    Bool = py:type(true),
    NS = py:init(types, 'SimpleNamespace', [], #{a => 1}),
    Obj = py:object(),
    Os = py:import(os),
    [{abs, [-5], {eq, "abs(a)"}},
     {all, [[1, 0]], {eq, "all(a)"}},
     {any, [[0, 0]], {eq, "any(a)"}},
     {ascii, [<<"é"/utf8>>], {eq, "ascii(a)"}},
     {bin, [10], {eq, "bin(a)"}},
     {bool, [], {eq, "bool()"}},
     {bool, [[1]], {eq, "bool(a)"}},
     {bytearray, [], {eq, "bytearray()"}},
     {bytearray, [[104, 105]], {eq, "bytearray(a)"}},
     {bytearray, [<<"é"/utf8>>, <<"latin-1">>], {eq, "bytearray(a, b)"}},
     {bytearray, [<<"é"/utf8>>, <<"ascii">>, <<"replace">>], {eq, "bytearray(a, b, c)"}},
     {bytes, [], {eq, "bytes()"}},
     %% bytes/1 is py's marker, not bytes(X): Python sees the same bytes.
     {bytes, [<<1, 2>>], {check, fun(M) -> py:eval("type(m) is bytes and m == b'\\x01\\x02'",
                                                   #{m => M}) end}},
     {bytes, [<<"é"/utf8>>, <<"utf-16-le">>], {eq, "bytes(a, b)"}},
     {bytes, [<<"é"/utf8>>, <<"ascii">>, <<"ignore">>], {eq, "bytes(a, b, c)"}},
     {callable, [Abs], {eq, "callable(a)"}},
     {chr, [955], {eq, "chr(a)"}},
     {compile, [<<"6 * 7">>, <<"<erl>">>, <<"eval">>],
      {check, fun(C) -> py:func(builtins, eval, [C]) =:= 42 end}},
     {compile, [<<"x = 1">>, <<"<erl>">>, <<"exec">>, #{dont_inherit => true}],
      {type, "compile(a, b, c, dont_inherit=True)"}},
     {complex, [], {repr, "complex()"}},
     {complex, [<<"1+2j">>], {repr, "complex(a)"}},
     {complex, [1, 2], {repr, "complex(a, b)"}},
     {dict, [], {eq, "dict()"}},
     {dict, [[{"a", 1}, {"b", 2}]], {eq, "dict(a=1, b=2)"}},
     {dir, [Os], {check, fun(D) -> D =:= py_lib:elide_list(py:eval("dir(a)", #{a => Os})) end}},
     {pdir, [<<>>], {eq, "dir(a)"}},
     {divmod, [-7, 2], {eq, "divmod(a, b)"}},
     {enumerate, [[x, y]], {eq, "list(enumerate(a))"}},
     {enumerate, [[x, y], 5], {eq, "list(enumerate(a, b))"}},
     {filter, [undefined, [0, 1, <<>>, <<"a">>]], {eq, "list(filter(a, b))"}},
     {float, [], {eq, "float()"}},
     {float, [<<"1.5">>], {eq, "float(a)"}},
     {format, [1.5], {eq, "format(a)"}},
     {format, [3.14159, <<".2f">>], {eq, "format(a, b)"}},
     {frozenset, [], {sorted, "frozenset()"}},
     {frozenset, [[3, 1, 3]], {sorted, "frozenset(a)"}},
     {getattr, [1, real], {eq, "getattr(a, b)"}},
     {getattr, [1, nope, 0], {eq, "getattr(a, b, c)"}},
     {hasattr, [1, real], {eq, "hasattr(a, b)"}},
     {hash, [<<"x">>], {eq, "hash(a)"}},
     {help, [<<"len">>], {output, "help(a)"}},
     {hex, [255], {eq, "hex(a)"}},
     {id, [Obj], {eq, "id(a)"}},
     {int, [<<"42">>], {eq, "int(a)"}},
     {int, [<<"ff">>, 16], {eq, "int(a, b)"}},
     {int, [<<"101010">>, [{base, 2}]], {eq, "int(a, base=2)"}},
     {isinstance, [1, int], {eq, "isinstance(a, int)"}},
     {issubclass, [bool, int], {eq, "issubclass(bool, int)"}},
     {iter, [[1, 2]], {type, "iter(a)"}},
     {iter, [Next, 0], {type, "iter(a, b)"}},
     {len, [[1, 2, 3]], {eq, "len(a)"}},
     {map, [Abs, [-1, 2]], {eq, "list(map(a, b))"}},
     {map, [Add, [1, 2], [10, 20]], {eq, "list(map(a, b, c))"}},
     {max, [[3, 1, 2]], {eq, "max(a)"}},
     {max, [1, 2], {eq, "max(a, b)"}},
     {max, [1, 3, 2], {eq, "max(a, b, c)"}},
     {max, [1, 4, 3, 2], {eq, "max(a, b, c, d)"}},
     {memoryview, [py:bytes(<<1, 2>>)], {type, "memoryview(a)"}},
     {min, [[3, 1, 2]], {eq, "min(a)"}},
     {min, [2, 1], {eq, "min(a, b)"}},
     {min, [3, 1, 2], {eq, "min(a, b, c)"}},
     {min, [4, 1, 3, 2], {eq, "min(a, b, c, d)"}},
     {next, [py:iter([1, 2])], {eq, "next(iter([1, 2]))"}},
     {next, [py:iter([]), done], {eq, "next(iter([]), b)"}},
     {object, [], {type, "object()"}},
     {oct, [8], {eq, "oct(a)"}},
     {open, [Path], {type, "open(a)"}},
     {open, [Path, #{encoding => <<"utf-8">>}], {type, "open(a, encoding='utf-8')"}},
     {ord, [<<"λ"/utf8>>], {eq, "ord(a)"}},
     {pow, [2, 10], {eq, "pow(a, b)"}},
     {pow, [2, 10, 1000], {eq, "pow(a, b, c)"}},
     {print, [<<"hi">>], {output, "print(a)"}},
     {print, [<<"hi">>, #{'end' => <<"!">>}], {output, "print(a, end='!')"}},
     {property, [#{doc => <<"d">>}], {type, "property(doc='d')"}},
     {pylist, [], {eq, "list()"}},
     {pylist, [{1, 2}], {eq, "list(a)"}},
     {range, [3], {repr, "range(a)"}},
     {range, [1, 3], {repr, "range(a, b)"}},
     {range, [1, 9, 2], {repr, "range(a, b, c)"}},
     {repr, [{1, <<"x">>}], {eq, "repr(a)"}},
     {reversed, [[1, 2, 3]], {eq, "list(reversed(a))"}},
     {round, [2.5], {eq, "round(a)"}},
     {round, [3.14159, 2], {eq, "round(a, b)"}},
     {set, [], {sorted, "set()"}},
     {set, [[3, 1, 3]], {sorted, "set(a)"}},
     {slice, [2], {repr, "slice(a)"}},
     {slice, [1, 3], {repr, "slice(a, b)"}},
     {slice, [1, 9, 2], {repr, "slice(a, b, c)"}},
     {sorted, [[3, 1, 2]], {eq, "sorted(a)"}},
     {sorted, [[1, 3, 2], #{reverse => true}], {eq, "sorted(a, reverse=True)"}},
     {sorted, [[{1, b}, {2, a}], py:itemgetter(1), false], {eq, "sorted(a, key=b, reverse=c)"}},
     {str, [42], {eq, "str(a)"}},
     {str, [py:bytes(<<233>>), #{encoding => <<"latin-1">>}], {eq, "str(a, encoding='latin-1')"}},
     {sum, [[1, 2, 3]], {eq, "sum(a)"}},
     {sum, [[1, 2], 10], {eq, "sum(a, b)"}},
     {super, [Bool], {repr, "super(a)"}},
     {super, [Bool, true], {repr, "super(a, b)"}},
     {tuple, [], {eq, "tuple()"}},
     {tuple, [[1, 2]], {eq, "tuple(a)"}},
     {type, [1], {repr, "type(a)"}},
     {type, [<<"Point">>, {}, #{x => 0}],
      {check, fun(C) -> {py:attr(C, '__name__'), py:attr(C, x)} =:= {<<"Point">>, 0} end}},
     {vars, [NS], {eq, "vars(a)"}},
     {pvars, [NS], {eq, "vars(a)"}},
     {zip, [[1, 2]], {eq, "list(zip(a))"}},
     {zip, [[1, 2], [x, y]], {eq, "list(zip(a, b))"}},
     {zip, [[1], [x], [z]], {eq, "list(zip(a, b, c))"}},
     %% operator
     {lt, [1, 2], {eq, "a < b"}},
     {le, [2, 2], {eq, "a <= b"}},
     {eq, [1, 1.0], {eq, "a == b"}},
     {ne, [1, 2], {eq, "a != b"}},
     {ge, [1, 2], {eq, "a >= b"}},
     {gt, [2, 1], {eq, "a > b"}},
     {'not-', [[]], {eq, "not a"}},
     {truth, [[1]], {eq, "bool(a)"}},
     {'is-', [undefined, undefined], {eq, "a is b"}},
     {'is-not', [1, undefined], {eq, "a is not b"}},
     {is, [Obj, Obj], {eq, "a is b"}},
     {is_not, [Obj, Obj], {eq, "a is not b"}},
     {add, [37, 5], {eq, "a + b"}},
     {floordiv, [462, 11], {eq, "a // b"}},
     {index, [true], {eq, "__import__('operator').index(a)"}},
     {mod, [-7, 3], {eq, "a % b"}},
     {mul, [7, 6], {eq, "a * b"}},
     {neg, [3], {eq, "-a"}},
     {pos, [-3], {eq, "+a"}},
     {sub, [-108, -150], {eq, "a - b"}},
     {truediv, [462, 11], {eq, "a / b"}},
     {'and-', [60, 13], {eq, "a & b"}},
     {inv, [60], {eq, "~a"}},
     {invert, [60], {eq, "~a"}},
     {lshift, [60, 2], {eq, "a << b"}},
     {'or-', [60, 13], {eq, "a | b"}},
     {rshift, [60, 2], {eq, "a >> b"}},
     {'xor', [60, 13], {eq, "a ^ b"}},
     {concat, [[1], [2]], {eq, "a + b"}},
     {contains, [[1, 2], 2], {eq, "b in a"}},
     {countOf, [[1, 2, 1], 1], {eq, "a.count(b)"}},
     {getitem, [[10, 20], 1], {eq, "a[b]"}},
     {indexOf, [[a, b], b], {eq, "a.index(b)"}},
     {length_hint, [py:iter([1, 2])], {eq, "__import__('operator').length_hint(iter([1, 2]))"}},
     {length_hint, [Obj, 7], {eq, "__import__('operator').length_hint(a, b)"}},
     {attrgetter, [<<"imag">>], {repr, "__import__('operator').attrgetter(a)"}},
     {itemgetter, [1], {repr, "__import__('operator').itemgetter(a)"}},
     {methodcaller, [<<"upper">>], {repr, "__import__('operator').methodcaller(a)"}},
     {methodcaller, [<<"split">>, <<",">>], {repr, "__import__('operator').methodcaller(a, b)"}}].

every_builtin_and_operator_vs_python(Config) ->
    Calls = calls(Config),
    %% The table walks every builtin and operator py provides under LFE py's
    %% names (and the extras: zip/2,3).
    Called = lists:usort([{F, length(Args)} || {F, Args, _} <- Calls]),
    LeftOut = [{F, A} || {py, F, A} <- left_out()],
    [] = (lfe_builtins() ++ lfe_operators()) -- (Called ++ LeftOut),
    [] = [FA || {F, A} = FA <- Called, not exported(py, F, A)],
    Mismatches = [{F, Args, Check, Outcome}
                  || {F, Args, Check} <- Calls,
                     Outcome <- [check(F, Args, Check)],
                     Outcome =/= ok],
    [] = Mismatches,
    ok.

check(F, Args, {eq, Expr}) ->
    same(apply(py, F, Args), py:eval(Expr, bind(Args)));
check(F, Args, {sorted, Expr}) ->
    same(lists:sort(apply(py, F, Args)), lists:sort(py:eval(Expr, bind(Args))));
check(F, Args, {repr, Expr}) ->
    Got = apply(py, F, Args),
    same({true, py:repr(Got)}, {is_reference(Got), py:eval(["repr(", Expr, ")"], bind(Args))});
check(F, Args, {type, Expr}) ->
    Got = apply(py, F, Args),
    same({true, py:repr(py:type(Got))},
         {is_reference(Got), py:eval(["repr(type(", Expr, "))"], bind(Args))});
check(F, Args, {output, Expr}) ->
    Got = with_capture(fun() -> apply(py, F, Args) end),
    Expected = with_capture(fun() -> py:eval(Expr, bind(Args)) end),
    case Got of
        {_, <<>>} -> {nothing_printed, Got};
        _ -> same(Got, Expected)
    end;
check(F, Args, {check, Fun}) ->
    Got = apply(py, F, Args),
    same(true, Fun(Got)).

same(X, X) -> ok;
same(Got, Expected) -> {got, Got, expected, Expected}.

bind(Args) ->
    maps:from_list(lists:zip(lists:sublist([a, b, c, d], length(Args)), Args)).

with_capture(Fun) ->
    GL = py_test_util:start_capture(),
    Old = group_leader(),
    group_leader(GL, self()),
    Value = try
                Fun()
            after
                group_leader(Old, self())
            end,
    Out = py_test_util:captured(GL),
    ok = py_test_util:stop_capture(GL),
    {Value, Out}.

%%% LFE py's README, its kwargs forms, and what they take

readme_examples(_Config) ->
    42 = py:int(<<"101010">>, [{base, 2}]),
    42 = py:int(<<"101010">>, #{base => 2}),
    42 = py:func(builtins, int, [<<"101010">>], [{base, 2}]),
    42 = py:func('builtins.int', [<<"101010">>], [{base, 2}]),
    #{<<"a">> := 1, <<"b">> := 2} = Dict = py:dict([{"a", 1}, {"b", 2}]),
    2 = map_size(Dict),
    #{} = py:dict(),
    UserDict = py:init('collections.UserDict', [], [{"a", 1}, {"b", 2}]),
    #{<<"a">> := 1, <<"b">> := 2} = py:value(UserDict),
    true = py:any([true, true, false, false, false, true]),
    false = py:all([true, true, false, false, false, true]),
    0.66667 = py:round(0.666666667, 5),
    35 = py:len(py:range(7, 42)),
    35 = length(py:pylist(py:range(7, 42))),
    [1, 2, 3, 4] = py:pylist([1, 2, 3, 4]),
    42 = py:sub(-108, -150),
    42.0 = py:truediv(462, 11),
    true = py:gt(7, 6),
    -61 = py:inv(60),
    ok.

%% LFE py's kwargs forms (compile/4, int/2, open/2, print/2, property/1,
%% str/2) and sorted/2, each with a proplist, a map and charlist keys.
kwargs_forms(Config) ->
    File = filename:join(?config(priv_dir, Config), "kwargs.txt"),
    Path = unicode:characters_to_binary(File),
    Forms = [fun(K) -> py:int(<<"ff">>, K(base, 16)) end,
             fun(K) -> py:str(py:bytes(<<"é"/utf8>>), K(encoding, <<"utf-8">>)) end,
             fun(K) -> py:sorted([1, 3, 2], K(reverse, true)) end,
             fun(K) -> py:attr(py:property(K(doc, <<"d">>)), '__doc__') end,
             fun(K) ->
                     Code = py:compile(<<"x = 1">>, <<"<erl>">>, <<"exec">>, K(dont_inherit, true)),
                     py:attr(Code, co_filename)
             end,
             fun(K) ->
                     F = py:open(Path, K(mode, <<"w">>)),
                     _ = py:method(F, write, [<<"written">>]),
                     undefined = py:method(F, close),
                     {ok, Bin} = file:read_file(File),
                     Bin
             end,
             fun(K) -> element(2, with_capture(fun() -> py:print(<<"x">>, K('end', <<"!">>)) end)) end],
    Shapes = [fun(Key, V) -> [{Key, V}] end,
              fun(Key, V) -> #{Key => V} end,
              fun(Key, V) -> [{atom_to_list(Key), V}] end,
              fun(Key, V) -> #{atom_to_list(Key) => V} end,
              fun(Key, V) -> [{atom_to_binary(Key), V}] end],
    Expected = [255, <<"é"/utf8>>, [3, 2, 1], <<"d">>, <<"<erl>">>, <<"written">>, <<"x!">>],
    Expected = [Form(hd(Shapes)) || Form <- Forms],
    [] = [{N, Got} || Shape <- tl(Shapes),
                      {N, Form, Want} <- lists:zip3(lists:seq(1, length(Forms)), Forms, Expected),
                      Got <- [Form(Shape)],
                      Got =/= Want],
    ok.

%% Charlist keys (LFE strings) are str keys in keyword arguments everywhere
%% and in dict/1's pairs; they never merge with another key silently.
charlist_keys(_Config) ->
    255 = py:func(builtins, int, [<<"ff">>], [{"base", 16}]),
    {ok, 255} = py:call({builtins, int}, [<<"ff">>], #{"base" => 16}),
    {ok, 255} = py:call('builtins.int', [<<"ff">>], [{"base", 16}], #{on => dirty}),
    Day = py:method(py:init(datetime, date, [2000, 1, 1]), replace, [], [{"day", 2}]),
    <<"2000-01-02">> = py:method(Day, isoformat),
    2 = py:attr(py:init('datetime.timedelta', [], #{"days" => 2}), days),
    %% "base" and base are one keyword in Python: a collision, as for base and <<"base">>.
    {error, {key_collision, [], _}} = py:call({builtins, int}, [<<"1">>], [{"base", 2}, {base, 3}]),
    {error, {key_collision, [], _}} =
        py:call({builtins, int}, [<<"1">>], #{"base" => 2, <<"base">> => 3}),
    %% An improper list reaches the NIF as it is, which refuses it.
    {error, {bad_kwargs, [{base, 2} | x]}} = py:call({builtins, int}, [<<"1">>], [{base, 2} | x]),
    {error, {unsupported, [], "base"}} = py:call({builtins, int}, [<<"1">>], [{"base", 2} | x]),
    %% dict/1: pairs with charlist keys are str keys; atoms stay atoms; later wins, as in Python.
    #{<<"a">> := 2, b := 3} = py:dict([{"a", 1}, {"a", 2}, {b, 3}]),
    #{<<>> := 0} = py:dict([{"", 0}]),
    %% A list of something else than pairs reaches Python as it is.
    #{1 := 2} = py:dict([[1, 2]]),
    %% A map argument is converted as every map is: a list key is unhashable.
    {'EXIT', {{unsupported, _, "a"}, _}} = catch py:dict(#{"a" => 1}),
    ok.

%% bytes/1 keeps its meaning (a marker); bytes/0,2,3 are Python's.
bytes_relation(_Config) ->
    M = py:bytes(<<1, 2>>),
    false = is_binary(M),
    <<1, 2>> = py:to_binary(M),
    2 = py:len(M),
    {'EXIT', {function_clause, _}} = catch py:bytes([1, 2]),
    <<>> = py:bytes(),
    <<"abc">> = py:bytes(<<"abc">>, <<"ascii">>),
    %% What LFE py's (bytes '(1 2)) gave, from Erlang:
    <<1, 2>> = py:bytearray([1, 2]),
    ok.

%% map, filter, zip, enumerate, reversed give lists; iter gives a handle that
%% next/1,2 walk; a lazy map is a handle when asked for; callables are
%% handles or Erlang funs.
iterators(_Config) ->
    [2, 4] = py:map(py:methodcaller(<<"__mul__">>, 2), [1, 2]),
    It = py:iter([1, 2]),
    true = is_reference(It),
    1 = py:next(It),
    2 = py:next(It),
    {'EXIT', {{python, <<"builtins.StopIteration">>, _, _}, _}} = catch py:next(It),
    done = py:next(It, done),
    Next = py:attr(py:iter([1, 2, 0, 3]), '__next__'),
    [1, 2] = py:pylist(py:iter(Next, 0)),
    %% An endless iterator stays lazy as a handle.
    {ok, Lazy} = py:call({builtins, map}, [py:const(builtins, abs), py:func(itertools, count, [-2])],
                         [], #{return => handle}),
    [2, 1, 0] = [py:next(Lazy) || _ <- [1, 2, 3]],
    [{0, a}] = py:enumerate([a]),
    [<<"c">>, <<"b">>, <<"a">>] = py:reversed(<<"abc">>),
    [1, 2] = py:getitem([1, 2, 3], py:slice(2)),
    [<<"b">>, <<"a">>] = py:sorted([<<"a">>, <<"b">>], undefined, true),
    %% Erlang funs are callables too, called back in this process.
    Self = self(),
    [2, 4] = py:map(fun(X) -> Self = self(), X * 2 end, [1, 2]),
    [11, 22] = py:map(fun(X, Y) -> X + Y end, [1, 2], [10, 20]),
    [2, 3] = py:filter(fun(X) -> X > 1 end, [1, 2, 3]),
    [3, 2, 1] = py:sorted([1, 3, 2], #{key => fun(X) -> -X end}),
    [3, 2, 1] = py:sorted([1, 3, 2], fun(X) -> -X end, false),
    ok.

%%% Server functions and REPL helpers

server_helpers(_Config) ->
    {ok, started} = py:start(),
    Sup = py:'get-sup-pid'(),
    Sup = whereis(py_sup),
    Pids = py:'get-python-pids'(),
    #{size := Size} = py:pool_info(default),
    Size = length(Pids),
    true = lists:all(fun erlang:is_process_alive/1, Pids),
    {ok, _} = py:'add-server'(py_lfe_extra),
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => py_lfe_extra}),
    #{size := 1} = py:pool_info(py_lfe_extra),
    {error, {already_started, py_lfe_extra}} = py:'add-server'(py_lfe_extra),
    ok = py:stop_pool(py_lfe_extra),
    <<"int">> = py:ptype(1),
    <<"str">> = py:ptype(<<"x">>),
    <<"erlang.Atom">> = py:ptype(a),
    <<"datetime.date">> = py:ptype(py:func('datetime.date', today)),
    %% The class of the object, not of the term it would convert to.
    <<"collections.OrderedDict">> =
        py:ptype(py:eval("__import__('collections').OrderedDict()", #{}, #{return => handle})),
    <<"dict">> = py:ptype(py:init(collections, 'OrderedDict')),
    {ok, <<"(1+2j)\n">>} = with_capture(fun() -> py:prepr(py:complex(1, 2)) end),
    {ok, <<"'a'\n">>} = with_capture(fun() -> py:prepr(<<"a">>) end),
    ok.

py_util(_Config) ->
    Versions = py:get_versions(),
    Versions = 'py-util':'get-versions'(),
    {py, Py} = lists:keyfind(py, 1, Versions),
    Py = 'py-util':'get-py-version'(),
    Python = 'py-util':'get-python-version'(),
    Python = py:eval("__import__('sys').version"),
    ok.

start_stop_restart(_Config) ->
    {ok, started} = py:start(),
    Sup = py:'get-sup-pid'(),
    {ok, restarted} = py:restart(),
    NewSup = py:'get-sup-pid'(),
    true = is_pid(NewSup) andalso NewSup =/= Sup,
    3 = py:add(1, 2),
    {ok, stopped} = py:stop(),
    undefined = py:'get-sup-pid'(),
    [] = py:'get-python-pids'(),
    {ok, stopped} = py:stop(),
    {ok, started} = py:start(),
    3 = py:add(1, 2),
    ok.
