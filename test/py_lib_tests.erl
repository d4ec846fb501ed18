%% Names, bindings and eliding: everything of py that needs no Python.
-module(py_lib_tests).
-include_lib("eunit/include/eunit.hrl").

name_test() ->
    ?assertEqual(<<"math">>, py_lib:name(math)),
    ?assertEqual(<<"os.path">>, py_lib:name('os.path')),
    ?assertEqual(<<"os.path">>, py_lib:name(<<"os.path">>)),
    ?assertEqual(<<"héllo"/utf8>>, py_lib:name('héllo')).

bad_name_test_() ->
    [?_assertError({bad_name, N}, py_lib:name(N)) || N <- [[1, 2], 1, {math}, [], 1.0]].

%% A name given as a string is a name (the usual first mistake).
string_name_test() ->
    ?assertEqual(<<"math">>, py_lib:name("math")),
    ?assertEqual(<<"héllo"/utf8>>, py_lib:name("héllo")),
    ?assert(py_lib:is_text("math")),
    ?assertNot(py_lib:is_text([])),
    ?assertNot(py_lib:is_text([1, 2])),
    ?assertNot(py_lib:is_text(math)).

dotted_name_test() ->
    ?assertEqual(<<"math.pow">>, py_lib:name(math, pow)),
    ?assertEqual(<<"os.path.isdir">>, py_lib:name('os.path', isdir)),
    ?assertEqual(<<"os.path.isdir">>, py_lib:name(<<"os.path">>, <<"isdir">>)),
    ?assertEqual(<<"datetime.datetime.now">>, py_lib:name(datetime, 'datetime.now')),
    ?assertEqual(<<"math.pow">>, py_lib:name(math, "pow")),
    ?assertError({bad_name, [1]}, py_lib:name(math, [1])).

dotted_pair_test() ->
    ?assertEqual({math, pow}, py_lib:dotted(math, pow)),
    ?assertEqual({<<"os.path">>, <<"isdir">>}, py_lib:dotted(<<"os.path">>, <<"isdir">>)),
    ?assertEqual({datetime, 'datetime.now'}, py_lib:dotted(datetime, 'datetime.now')),
    ?assertEqual({<<"math">>, <<"pow">>}, py_lib:dotted(math, "pow")),
    ?assertError({bad_name, [1]}, py_lib:dotted(math, [1])),
    ?assertError({bad_name, 1}, py_lib:dotted(1, pow)).

builtin_test() ->
    ?assertEqual(<<"builtins.len">>, py_lib:builtin(len)),
    ?assertEqual(<<"builtins.list">>, py_lib:builtin(list)).

operator_test_() ->
    Expected = [{add, <<"operator.add">>}, {sub, <<"operator.sub">>},
                {mul, <<"operator.mul">>}, {truediv, <<"operator.truediv">>},
                {floordiv, <<"operator.floordiv">>}, {mod, <<"operator.mod">>},
                {neg, <<"operator.neg">>}, {pos, <<"operator.pos">>},
                {abs, <<"operator.abs">>}, {inv, <<"operator.inv">>},
                {lshift, <<"operator.lshift">>}, {rshift, <<"operator.rshift">>},
                {'and-', <<"operator.and_">>}, {'or-', <<"operator.or_">>},
                {'xor', <<"operator.xor">>}, {eq, <<"operator.eq">>},
                {ne, <<"operator.ne">>}, {lt, <<"operator.lt">>}, {le, <<"operator.le">>},
                {gt, <<"operator.gt">>}, {ge, <<"operator.ge">>},
                {'not-', <<"operator.not_">>}, {contains, <<"operator.contains">>},
                {getitem, <<"operator.getitem">>}, {concat, <<"operator.concat">>},
                {is, <<"operator.is_">>}, {is_not, <<"operator.is_not">>},
                %% LFE py's names: its dash is Python's underscore.
                {'is-', <<"operator.is_">>}, {'is-not', <<"operator.is_not">>},
                {countOf, <<"operator.countOf">>}, {length_hint, <<"operator.length_hint">>}],
    [?_assertEqual(Name, py_lib:operator(Fun)) || {Fun, Name} <- Expected].

