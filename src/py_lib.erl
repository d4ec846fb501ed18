%% @doc Pure helpers of `py': Python names, bindings and the eliding of
%% long `dir'/`vars' results. Nothing here talks to Python.
-module(py_lib).

-export([name/1, name/2, dotted/2, is_text/1, builtin/1, operator/1, class_name/1, cast_name/1,
         code/1, bindings/1, string_keys/1, elide_list/1, elide_map/1, elide_limit/0]).

-export_type([name/0, target/0]).

%% A name: an atom or a binary; a string (charlist) is accepted too.
-type name() :: atom() | binary() | string().
-type target() :: {name(), name()} | name() | {term(), name()}.

%% How many entries dir/1 and vars/1 show before eliding the rest.
-define(ELIDE, 28).

%% @doc A Python name as a binary. `name(math)' gives `<<"math">>'.
-spec name(name() | string()) -> binary().
name(Name) when is_atom(Name) -> atom_to_binary(Name, utf8);
name(Name) when is_binary(Name) -> Name;
name(Name) when is_list(Name) ->
    %% A name given as a string ("math"): the usual first mistake, and harmless.
    case is_text(Name) of
        true -> unicode:characters_to_binary(Name);
        false -> error({bad_name, Name})
    end;
name(Other) -> error({bad_name, Other}).

%% @doc Whether a term is a non-empty printable charlist: a name, or text
%% meant as a string. `is_text("math")' gives `true', `is_text([1, 2])' `false'.
-spec is_text(term()) -> boolean().
is_text([_ | _] = L) -> io_lib:printable_unicode_list(L);
is_text(_) -> false.

%% @doc A dotted name. ``name('os.path', isdir)'' gives `<<"os.path.isdir">>'.
-spec name(name(), name()) -> binary().
name(Mod, Fun) ->
    M = name(Mod),
    F = name(Fun),
    <<M/binary, ".", F/binary>>.

%% @doc A dotted name as a pair, for jobs: the NIF reads `{Mod, Fun}' as
%% `Mod.Fun', so no binary is built per call. ``dotted('os.path', isdir)''
%% gives `{'os.path', isdir}'; a name that is neither an atom nor a binary
%% raises `{bad_name, Name}' as name/2 does.
-spec dotted(name(), name()) -> {name(), name()}.
dotted(Mod, Fun) when (is_atom(Mod) orelse is_binary(Mod)),
                      (is_atom(Fun) orelse is_binary(Fun)) ->
    {Mod, Fun};
dotted(Mod, Fun) ->
    {name(Mod), name(Fun)}.

%% @doc The dotted name of a builtin. `builtin(len)' gives `<<"builtins.len">>'.
-spec builtin(atom()) -> binary().
builtin(Name) ->
    name(builtins, Name).

%% @doc The dotted name of an `operator' function for a `py' function name;
%% Erlang reserves `and', `or', `not' and `is' reads better without the
%% trailing underscore; `is-' and `is-not' are LFE py's names (its dash
%% stands for Python's underscore). ``operator('and-')'' gives `<<"operator.and_">>'.
-spec operator(atom()) -> binary().
operator('and-') -> <<"operator.and_">>;
operator('or-') -> <<"operator.or_">>;
operator('not-') -> <<"operator.not_">>;
operator(is) -> <<"operator.is_">>;
operator('is-') -> <<"operator.is_">>;
operator('is-not') -> <<"operator.is_not">>;
operator(Name) -> name(operator, Name).

%% @doc The name that resolves a class given to `isinstance/2': a name without
%% a dot is a builtin. `class_name(int)' gives `<<"builtins.int">>'.
-spec class_name(name()) -> binary().
class_name(Name) ->
    Bin = name(Name),
    case binary:match(Bin, <<".">>) of
        nomatch -> <<"builtins.", Bin/binary>>;
        _ -> Bin
    end.

%% @doc The builtin that casts a constant. `cast_name(int)' gives `<<"builtins.int">>'.
-spec cast_name(int | float | str) -> binary().
cast_name(int) -> <<"builtins.int">>;
cast_name(float) -> <<"builtins.float">>;
cast_name(str) -> <<"builtins.str">>;
cast_name(Other) -> error({bad_type, Other}).

