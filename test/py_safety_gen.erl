%% @doc Seeded random terms for py_safety_SUITE's round-trip fuzz, with what
%% each must come back as after Erlang -> Python -> Erlang (docs/types.md).
%%
%% Only terms whose round trip the docs define are made:
%% <ul>
%% <li>integers of every size, finite floats, `true', `false', `undefined',
%%     other atoms (they come back as the same atom), binaries (any bytes: invalid
%%     UTF-8 round-trips through `surrogateescape'), proper lists (charlists are
%%     lists of integers), tuples, maps, pids, references, ports and funs;</li>
%% <li>`nil', which comes back as `undefined';</li>
%% <li>`py:bytes(Bin)' markers, which come back as `Bin'.</li>
%% </ul>
%% Map keys are drawn from hashable terms only (no lists, maps or markers in a
%% key), and a map never holds two keys that are equal in Python (`a' and
%% `<<"a">>', `1', `1.0' and `true', `0', `0.0' and `false', `undefined' and
%% `nil', and tuples of such): those are the key collisions of issue 11, an
%% error by contract, tested on their own.
-module(py_safety_gen).

-export([seed/0, state/2, term/1, canonical_key/1, compare/2]).

%% The environment variable that replays a run.
-define(SEED_VAR, "PY_FUZZ_SEED").

%% @doc The run's seed: `$PY_FUZZ_SEED' when set, else a new one.
-spec seed() -> pos_integer().
seed() ->
    case os:getenv(?SEED_VAR) of
        V when V =:= false; V =:= "" ->
            erlang:phash2({os:system_time(), erlang:unique_integer(), self()}, 1 bsl 30) + 1;
        V ->
            list_to_integer(string:trim(V))
    end.

%% @doc The random state of sample `Index' of a run: each sample can be made
%% again on its own from `{Seed, Index}'.
-spec state(pos_integer(), non_neg_integer()) -> rand:state().
state(Seed, Index) ->
    rand:seed_s(exsss, {Seed, Index, 16#5afe}).

%% @doc A random term, what it must come back as, and the state after it.
-spec term(rand:state()) -> {Term :: term(), Expected :: term(), rand:state()}.
term(S0) ->
    {Budget, S1} = pick([3, 10, 30, 80, 200], S0),
    {Spec, {_, S2}} = value(0, {Budget, S1}),
    {materialize(Spec), expected(Spec), S2}.

%%% Generation. The state threaded through is {Budget, RandState}: Budget
%%% counts down the nodes still allowed, so sizes stay bounded.

value(Depth, {Budget, S0}) ->
    {X, S1} = rand:uniform_s(S0),
    case Depth >= 6 orelse Budget =< 0 orelse X < 0.45 of
        true -> scalar({Budget - 1, S1});
        false -> container(Depth, {Budget - 1, S1})
    end.

scalar({B, S0}) ->
    {Kind, S1} = rand:uniform_s(19, S0),
    {T, S2} = scalar(Kind, S1),
    {T, {B, S2}}.

scalar(1, S) -> {undefined, S};
scalar(2, S) -> pick([true, false, nil], S);
scalar(3, S) -> int_in(-300, 300, S);
scalar(4, S0) ->
    {Base, S1} = pick([1 bsl 27, 1 bsl 31 - 1, -(1 bsl 31), 1 bsl 31, 1 bsl 59 - 1, 1 bsl 59,
                       -(1 bsl 59), -(1 bsl 59) - 1, 1 bsl 63 - 1, -(1 bsl 63), 1 bsl 63,
                       1 bsl 64 - 1, 1 bsl 64, -(1 bsl 64) - 1], S0),
    {D, S2} = int_in(-2, 2, S1),
    {Base + D, S2};
scalar(5, S0) ->
    {Bits, S1} = int_in(1, 3000, S0),
    {N, S2} = bits(Bits, S1),
    {Sign, S3} = pick([1, -1], S2),
    {Sign * N, S3};
scalar(6, S) -> float_bits(S);
scalar(7, S) -> pick([0.0, -0.0, 1.5, -2.5, 1.0e300, 5.0e-324, 1.7976931348623157e308,
                      2.2250738585072014e-308, 65536.0, 0.1], S);
scalar(8, S0) ->
    {X, S1} = rand:uniform_s(S0),
    {(X - 0.5) * 2.0e6, S1};
scalar(9, S) -> text(S);
scalar(10, S) -> raw_binary(S);
scalar(11, S) -> atom(S);
scalar(12, S) -> charlist(S);
scalar(13, S) -> opaque(S);
scalar(14, S0) ->
    %% A placeholder: materialize/1 makes the marker, expected/1 the binary.
    {Bin, S1} = raw_binary(S0),
    {{'$py_bytes', Bin}, S1};
scalar(15, S0) ->
    %% A binary over 64 bytes is refc (off-heap) in the VM: another path.
    {N, S1} = int_in(65, 4000, S0),
    random_bytes(N, S1);
scalar(16, S) -> int_in(0, 255, S);
scalar(17, S0) ->
    %% Occasionally a big argument: over the NIF's 20,000-term submit budget,
    %% so the context path copies it with submit_large/4.
    {X, S1} = rand:uniform_s(S0),
    case X < 0.01 of
        true -> {{'$py_seq', 25000}, S1};
        false -> int_in(-5, 5, S1)
    end;
scalar(18, S0) ->
    %% A sub-binary: a slice of a larger binary, at any byte offset.
    {N, S1} = int_in(1, 300, S0),
    {Big, S2} = random_bytes(N, S1),
    {Off, S3} = int_in(0, N - 1, S2),
    {Len, S4} = int_in(0, N - Off, S3),
    {binary:part(Big, Off, Len), S4};
scalar(_, S) -> atom(S).

container(Depth, {B0, S0}) ->
    {Kind, S1} = rand:uniform_s(7, S0),
    {X, S2} = rand:uniform_s(S1),
    {N, S3} = case X < 0.97 of
                  true -> pick([0, 1, 2, 3, 5, 8], S2);
                  false -> int_in(50, 400, S2)
              end,
    container(Kind, N, Depth, {B0, S3}).

container(Kind, N, Depth, St0) when Kind =< 2 ->
    {Items, St1} = values(N, Depth + 1, St0),
    {Items, St1};
container(Kind, N, Depth, St0) when Kind =< 4 ->
    {Items, St1} = values(N, Depth + 1, St0),
    {list_to_tuple(Items), St1};
container(Kind, N, Depth, St0) when Kind =< 6 ->
    {Pairs, St1} = pairs(N, Depth + 1, #{}, [], St0),
    {maps:from_list(Pairs), St1};
container(_, N, Depth, St0) ->
    %% An improper-looking but proper list of mixed pairs: a proplist.
    {Pairs, St1} = pairs(min(N, 8), Depth + 1, #{}, [], St0),
    {[{K, V} || {K, V} <- Pairs], St1}.

values(0, _Depth, St) ->
    {[], St};
values(N, Depth, St0) ->
    {V, St1} = value(Depth, St0),
    {Vs, St2} = values(N - 1, Depth, St1),
    {[V | Vs], St2}.

%% Map entries whose keys are all different in Python.
pairs(0, _Depth, _Seen, Acc, St) ->
    {lists:reverse(Acc), St};
pairs(N, Depth, Seen, Acc, {B, S0}) ->
    {K, S1} = key(0, S0),
    Canon = canonical_key(K),
    case maps:is_key(Canon, Seen) of
        true ->
            pairs(N - 1, Depth, Seen, Acc, {B, S1});
        false ->
            {V, St2} = value(Depth, {B, S1}),
            pairs(N - 1, Depth, Seen#{Canon => true}, [{K, V} | Acc], St2)
    end.

%% A hashable key: no list, map or marker anywhere in it.
key(Depth, S0) ->
    {Kind, S1} = rand:uniform_s(9, S0),
    case Kind of
        1 -> int_in(-1000, 1000, S1);
        2 -> atom(S1);
        3 -> text(S1);
        4 -> raw_binary(S1);
        5 -> pick([true, false, undefined, nil, 0.0, 1.0, 2.5, -0.0], S1);
        6 -> float_bits(S1);
        7 when Depth < 3 ->
            {N, S2} = int_in(0, 3, S1),
            {Items, S3} = keys(N, Depth + 1, S2),
            {list_to_tuple(Items), S3};
        8 -> opaque_key(S1);
        _ -> scalar(4, S1)
    end.

keys(0, _Depth, S) ->
    {[], S};
keys(N, Depth, S0) ->
    {K, S1} = key(Depth, S0),
    {Ks, S2} = keys(N - 1, Depth, S1),
    {[K | Ks], S2}.

%% @doc The Python equality class of a key: two keys with the same canonical
%% form are the same dict key in Python. An atom equals the `str' of its name
%% (`erlang.Atom' is a `str' subclass), `true'/`false' equal 1/0, an integral
%% float equals its integer, `undefined' and `nil' are both `None'.
-spec canonical_key(term()) -> term().
canonical_key(true) -> {num, 1};
canonical_key(false) -> {num, 0};
canonical_key(undefined) -> none;
canonical_key(nil) -> none;
canonical_key(A) when is_atom(A) -> {str, atom_to_binary(A, utf8)};
canonical_key(B) when is_binary(B) -> {str, B};
canonical_key(I) when is_integer(I) -> {num, I};
canonical_key(F) when is_float(F) ->
    case F == trunc(F) of
        true -> {num, trunc(F)};
        false -> {num, F}
    end;
canonical_key(T) when is_tuple(T) -> {tuple, [canonical_key(E) || E <- tuple_to_list(T)]};
canonical_key(Other) -> {opaque, Other}.

float_bits(S0) ->
    {Bits, S1} = bits(64, S0),
    case <<Bits:64>> of
        <<F:64/float>> -> {F, S1};
        _ -> float_bits(S1)          % NaN or an infinity: not an Erlang float
    end.

text(S0) ->
    {N, S1} = pick([0, 1, 3, 10, 40], S0),
    {Cps, S2} = codepoints(N, S1),
    {unicode:characters_to_binary(Cps), S2}.

codepoints(0, S) ->
    {[], S};
codepoints(N, S0) ->
    {Range, S1} = pick([{16#20, 16#7e}, {0, 16#7ff}, {16#800, 16#ffff}, {16#10000, 16#10ffff}], S0),
    {C0, S2} = int_in(element(1, Range), element(2, Range), S1),
    C = case C0 >= 16#d800 andalso C0 =< 16#dfff of
            true -> $A;                 % a surrogate is not a character
            false -> C0
        end,
    {Cs, S3} = codepoints(N - 1, S2),
    {[C | Cs], S3}.

charlist(S0) ->
    {Bin, S1} = text(S0),
    {unicode:characters_to_list(Bin), S1}.

raw_binary(S0) ->
    {N, S1} = pick([0, 1, 2, 5, 17, 64], S0),
    random_bytes(N, S1).

random_bytes(N, S) ->
    rand:bytes_s(N, S).

atom(S) ->
    pick(atoms(), S).

atoms() ->
    case persistent_term:get({?MODULE, atoms}, undefined) of
        undefined ->
            %% The longest atom there is: 255 characters.
            Atoms = [a, ok, error, hello, 'Hello World', '', nan, inf, none, 'héllo', '日本語',
                     '🐍', list_to_atom(lists:duplicate(255, $x)), 'py_safety', '-inf', 'True'],
            persistent_term:put({?MODULE, atoms}, Atoms),
            Atoms;
        Atoms ->
            Atoms
    end.

%% Opaque terms: they come back as the same term.
opaque(S) ->
    pick(opaques(), S).

opaque_key(S) ->
    %% Funs are left out of keys: docs/types.md does not say erlang.Fun hashes.
    pick([T || T <- opaques(), not is_function(T)], S).

opaques() ->
    {Ref, Port} = fixed_opaques(),
    [self(), list_to_pid("<0.1.0>"), whereis(init), make_ref(), Ref, Port,
     fun lists:reverse/1, persistent_fun()].

%% A reference and a port made once, so that they recur across samples.
fixed_opaques() ->
    case persistent_term:get({?MODULE, opaques}, undefined) of
        undefined ->
            Fixed = {make_ref(), hd(erlang:ports())},
            persistent_term:put({?MODULE, opaques}, Fixed),
            Fixed;
        Fixed ->
            Fixed
    end.

persistent_fun() ->
    fun(X) -> {?MODULE, X} end.

%% Helpers over the random state.

pick(List, S0) ->
    {I, S1} = rand:uniform_s(length(List), S0),
    {lists:nth(I, List), S1}.

int_in(Lo, Hi, S0) ->
    {I, S1} = rand:uniform_s(Hi - Lo + 1, S0),
    {Lo + I - 1, S1}.

bits(0, S) ->
    {0, S};
bits(N, S0) ->
    Bytes = (N + 7) div 8,
    Pad = Bytes * 8 - N,
    {Bin, S1} = rand:bytes_s(Bytes, S0),
    <<_:Pad, I:N>> = Bin,
    {I, S1}.

%%% The term sent and the expected result. The generator's spec holds
%%% {'$py_bytes', Bin} where a py:bytes/1 marker goes (a marker is a resource:
%%% it cannot be compared with its binary) and {'$py_seq', N} for a big list
%%% (so that it is not walked twice); no generated atom starts with '$'.

materialize({'$py_bytes', Bin}) ->
    py:bytes(Bin);
materialize({'$py_seq', N}) ->
    lists:seq(1, N);
materialize(L) when is_list(L) ->
    [materialize(E) || E <- L];
materialize(T) when is_tuple(T) ->
    list_to_tuple([materialize(E) || E <- tuple_to_list(T)]);
materialize(M) when is_map(M) ->
    maps:from_list([{K, materialize(V)} || {K, V} <- maps:to_list(M)]);
materialize(T) ->
    T.

%% What a generated term comes back as: itself, except that `nil' becomes
%% `undefined' (both are `None') and a `py:bytes/1' marker becomes its binary
%% (Python `bytes' come back as binaries).
expected(nil) ->
    undefined;
expected({'$py_bytes', Bin}) ->
    Bin;
expected({'$py_seq', N}) ->
    lists:seq(1, N);
expected(L) when is_list(L) ->
    [expected(E) || E <- L];
expected(T) when is_tuple(T) ->
    list_to_tuple([expected(E) || E <- tuple_to_list(T)]);
expected(M) when is_map(M) ->
    maps:from_list([{expected(K), expected(V)} || {K, V} <- maps:to_list(M)]);
expected(T) ->
    T.

%% @doc Compares an expected term with an actual one, floats bit for bit (the
%% sign of a zero counts). The expected term may hold `{'$py_set', Elements}'
%% (a Python set or frozenset): the actual term is then a list with the same
%% elements in any order.
-spec compare(term(), term()) -> boolean().
compare({'$py_set', Elems}, Actual) when is_list(Actual) ->
    lists:sort(Elems) =:= lists:sort(Actual);
compare(Exp, Act) when is_list(Exp), is_list(Act), length(Exp) =:= length(Act) ->
    lists:all(fun({E, A}) -> compare(E, A) end, lists:zip(Exp, Act));
compare(Exp, Act) when is_tuple(Exp), is_tuple(Act), tuple_size(Exp) =:= tuple_size(Act) ->
    compare(tuple_to_list(Exp), tuple_to_list(Act));
compare(Exp, Act) when is_map(Exp), is_map(Act), map_size(Exp) =:= map_size(Act) ->
    lists:all(fun({K, V}) ->
                      case maps:find(K, Act) of
                          {ok, A} -> compare(V, A);
                          error -> false
                      end
              end, maps:to_list(Exp));
compare(Exp, Act) when is_float(Exp), is_float(Act) ->
    %% Bit for bit: on OTP 25, -0.0 =:= 0.0.
    <<Exp/float>> =:= <<Act/float>>;
compare(Exp, Act) ->
    Exp =:= Act.
