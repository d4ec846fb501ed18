%% @doc The codec (issue 3): every Erlang term to Python and back, through the
%% shared corpus, a PropEr property, the bytes/buffer/str markers, handles,
%% encoders, and the exact errors for what cannot be converted.
-module(py_codec_SUITE).

-include_lib("common_test/include/ct.hrl").
-include_lib("proper/include/proper.hrl").

-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2, init_per_testcase/2, end_per_testcase/2]).
-export([corpus_in_python/1, corpus_round_trip_eval/1, corpus_round_trip_call/1,
         corpus_round_trip_dirty/1, corpus_kwargs/1,
         runtime_corpus_in_python/1, runtime_corpus_round_trip/1,
         from_python_corpus/1, from_python_corpus_dirty/1, sets/1,
         atoms_never_made/1,
         bytes_marker/1, bytes_large_result/1, buffer_marker/1,
         buffer_zero_copy/1, buffer_outlives_binary/1, str_chardata/1,
         to_binary/1, to_binary_not_buffer/1,
         handle_datetime/1, handle_identity/1, handle_kinds/1,
         return_handle/1, value_plain/1, value_encoder/1,
         error_improper_list/1, error_improper_list_nested/1, error_bitstring/1,
         error_unhashable_key/1, error_too_deep_erlang/1,
         error_too_deep_python/1, error_cycle_list/1, error_cycle_dict/1,
         error_lone_surrogate/1, error_in_kwargs/1, error_in_large_argument/1, deep_but_allowed/1,
         prop_round_trip/1, handle_leak/1,
         large_map/1, large_dict_from_python/1, large_list_and_tuple/1]).