every_operator_is_exported_test() ->
    Ops = [add, sub, mul, truediv, floordiv, mod, neg, pos, abs, inv, lshift, rshift,
           'and-', 'or-', 'xor', eq, ne, lt, le, gt, ge, 'not-', contains, getitem,
           concat, is, is_not],
    Exports = py:module_info(exports),
    ?assertEqual([], [Op || Op <- Ops,
                            not lists:keymember(Op, 1, Exports)]).

every_table_arity_is_exported_test() ->
    Table = [{func, [1, 2, 3, 4]}, {const, [1, 2, 3]}, {init, [1, 2, 3, 4]},
             {method, [2, 3, 4]}, {attr, [2]}, {pycall, [2, 3]}, {get_versions, [0]},
             {dict, [0, 1]}, {int, [1, 2]}, {float, [1]}, {str, [1]}, {bool, [1]},
             {pylist, [0, 1]}, {tuple, [1]}, {set, [1]}, {len, [1]}, {any, [1]},
             {all, [1]}, {pow, [2, 3]}, {round, [1, 2]}, {abs, [1]}, {min, [1]},
             {max, [1]}, {sum, [1]}, {sorted, [1]}, {range, [1, 2, 3]}, {type, [1]},
             {dir, [1]}, {pdir, [1]}, {vars, [1]}, {pvars, [1]}, {repr, [1]},
             {hash, [1]}, {isinstance, [2]}, {callable, [1]}, {id, [1]},
             {call, [2, 3, 4]}, {eval, [1, 2]}, {exec, [1, 2]}, {import, [1]},
             {value, [1]}, {to_binary, [1]}, {bytes, [1]}, {buffer, [1]},
             {start_pool, [2]}, {stop_pool, [1]}],
    Exports = py:module_info(exports),
    ?assertEqual([], [{F, A} || {F, As} <- Table, A <- As,
                                not lists:member({F, A}, Exports)]).

class_name_test() ->
    ?assertEqual(<<"builtins.int">>, py_lib:class_name(int)),
    ?assertEqual(<<"builtins.dict">>, py_lib:class_name(<<"dict">>)),
    ?assertEqual(<<"datetime.date">>, py_lib:class_name('datetime.date')),
    ?assertEqual(<<"collections.abc.Mapping">>,
                 py_lib:class_name(<<"collections.abc.Mapping">>)).

cast_name_test() ->
    ?assertEqual(<<"builtins.int">>, py_lib:cast_name(int)),
    ?assertEqual(<<"builtins.float">>, py_lib:cast_name(float)),
    ?assertEqual(<<"builtins.str">>, py_lib:cast_name(str)),
    ?assertError({bad_type, bool}, py_lib:cast_name(bool)).

bad_target_test_() ->
    [?_assertEqual({error, {bad_target, T}}, py_job:target(T, [], []))
     || T <- [[1, 2], 42, {math, [1]}, {make_ref(), 3}, {math, pow, 1}]].