%% @doc Source text as a binary: a binary or any chardata.
%% `code("1 + 1")' gives `<<"1 + 1">>'.
-spec code(unicode:chardata()) -> binary().
code(Code) when is_binary(Code) ->
    Code;
code(Code) ->
    case unicode:characters_to_binary(Code) of
        Bin when is_binary(Bin) -> Bin;
        _ -> error({bad_code, Code})
    end.

%% @doc Bindings with binary keys, as Python globals want them. Two keys that
%% name one variable (`x' and `<<"x">>') are refused, not merged.
%% `bindings(#{x => 1})' gives `#{<<"x">> => 1}'.
-spec bindings(#{name() => term()}) -> #{binary() => term()}.
bindings(Bindings) when is_map(Bindings) ->
    maps:fold(fun(K, V, Acc) when is_atom(K); is_binary(K) ->
                      Name = name(K),
                      case maps:is_key(Name, Acc) of
                          true -> error({key_collision, [], K});
                          false -> Acc#{Name => V}
                      end;
                 (K, _, _) -> error({bad_binding, K})
              end, #{}, Bindings);
bindings(Other) ->
    error({bad_bindings, Other}).

%% @doc Pairs whose charlist keys (LFE strings) are made binaries, so that they
%% reach Python as `str' (a list is unhashable there), as LFE py does for
%% keyword arguments. A proplist keeps its order and its other elements; a map
%% with a charlist key becomes a proplist, so that `"a"' next to `<<"a">>'
%% stays two keys and the NIF reports the collision instead of one value
%% silently replacing the other. Anything else (no charlist key, an improper
%% list, not pairs at all) comes back as it is, for the NIF to judge.
%% `string_keys([{"a", 1}, {b, 2}])' gives `[{<<"a">>, 1}, {b, 2}]'.
-spec string_keys(term()) -> term().
string_keys(Map) when is_map(Map) ->
    case lists:any(fun io_lib:char_list/1, maps:keys(Map)) of
        true -> string_keys(maps:to_list(Map));
        false -> Map
    end;
string_keys(List) when is_list(List) ->
    string_keys(List, List, [], false);
string_keys(Other) ->
    Other.

string_keys([], _Original, Acc, true) ->
    lists:reverse(Acc);
string_keys([{Key, Value} = Pair | Rest], Original, Acc, Changed) ->
    case io_lib:char_list(Key) of
        true -> string_keys(Rest, Original, [{unicode:characters_to_binary(Key), Value} | Acc], true);
        false -> string_keys(Rest, Original, [Pair | Acc], Changed)
    end;
string_keys([Other | Rest], Original, Acc, Changed) ->
    string_keys(Rest, Original, [Other | Acc], Changed);
string_keys(_EndOrImproper, Original, _Acc, _Changed) ->
    Original.

%% @doc The number of entries kept by `elide_list/1' and `elide_map/1' (28).
-spec elide_limit() -> pos_integer().
elide_limit() ->
    ?ELIDE.

%% @doc The first 28 entries and `{more, N}' for the N left out.
%% `elide_list(lists:seq(1, 30))' gives `lists:seq(1, 28) ++ [{more, 2}]'.
-spec elide_list(list()) -> list().
elide_list(List) ->
    case length(List) of
        Len when Len > ?ELIDE -> lists:sublist(List, ?ELIDE) ++ [{more, Len - ?ELIDE}];
        _ -> List
    end.

%% @doc The 28 smallest keys and ``'$more' => N'' for the N left out.
%% `elide_map(M)' with 30 keys gives 28 of them plus ``'$more' => 2''.
-spec elide_map(map()) -> map().
elide_map(Map) ->
    case map_size(Map) of
        Size when Size > ?ELIDE ->
            Kept = lists:sublist(lists:sort(maps:to_list(Map)), ?ELIDE),
            (maps:from_list(Kept))#{'$more' => Size - ?ELIDE};
        _ ->
            Map
    end.