-define(LEAK_POOL, py_codec_leak).
%% The pool of workers of the `worker' group.
-define(WORKERS, py_codec_workers).

suite() ->
    [{timetrap, {minutes, 5}}].

all() ->
    [{group, corpus}, {group, markers}, {group, handles}, {group, errors},
     prop_round_trip, handle_leak, {group, large}, {group, depth}, {group, worker}].

groups() ->
    [{corpus, [], [corpus_in_python, corpus_round_trip_eval, corpus_round_trip_call,
                   corpus_round_trip_dirty, corpus_kwargs,
                   runtime_corpus_in_python, runtime_corpus_round_trip,
                   from_python_corpus, from_python_corpus_dirty, sets,
                   atoms_never_made]},
     {markers, [], [bytes_marker, bytes_large_result, buffer_marker, buffer_zero_copy,
                    buffer_outlives_binary, str_chardata, to_binary,
                    to_binary_not_buffer]},
     {handles, [], [handle_datetime, handle_identity, handle_kinds, return_handle,
                    value_plain, value_encoder]},
     {errors, [], [error_improper_list, error_improper_list_nested, error_bitstring,
                   error_unhashable_key, error_cycle_list, error_cycle_dict,
                   error_lone_surrogate, error_in_kwargs, error_in_large_argument]},
     %% Last: big and deep terms are where a crash would be most likely.
     {large, [], [large_map, large_dict_from_python, large_list_and_tuple]},
     {depth, [], [deep_but_allowed, error_too_deep_python, error_too_deep_erlang]},
     %% The same cases with every py call that names no place on a pool of one
     %% worker (in_place/2: a case in this group wraps its body in it): the
     %% worker's codec against the same corpus. One worker: see py_api_SUITE's
     %% group. Left out:
     %% corpus_round_trip_dirty, from_python_corpus_dirty (`on => dirty' only);
     %% buffer_zero_copy (no copy is in-VM only: a worker's memoryview is over a
     %% copy, docs/worker-protocol.md); buffer_outlives_binary (a pool of
     %% contexts of its own; a worker's buffer is a copy anyway); value_encoder
     %% (an encoder is registered in the interpreter that runs the exec, one
     %% worker, and the case expects the dirty path to use it); handle_leak (a
     %% pool of contexts and the NIF's handle count: py_worker_SUITE:proxy_gc
     %% is the worker's).
     {worker, [], [corpus_in_python, corpus_round_trip_eval, corpus_round_trip_call,
                   corpus_kwargs, runtime_corpus_in_python, runtime_corpus_round_trip,
                   from_python_corpus, sets, atoms_never_made,
                   bytes_marker, bytes_large_result, buffer_marker, str_chardata,
                   to_binary, to_binary_not_buffer,
                   handle_datetime, handle_identity, handle_kinds, return_handle, value_plain,
                   error_improper_list, error_improper_list_nested, error_bitstring,
                   error_unhashable_key, error_cycle_list, error_cycle_dict,
                   error_lone_surrogate, error_in_kwargs, error_in_large_argument,
                   prop_round_trip,
                   large_map, large_dict_from_python, large_list_and_tuple,
                   deep_but_allowed, error_too_deep_python, error_too_deep_erlang]}].

init_per_suite(Config) ->
    ok = py_test_util:start(),
    ok = py_test_util:add_corpus_path(),
    ok = py_test_util:add_python_path(?config(data_dir, Config)),
    Config.

end_per_suite(_Config) ->
    ok.

%% The workers find corpus_check (and the suite's data) on their path.
init_per_group(worker, Config) ->
    Path = [py_test_util:corpus_dir(), ?config(data_dir, Config)],
    py_test_util:start_worker_group(?WORKERS, #{size => 1, path => Path}, Config);
init_per_group(_Group, Config) ->
    Config.

end_per_group(_Group, Config) ->
    py_test_util:stop_worker_group(Config).

init_per_testcase(_Case, Config) ->
    Config.

end_per_testcase(_Case, _Config) ->
    py_test_util:assert_mailbox_empty().

%% A case body, with the group's place (if any) as the default of its calls.
in_place(Config, Fun) ->
    py_test_util:in_place(Config, Fun).

%%% Corpus

%% Each value, converted, is compared in Python with the expected Python value
%% (types included, all the way down).
corpus_in_python(Config) -> in_place(Config, fun() ->
    Failed = [{Name, describe(Term)}
              || {Name, Term, Expr, _} <- py_test_util:corpus(),
                 not check_in_python(Term, Expr)],
    [] = Failed,
    ok
end).

corpus_round_trip_eval(Config) -> in_place(Config, fun() ->
    Failed = [{Name, Term, Got}
              || {Name, Term, _, Back} <- py_test_util:corpus(),
                 Got <- [py:eval(<<"__v">>, #{'__v' => Term})],
                 Got =/= py_test_util:expected(Term, Back)],
    [] = Failed,
    ok
end).

corpus_round_trip_call(Config) -> in_place(Config, fun() ->
    Failed = [{Name, Term, Got}
              || {Name, Term, _, Back} <- py_test_util:corpus(),
                 Got <- [py:call('corpus_check.identity', [Term])],
                 Got =/= {ok, py_test_util:expected(Term, Back)}],
    [] = Failed,
    ok
end).

%% The dirty path uses the same codec.
corpus_round_trip_dirty(_Config) ->
    Failed = [{Name, Term, Got}
              || {Name, Term, _, Back} <- py_test_util:corpus(),
                 Got <- [py:call('corpus_check.identity', [Term], [], #{on => dirty})],
                 Got =/= {ok, py_test_util:expected(Term, Back)}],
    [] = Failed,
    ok.

%% Keyword argument values go through the same conversion, keyed by atom or binary.
corpus_kwargs(Config) -> in_place(Config, fun() ->
    Failed = [{Name, Term, Got}
              || {Name, Term, _, Back} <- py_test_util:corpus(),
                 Got <- [py:call('builtins.dict', [], [{value, Term}, {<<"bin">>, Term}])],
                 Got =/= {ok, #{<<"value">> => py_test_util:expected(Term, Back),
                                <<"bin">> => py_test_util:expected(Term, Back)}}],
    [] = Failed,
    ok
end).

runtime_corpus_in_python(Config) -> in_place(Config, fun() ->
    Failed = [{Name, Term}
              || {Name, Term, Pred, _} <- py_test_util:runtime_corpus(),
                 true =/= py:eval(<<"__import__('corpus_check').predicate(__v, __e)">>,
                                  #{'__v' => Term, '__e' => Pred})],
    [] = Failed,
    ok
end).

runtime_corpus_round_trip(Config) -> in_place(Config, fun() ->
    Failed = [{Name, Term, Got}
              || {Name, Term, _, Back} <- py_test_util:runtime_corpus(),
                 Got <- [py:eval(<<"__v">>, #{'__v' => Term}),
                         py:call('corpus_check.identity', [Term], [], #{on => dirty})],
                 not same_result(Got, py_test_util:expected(Term, Back))],
    [] = Failed,
    %% A fun that went through Python can still be called.
    Fun = fun(X) -> X * 3 end,
    Back = py:eval(<<"__v">>, #{'__v' => Fun}),
    21 = Back(7),
    ok
end).

from_python_corpus(Config) -> in_place(Config, fun() ->
    Failed = [{Name, Expr, Expected, Got}
              || {Name, Expr, Expected} <- py_test_util:from_python_corpus(),
                 Got <- [py:eval(<<"__import__('corpus_check').evaluate(__e)">>,
                                 #{'__e' => Expr})],
                 Got =/= Expected],
    [] = Failed,
    ok
end).

from_python_corpus_dirty(_Config) ->
    Failed = [{Name, Expr, Expected, Got}
              || {Name, Expr, Expected} <- py_test_util:from_python_corpus(),
                 Got <- [py:call('corpus_check.evaluate', [Expr], [], #{on => dirty})],
                 Got =/= {ok, Expected}],
    [] = Failed,
    ok.

%% Sets come back as lists in no particular order.
sets(Config) -> in_place(Config, fun() ->
    [1, 2, 3] = lists:sort(py:eval(<<"{3, 1, 2}">>)),
    [b, <<"a">>] = lists:sort(py:eval(<<"frozenset(['a', __import__('erlang').Atom('b')])">>)),
    [{1, 2}] = py:eval(<<"{(1, 2), (1, 2)}">>),
    ok
end).

%% A str never becomes an atom, so Python cannot fill the atom table.
atoms_never_made(Config) -> in_place(Config, fun() ->
    Text = <<"py_codec_SUITE_no_such_atom_", (integer_to_binary(erlang:unique_integer([positive])))/binary>>,
    Text = py:eval(<<"t">>, #{t => Text}),
    #{Text := 1} = py:eval(<<"{t: 1}">>, #{t => Text}),
    {'EXIT', {badarg, _}} = (catch binary_to_existing_atom(Text, utf8)),
    ok
end).

%%% Markers: bytes, buffer, str

bytes_marker(Config) -> in_place(Config, fun() ->
    Bin = <<1, 2, 255, 0>>,
    true = py:eval(<<"type(b) is bytes and b == b'\\x01\\x02\\xff\\x00'">>,
                   #{b => py:bytes(Bin)}),
    Bin = py:eval(<<"b">>, #{b => py:bytes(Bin)}),
    <<>> = py:eval(<<"b">>, #{b => py:bytes(<<>>)}),
    %% The marker works nested inside data and as a call argument.
    true = py:eval(<<"[type(x) for x in l] == [bytes, str]">>,
                   #{l => [py:bytes(<<"a">>), <<"a">>]}),
    4 = py:func(builtins, len, [py:bytes(Bin)]),
    {'EXIT', {function_clause, _}} = (catch py:bytes(<<1:3>>)),
    ok
end).

%% Python bytes results, small and large, come back as the same binary.
bytes_large_result(Config) -> in_place(Config, fun() ->
    All = list_to_binary(lists:seq(0, 255)),
    MiB = binary:copy(All, 4096),
    MiB = py:eval(<<"bytes(range(256)) * 4096">>),
    Ten = binary:copy(<<16#ab>>, 10000000),
    Ten = py:eval(<<"b'\\xab' * 10000000">>),
    %% Sub-slices and the round trip of a large bytes marker.
    MiB = py:eval(<<"b">>, #{b => py:bytes(MiB)}),
    <<"xyz">> = py:eval(<<"bytes(b'xyz')">>),
    ok
end).

buffer_marker(Config) -> in_place(Config, fun() ->
    Bin = binary:copy(<<"0123456789abcdef">>, 65536),
    Size = byte_size(Bin),
    Size = 1048576,
    true = py:eval(<<"type(m) is memoryview and m.readonly and m.nbytes == 1048576 "
                     "and m.format == 'B' and m.ndim == 1 and bytes(m[:4]) == b'0123'">>,
                   #{m => py:buffer(Bin)}),
    %% Read-only: writing raises.
    {python, <<"builtins.TypeError">>, <<"cannot modify read-only memory">>, _} =
        py_test_util:raised(fun() -> py:exec(<<"m[0] = 65">>, #{m => py:buffer(Bin)}) end),
    %% numpy reads it (and cannot write it either).
    Sum = lists:sum(binary_to_list(Bin)),
    Sum = py:eval(<<"int(__import__('numpy').frombuffer(m, dtype='uint8').sum())">>,
                  #{m => py:buffer(Bin)}),
    false = py:eval(<<"__import__('numpy').frombuffer(m, dtype='uint8').flags.writeable">>,
                    #{m => py:buffer(Bin)}),
    %% A sub-binary is viewed as exactly its bytes.
    Part = binary:part(Bin, 10, 100),
    Part = py:to_binary(py:buffer(Part)),
    true = py:eval(<<"bytes(m) == p">>, #{m => py:buffer(Part), p => py:bytes(Part)}),
    %% Empty binary.
    0 = py:eval(<<"m.nbytes">>, #{m => py:buffer(<<>>)}),
    ok
end).

%% Two views over the same (off-heap) binary see the same memory: nothing was
%% copied. numpy.frombuffer shares the view's memory, so its data address is
%% the binary's.
buffer_zero_copy(_Config) ->
    Bin = binary:copy(<<7>>, 1048576),
    true = py:eval(<<"(lambda np: np.frombuffer(a, dtype='uint8').__array_interface__['data'][0]"
                     " == np.frombuffer(b, dtype='uint8').__array_interface__['data'][0])"
                     "(__import__('numpy'))">>,
                   #{a => py:buffer(Bin), b => py:buffer(Bin)}),
    ok.

%% The view keeps the binary alive after the Erlang side dropped it.
buffer_outlives_binary(_Config) ->
    {ok, _} = py:start_pool(py_codec_buffer, #{size => 1}),
    try
        Self = self(),
        %% A namespace shared on purpose: the process that binds the buffer exits.
        Ns = py:namespace(#{on => py_codec_buffer}),
        {Pid, MRef} = spawn_monitor(
                        fun() ->
                                Bin = binary:copy(<<"keepme!!">>, 131072),
                                ok = py:exec(<<"kept = m">>, #{m => py:buffer(Bin)},
                                             #{namespace => Ns}),
                                Self ! {stored, erlang:md5(Bin)}
                        end),
        Md5 = receive {stored, M} -> M after 10000 -> ct:fail(no_store) end,
        receive {'DOWN', MRef, process, Pid, normal} -> ok after 10000 -> ct:fail(no_exit) end,
        true = erlang:garbage_collect(),
        Bytes = py:eval(<<"bytes(kept)">>, #{}, #{namespace => Ns}),
        Md5 = erlang:md5(Bytes),
        ok = py:exec(<<"del kept">>, #{}, #{namespace => Ns})
    after
        ok = py:stop_pool(py_codec_buffer)
    end.

str_chardata(Config) -> in_place(Config, fun() ->
    Expected = <<"héllo 🐍"/utf8>>,
    Expected = py:str("héllo 🐍"),
    Expected = py:str([<<"hé"/utf8>>, "llo", [$\s, 16#1F40D]]),
    <<"hi">> = py:str([104, 105]),
    <<"42">> = py:str(42),
    <<"1.5">> = py:str(1.5),
    <<"hello">> = py:str(hello),
    true = py:eval(<<"type(s) is str and s == 'h\\u00e9llo \\U0001f40d'">>,
                   #{s => py:str("héllo 🐍")}),
    %% A charlist without py:str/1 is a list of ints.
    [104, 105] = py:eval(<<"s">>, #{s => "hi"}),
    {'EXIT', {badarg, _}} = (catch py:str([16#D800])),
    ok
end).

to_binary(Config) -> in_place(Config, fun() ->
    Bin = <<"abc", 0, 255>>,
    Bin = py:to_binary(py:bytes(Bin)),
    Bin = py:to_binary(py:buffer(Bin)),
    BA = py:eval(<<"bytearray(b'abc\\x00\\xff')">>, #{}, #{return => handle}),
    true = is_reference(BA),
    Bin = py:to_binary(BA),
    Arr = py:eval(<<"__import__('numpy').arange(4, dtype='<i4')">>),
    true = is_reference(Arr),
    <<0:32/little, 1:32/little, 2:32/little, 3:32/little>> = py:to_binary(Arr),
    %% A non-contiguous array is copied in order.
    Strided = py:eval(<<"__import__('numpy').arange(8, dtype='uint8')[::2]">>),
    <<0, 2, 4, 6>> = py:to_binary(Strided),
    MV = py:eval(<<"memoryview(b'xyz')">>),
    <<"xyz">> = py:to_binary(MV),
    ok
end).

to_binary_not_buffer(Config) -> in_place(Config, fun() ->
    {python, <<"builtins.TypeError">>, <<"a bytes-like object is required, not 'object'">>, _} =
        py_test_util:raised(fun() -> py:to_binary(py:eval(<<"object()">>)) end),
    <<"ok">> = py:to_binary(py:bytes(<<"ok">>)),
    ok
end).

%%% Handles

handle_datetime(Config) -> in_place(Config, fun() ->
    Now = py:func('datetime.datetime', now),
    true = is_reference(Now),
    true = py_test_util:is_handle(Now),
    <<"datetime">> = py:eval(<<"type(d).__name__">>, #{d => Now}),
    Year = py:attr(Now, year),
    true = is_integer(Year) andalso Year >= 2024,
    ok
end).

%% Passing a handle back gives Python the very same object.
handle_identity(Config) -> in_place(Config, fun() ->
    H = py:eval(<<"__import__('datetime').datetime(2020, 1, 2, 3, 4, 5)">>),
    true = is_reference(H),
    true = py:eval(<<"a is b">>, #{a => H, b => H}),
    Id = py:id(H),
    Id = py:id(H),
    Id = py:eval(<<"id(x)">>, #{x => H}),
    %% Inside containers, and on the dirty path, too.
    true = py:eval(<<"l[0] is d['k'] and t[1] is l[0]">>,
                   #{l => [H], d => #{k => H}, t => {1, H}}),
    {ok, Id} = py:call('builtins.id', [H], [], #{on => dirty}),
    <<"2020-01-02T03:04:05">> = py:method(H, isoformat),
    ok
end).

handle_kinds(Config) -> in_place(Config, fun() ->
    Exprs = [<<"__import__('datetime').date(1923, 4, 2)">>,
             <<"complex(1, 2)">>,
             <<"__import__('decimal').Decimal('1.5')">>,
             <<"__import__('os')">>,
             <<"lambda x: x">>,
             <<"(i for i in range(3))">>,
             <<"__import__('numpy').zeros(3)">>,
             <<"object()">>,
             <<"memoryview(b'x')">>,
             <<"range(3)">>,
             <<"type">>],
    NotHandles = [{E, V} || E <- Exprs, V <- [py:eval(E)], not py_test_util:is_handle(V)],
    [] = NotHandles,
    %% A generator handle can be consumed later.
    Gen = py:eval(<<"(i * i for i in range(4))">>),
    [0, 1, 4, 9] = py:pylist(Gen),
    <<"(1+2j)">> = py:repr(py:eval(<<"complex(1, 2)">>)),
    ok
end).

return_handle(Config) -> in_place(Config, fun() ->
    H = py:eval(<<"[1, 2, 3]">>, #{}, #{return => handle}),
    true = is_reference(H),
    3 = py:len(H),
    {ok, H2} = py:call('builtins.list', [[4, 5]], [], #{return => handle}),
    true = is_reference(H2),
    [4, 5] = py:value(H2),
    ok
end).

value_plain(Config) -> in_place(Config, fun() ->
    H = py:eval(<<"{'a': [1, (2, None)]}">>, #{}, #{return => handle}),
    #{<<"a">> := [1, {2, undefined}]} = py:value(H),
    %% A value that is not plain data (and has no encoder) cannot become a
    %% term: the error carries a handle to the very object.
    D = py:eval(<<"__import__('datetime').date(2000, 1, 1)">>),
    {unsupported, [], D2} = py_test_util:raised(fun() -> py:value(D) end),
    true = py_test_util:is_handle(D2),
    true = py:eval(<<"a is b">>, #{a => D, b => D2}),
    ok
end).

value_encoder(_Config) ->
    Frac = py:eval(<<"__import__('fractions').Fraction(1, 3)">>),
    true = py_test_util:is_handle(Frac),
    ok = py:exec(<<"import erlang, fractions\n"
                   "erlang.register_encoder(fractions.Fraction,\n"
                   "    lambda f: (erlang.Atom('fraction'), f.numerator, f.denominator))\n">>),
    try
        {fraction, 1, 3} = py:value(Frac),
        %% Every result of that type is encoded now, in every mode.
        {fraction, 2, 5} = py:eval(<<"__import__('fractions').Fraction(2, 5)">>),
        [{fraction, 1, 2}] = py:eval(<<"[__import__('fractions').Fraction(1, 2)]">>),
        {ok, {fraction, 3, 4}} =
            py:call('fractions.Fraction', [3, 4], [], #{on => dirty}),
        %% return => handle still gives a handle.
        H = py:eval(<<"__import__('fractions').Fraction(1, 7)">>, #{}, #{return => handle}),
        true = py_test_util:is_handle(H),
        {fraction, 1, 7} = py:value(H)
    after
        ok = py:exec(<<"import erlang, fractions\n"
                       "erlang.unregister_encoder(fractions.Fraction)\n">>)
    end,
    true = py_test_util:is_handle(py:eval(<<"__import__('fractions').Fraction(1, 3)">>)),
    ok.

%%% Errors: each exact, each followed by a call that works

error_improper_list(Config) -> in_place(Config, fun() ->
    {error, {unsupported, [0], [1 | 2]}} = py:call('corpus_check.identity', [[1 | 2]]),
    {error, {unsupported, [1], [a, b | c]}} =
        py:call('corpus_check.identity', [ok, [a, b | c]]),
    next_call_works()
end).

error_improper_list_nested(Config) -> in_place(Config, fun() ->
    Bad = [1 | <<"tail">>],
    {error, {unsupported, [0, 1, key], Bad}} =
        py:call('corpus_check.identity', [[x, #{key => Bad}]]),
    {error, {unsupported, [0, 2, 0], Bad}} =
        py:call('corpus_check.identity', [{a, b, {Bad}}]),
    next_call_works()
end).

error_bitstring(Config) -> in_place(Config, fun() ->
    {error, {unsupported, [0], <<1:3>>}} = py:call('corpus_check.identity', [<<1:3>>]),
    {error, {unsupported, [0, 1], <<255, 1:7>>}} =
        py:call('corpus_check.identity', [[<<"ok">>, <<255, 1:7>>]]),
    next_call_works()
end).

%% The path ends with the offending key, which is also the term.
error_unhashable_key(Config) -> in_place(Config, fun() ->
    {error, {unsupported, [0, [1, 2]], [1, 2]}} =
        py:call('corpus_check.identity', [#{[1, 2] => a}]),
    {error, {unsupported, [0, k, {[x]}], {[x]}}} =
        py:call('corpus_check.identity', [#{k => #{{[x]} => b}}]),
    MapKey = #{a => 1},
    {error, {unsupported, [0, MapKey1], MapKey2}} =
        py:call('corpus_check.identity', [#{MapKey => b}]),
    {MapKey, MapKey} = {MapKey1, MapKey2},
    %% A tuple key is fine when everything in it is hashable.
    {ok, #{{1, <<"2">>} := c}} = py:call('corpus_check.identity', [#{{1, <<"2">>} => c}]),
    next_call_works()
end).

error_too_deep_erlang(Config) -> in_place(Config, fun() ->
    Deep = nest(20000),
    {error, {too_deep, Path}} = py:call('corpus_check.identity', [Deep]),
    %% The argument index, then max_depth list indices: the argument list
    %% itself is no level of data.
    Path = lists:duplicate(max_depth() + 1, 0),
    {error, {too_deep, Path}} = py:call('corpus_check.identity', [Deep], [], #{on => dirty}),
    %% Exactly max_depth levels (nest(N) has N + 1) is the deepest accepted.
    AtLimit = nest(max_depth() - 1),
    Over = nest(max_depth()),
    [{ok, 1} = py:call('builtins.len', [AtLimit], [], #{on => On}) || On <- [default, dirty]],
    [{error, {too_deep, _}} = py:call('builtins.len', [Over], [], #{on => On})
     || On <- [default, dirty]],
    next_call_works()
end).

error_too_deep_python(Config) -> in_place(Config, fun() ->
    Code = <<"__import__('functools').reduce(lambda a, _: [a], range(20000), [])">>,
    {too_deep, Path} = py_test_util:raised(fun() -> py:eval(Code) end),
    Path = lists:duplicate(max_depth(), 0),
    {too_deep, Path} = py_test_util:raised(fun() -> py:eval(Code, #{}, #{on => dirty}) end),
    next_call_works()
end).

%% The path starts where the cycle closes and may follow it round (the
%% NIF finds cycles when it reaches the depth limit).
error_cycle_list(Config) -> in_place(Config, fun() ->
    {cycle, [1, 0 | Rest]} =
        py_test_util:raised(fun() -> py:eval(<<"(lambda l: [0, l] if l.append(l) is None else 0)([])">>) end),
    [] = [X || X <- Rest, X =/= 0],
    next_call_works()
end).

error_cycle_dict(Config) -> in_place(Config, fun() ->
    {cycle, [<<"me">> | Rest]} =
        py_test_util:raised(fun() -> py:eval(<<"(lambda d: d if d.update(me=d) is None else 0)({})">>) end),
    [] = [X || X <- Rest, X =/= <<"me">>],
    %% Shared (not cyclic) references are fine.
    [[1], [1]] = py:eval(<<"(lambda x: [x, x])([1])">>),
    next_call_works()
end).

%% A lone surrogate outside the surrogateescape range cannot become UTF-8.
error_lone_surrogate(Config) -> in_place(Config, fun() ->
    {unsupported, [], H} = py_test_util:raised(fun() -> py:eval(<<"'a\\ud800b'">>) end),
    true = py_test_util:is_handle(H),
    <<"'a\\ud800b'">> = py:repr(H),
    {unsupported, [1], H2} = py_test_util:raised(fun() -> py:eval(<<"['ok', '\\udfff']">>) end),
    true = py_test_util:is_handle(H2),
    next_call_works()
end).

error_in_kwargs(Config) -> in_place(Config, fun() ->
    {error, {unsupported, [<<"base">>], [1 | 2]}} =
        py:call('builtins.int', [<<"10">>], [{base, [1 | 2]}]),
    {error, {unsupported, [<<"base">>], <<1:1>>}} =
        py:call('builtins.int', [<<"10">>], #{<<"base">> => <<1:1>>}),
    %% Bindings of eval/exec: the path starts with the name.
    {unsupported, [<<"v">>, 1], [1 | 2]} =
        py_test_util:raised(fun() -> py:eval(<<"v">>, #{v => [ok, [1 | 2]]}) end),
    next_call_works()
end).

%% Under the limit goes through, both ways, on every path.
deep_but_allowed(Config) -> in_place(Config, fun() ->
    Deep = nest(9000),
    Code = <<"__import__('functools').reduce(lambda a, _: [a], range(9000), [])">>,
    Deep = py:eval(Code, #{}, #{on => dirty}),
    Deep = py:eval(Code),
    {ok, Deep} = py:call('corpus_check.identity', [Deep], [], #{on => dirty}),
    {ok, Deep} = py:call('corpus_check.identity', [Deep]),
    Deep = py:eval(<<"__v">>, #{'__v' => Deep}),
    next_call_works()
end).

%%% Large values

large_map(Config) -> in_place(Config, fun() ->
    Map = maps:from_list([{integer_to_binary(I), I} || I <- lists:seq(1, 10000)]),
    Map = py:eval(<<"__v">>, #{'__v' => Map}),
    {ok, Map} = py:call('corpus_check.identity', [Map], [], #{on => dirty}),
    10000 = py:len(Map),
    ok
end).

large_dict_from_python(Config) -> in_place(Config, fun() ->
    Expected = maps:from_list([{I, I * I} || I <- lists:seq(0, 999)]),
    [Expected = py:eval(<<"{i: i * i for i in range(1000)}">>, #{}, #{on => On})
     || On <- [default, dirty]],
    Sizes = [33, 64, 129, 200, 1000, 65536],
    [N = map_size(py:eval(<<"dict.fromkeys(range(n))">>, #{n => N})) || N <- Sizes],
    ok
end).

large_list_and_tuple(Config) -> in_place(Config, fun() ->
    List = lists:seq(1, 100000),
    List = py:eval(<<"__v">>, #{'__v' => List}),
    Tuple = list_to_tuple(List),
    Tuple = py:eval(<<"__v">>, #{'__v' => Tuple}),
    Tuple = py:eval(<<"tuple(range(1, 100001))">>),
    Mixed = [{I, integer_to_binary(I), #{I => [I]}} || I <- lists:seq(1, 20000)],
    Mixed = py:eval(<<"__v">>, #{'__v' => Mixed}),
    ok
end).

%%% PropEr

prop_round_trip(Config) -> in_place(Config, fun() ->
    NumTests = case os:getenv("PY_PROPER_NUMTESTS") of
                   false -> 10000;
                   N -> list_to_integer(N)
               end,
    Opts = [{numtests, NumTests}, {on_output, fun(F, A) -> ct:log(F, A) end}],
    true = proper:quickcheck(round_trip_property(), Opts),
    ok
end).

round_trip_property() ->
    ?FORALL(T, g_term(),
            begin
                Back = py:eval(<<"__v">>, #{'__v' => T}),
                ?WHENFAIL(ct:pal("sent ~p~ngot  ~p", [T, Back]), Back =:= T)
            end).

g_term() ->
    ?SIZED(Size, g_term(Size)).

g_term(Size) when Size =< 1 ->
    g_leaf();
g_term(Size) ->
    Sub = Size div 3,
    frequency([{4, g_leaf()},
               {1, ?LAZY(list(g_term(Sub)))},
               {1, ?LAZY(?LET(L, list(g_term(Sub)), list_to_tuple(L)))},
               {1, ?LAZY(?LET(KVs, list({g_key(), g_term(Sub)}), maps:from_list(KVs)))}]).

g_leaf() ->
    frequency([{3, integer()},
               {1, g_bignum()},
               {2, float()},
               {2, binary()},
               {1, g_invalid_utf8()},
               {1, utf8()},
               {2, g_atom()},
               {1, elements([true, false, undefined])},
               {1, exactly(self())},
               {1, ?LET(_, integer(), make_ref())}]).

%% Keys that stay distinct in a Python dict: no floats (1.0 == 1), no
%% booleans (True == 1), no atom whose text could equal a binary key.
g_key() ->
    oneof([integer(), g_bignum(), binary(), g_key_atom(),
           ?LET({I, B}, {integer(), binary()}, {I, B}),
           exactly(self())]).

g_bignum() ->
    ?LET({I, Shift}, {non_neg_integer(), range(59, 300)},
         oneof([(I + 1) bsl Shift, -((I + 1) bsl Shift)])).

g_invalid_utf8() ->
    ?LET({Prefix, Bad, Suffix}, {binary(), elements([<<255>>, <<192, 128>>, <<237, 160, 128>>, <<226, 130>>]), binary()},
         <<Prefix/binary, Bad/binary, Suffix/binary>>).

%% A bounded set of atoms, so the atom table does not grow with numtests.
g_atom() ->
    oneof([elements([a, ok, error, nan, inf, 'Hello World', '', 'héllo', '日本語', '🐍']),
           ?LET(N, range(1, 50), list_to_atom("prop_atom_" ++ integer_to_list(N)))]).

g_key_atom() ->
    ?LET(N, range(1, 20), list_to_atom("\x{1F511}key_" ++ integer_to_list(N))).

%%% Handle leak

handle_leak(_Config) ->
    {ok, _} = py:start_pool(?LEAK_POOL, #{size => 1}),
    try
        {Live0, _} = counts(),
        %% Warm-up: caches, code, the pool's first allocations.
        ok = make_handles(20000),
        settle(Live0),
        Mem0 = erlang:memory(total),
        Handles0 = py_nif:handle_count(),
        {_, Created0} = counts(),
        T0 = erlang:monotonic_time(millisecond),
        ok = make_handles(1000000),
        T1 = erlang:monotonic_time(millisecond),
        ct:log("1,000,000 handles in ~p ms", [T1 - T0]),
        settle(Live0),
        {Live0, Created1} = counts(),
        1000000 = Created1 - Created0,
        Mem1 = erlang:memory(total),
        ct:log("memory before ~p, after ~p (~.2f%)", [Mem0, Mem1, 100 * (Mem1 - Mem0) / Mem0]),
        true = Mem1 < Mem0 * 1.1,
        true = py_nif:handle_count() =< Handles0
    after
        ok = py:stop_pool(?LEAK_POOL)
    end.

make_handles(0) ->
    ok;
make_handles(N) ->
    {ok, H} = py:call('leakcheck.Tracked', [], [], #{on => ?LEAK_POOL}),
    true = is_reference(H),
    make_handles(N - 1).

counts() ->
    {ok, Counts} = py:call('leakcheck.counts', [], [], #{on => ?LEAK_POOL}),
    Counts.

%% Dropped handles are released when the BEAM collects them; their decref
%% runs the next time Python is entered, so keep calling until it settles.
settle(Live0) ->
    ok = py_test_util:wait_until(
           fun() ->
                   true = erlang:garbage_collect(),
                   {Live, _} = counts(),
                   Live =:= Live0
           end, 10000).

%%% Helpers

check_in_python(Term, Expr) ->
    py:eval(<<"__import__('corpus_check').check(__v, __e)">>,
            #{'__v' => Term, '__e' => Expr}) =:= true.

describe(Term) ->
    py:eval(<<"__import__('corpus_check').describe(__v)">>, #{'__v' => Term}).

%% Opaque terms from Python must come back =:=; a fun compares by identity.
same_result(Got, Expected) ->
    Got =:= Expected orelse Got =:= {ok, Expected}.

next_call_works() ->
    2 = py:eval(<<"1 + 1">>),
    {ok, [1, <<"a">>]} = py:call('corpus_check.identity', [[1, <<"a">>]]),
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => dirty}),
    ok.

nest(0) -> [];
nest(N) -> [nest(N - 1)].

max_depth() ->
    application:get_env(py, max_depth, 10000).

%% A big argument list is converted on a dirty scheduler before it reaches a context:
%% its errors have the same exact shape, and the next call works.
error_in_large_argument(Config) -> in_place(Config, fun() ->
    Big = lists:seq(1, 30000) ++ [[1 | 2]],
    {error, {unsupported, [0, 30000], [1 | 2]}} = py:call({builtins, len}, [Big], [], #{}),
    {error, {unsupported, [1, 30000], [1 | 2]}} = py:call({builtins, max}, [1, Big], [], #{}),
    {ok, 30001} = py:call({builtins, len}, [lists:seq(1, 30001)], [], #{}),
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{})
end).