code_test() ->
    ?assertEqual(<<"1 + 1">>, py_lib:code(<<"1 + 1">>)),
    ?assertEqual(<<"1 + 1">>, py_lib:code("1 + 1")),
    ?assertEqual(<<"'é'"/utf8>>, py_lib:code(["'", 233, <<"'">>])),
    ?assertError({bad_code, [16#110000]}, py_lib:code([16#110000])).

bindings_test() ->
    ?assertEqual(#{}, py_lib:bindings(#{})),
    ?assertEqual(#{<<"x">> => 1, <<"y">> => [a]},
                 py_lib:bindings(#{x => 1, <<"y">> => [a]})),
    ?assertError({bad_binding, 1}, py_lib:bindings(#{1 => x})),
    %% x and <<"x">> name one variable: refused, not merged.
    ?assertError({key_collision, [], _}, py_lib:bindings(#{x => 1, <<"x">> => 2})),
    ?assertError({bad_binding, "x"}, py_lib:bindings(#{"x" => 1})),
    ?assertError({bad_bindings, [{x, 1}]}, py_lib:bindings([{x, 1}])).

elide_limit_test() ->
    ?assertEqual(28, py_lib:elide_limit()).

elide_list_test() ->
    ?assertEqual([], py_lib:elide_list([])),
    L28 = [integer_to_binary(I) || I <- lists:seq(1, 28)],
    ?assertEqual(L28, py_lib:elide_list(L28)),
    ?assertEqual(L28 ++ [{more, 1}], py_lib:elide_list(L28 ++ [<<"29">>])),
    Long = [integer_to_binary(I) || I <- lists:seq(1, 100)],
    Elided = py_lib:elide_list(Long),
    ?assertEqual(29, length(Elided)),
    ?assertEqual(lists:sublist(Long, 28), lists:sublist(Elided, 28)),
    ?assertEqual({more, 72}, lists:last(Elided)).

elide_map_test() ->
    M28 = maps:from_list([{K, K} || K <- lists:seq(1, 28)]),
    ?assertEqual(M28, py_lib:elide_map(M28)),
    M29 = M28#{29 => 29},
    ?assertEqual(M28#{'$more' => 1}, py_lib:elide_map(M29)),
    Keys = [<<"k", (integer_to_binary(I + 100))/binary>> || I <- lists:seq(1, 40)],
    M40 = maps:from_list([{K, x} || K <- Keys]),
    Expected = maps:from_list([{K, x} || K <- lists:sublist(Keys, 28)]),
    ?assertEqual(Expected#{'$more' => 12}, py_lib:elide_map(M40)).

%% Charlist keys (LFE strings) become binaries; nothing else changes.
string_keys_test_() ->
    Ref = make_ref(),
    [?_assertEqual([{<<"a">>, 1}, {b, 2}, {<<"c">>, 3}], py_lib:string_keys([{"a", 1}, {b, 2}, {<<"c">>, 3}])),
     ?_assertEqual([{<<"héllo"/utf8>>, 1}], py_lib:string_keys([{"héllo", 1}])),
     ?_assertEqual([{<<>>, 0}], py_lib:string_keys([{"", 0}])),
     %% Later pairs with one key stay, for Python (or the NIF) to judge.
     ?_assertEqual([{<<"a">>, 1}, {<<"a">>, 2}], py_lib:string_keys([{"a", 1}, {"a", 2}])),
     %% Other elements keep their place.
     ?_assertEqual([[1, 2], {<<"a">>, 1}, x], py_lib:string_keys([[1, 2], {"a", 1}, x])),
     %% Nothing to change: the very same term.
     ?_assertEqual([{a, 1}], py_lib:string_keys([{a, 1}])),
     ?_assertEqual([], py_lib:string_keys([])),
     ?_assertEqual(#{a => 1}, py_lib:string_keys(#{a => 1})),
     ?_assertEqual(#{}, py_lib:string_keys(#{})),
     %% Not char lists: deep, negative, surrogate, improper keys.
     ?_assertEqual([{["a"], 1}], py_lib:string_keys([{["a"], 1}])),
     ?_assertEqual([{[-1], 1}], py_lib:string_keys([{[-1], 1}])),
     ?_assertEqual([{[16#D800], 1}], py_lib:string_keys([{[16#D800], 1}])),
     ?_assertEqual([{[$a | b], 1}], py_lib:string_keys([{[$a | b], 1}])),
     %% An improper list comes back untouched, for the NIF's bad_kwargs.
     ?_assertEqual([{"a", 1} | x], py_lib:string_keys([{"a", 1} | x])),
     %% A map with a charlist key becomes pairs, so "a" and <<"a">> stay two.
     ?_assertEqual([{<<"a">>, 1}, {<<"a">>, 2}],
                   lists:sort(py_lib:string_keys(#{"a" => 1, <<"a">> => 2}))),
     ?_assertEqual([{<<"a">>, 1}], py_lib:string_keys(#{"a" => 1})),
     ?_assertEqual(Ref, py_lib:string_keys(Ref))].
