%% @doc The application environment of `py', checked in one place: `py_app'
%% checks it before anything starts, and `py_nif' builds the NIF's load info
%% from it. A bad value is refused as `{bad_config, {Key, Value}}', named as the
%% user wrote it; a key `py' does not know is a warning with the nearest known
%% key (`virtualenv' -> `venv', `call_timout' -> `call_timeout').
%% docs/configuration.md lists the keys.
-module(py_config).

-export([check/0, check/1, keys/0, suggest/1, nif_settings/1, changed_settings/2,
         format_warning/1, expected/1]).

-export_type([config/0, warning/0, nif_settings/0]).

-type config() :: #{python := binary() | undefined,
                    venv := binary() | undefined,
                    path := [binary()],
                    env := [{binary(), binary()}],
                    pool_size := pos_integer() | undefined,
                    pool_strategy := py_nif:strategy(),
                    call_timeout := timeout(),
                    max_depth := pos_integer(),
                    max_terms := pos_integer()}.
%% What the NIF reads once, when it loads: a change needs a new VM.
-type nif_settings() :: #{python := binary() | undefined,
                          venv := binary() | undefined,
                          path := [binary()],
                          env := [{binary(), binary()}],
                          max_depth := pos_integer(),
                          max_terms := pos_integer()}.
-type warning() :: {unknown_key, Key :: term(), Nearest :: atom() | none}.

%% The keys, in the order the documentation lists them, with their defaults
%% (those of src/py.app.src, so that a check works before the application is loaded).
-define(DEFAULTS, [{venv, undefined}, {python, undefined}, {path, []}, {env, []},
                   {pool_size, undefined}, {pool_strategy, round_robin},
                   {call_timeout, 5000}, {max_depth, 10000}, {max_terms, 10000000}]).

-define(NIF_KEYS, [python, venv, path, env, max_depth, max_terms]).

%% Names people reach for that are too far from the real key for an edit distance.
-define(ALIASES, [{virtualenv, venv}, {virtual_env, venv}, {venv_dir, venv},
                  {python_path, path}, {pythonpath, path}, {sys_path, path},
                  {python_executable, python}, {executable, python}, {interpreter, python},
                  {environment, env}, {env_vars, env}, {environ, env},
                  {pool, pool_size}, {size, pool_size}, {contexts, pool_size},
                  {workers, pool_size}, {strategy, pool_strategy},
                  {timeout, call_timeout}, {default_timeout, call_timeout},
                  {depth, max_depth}, {max_nesting, max_depth}]).

%% @doc Checks the application env of `py' as it is now.
%% `{ok, #{pool_size := undefined}, []} = py_config:check()' with the defaults.
-spec check() -> {ok, config(), [warning()]} | {error, {bad_config, {atom(), term()}}}.
check() ->
    check(application:get_all_env(py)).

%% @doc Checks an application env given as `[{Key, Value}]'; a missing key
%% takes its default. A relative `venv' is made absolute here (from the
%% current directory), since the NIF needs a full path.
%% `check([{pool_size, 0}])' gives `{error, {bad_config, {pool_size, 0}}}';
%% `check([{paths, ["x"]}])' gives `{ok, _, [{unknown_key, paths, path}]}'.
-spec check([{term(), term()}]) ->
          {ok, config(), [warning()]} | {error, {bad_config, {atom(), term()}}}.
check(Env) when is_list(Env) ->
    Warnings = [{unknown_key, K, suggest(K)}
                || {K, _} <- Env, not lists:keymember(K, 1, ?DEFAULTS)],
    Given = [{Key, proplists:get_value(Key, Env, Default)} || {Key, Default} <- ?DEFAULTS],
    case check_values(Given, #{}) of
        {ok, Config} -> {ok, Config, Warnings};
        {error, _} = Error -> Error
    end.

check_values([], Config) ->
    {ok, Config};
check_values([{Key, Value} | Rest], Config) ->
    case safe_value(Key, Value) of
        {ok, Normal} -> check_values(Rest, Config#{Key => Normal});
        error -> {error, {bad_config, {Key, Value}}}
    end.

%% An improper list or a list of non-characters is a bad value, not a crash.
safe_value(Key, Value) ->
    try
        value(Key, Value)
    catch
        error:_ -> error
    end.

value(venv, undefined) -> {ok, undefined};
value(venv, Dir) -> map_ok(fun(D) -> unicode:characters_to_binary(filename:absname(D)) end,
                           string(Dir));
value(python, undefined) -> {ok, undefined};
value(python, Exe) -> string(Exe);
value(path, Dirs) when is_list(Dirs) -> all(fun string/1, Dirs);
value(env, Vars) when is_list(Vars) -> all(fun env_var/1, Vars);
value(pool_size, undefined) -> {ok, undefined};
value(pool_size, N) when is_integer(N), N > 0 -> {ok, N};
value(pool_strategy, S) when S =:= round_robin; S =:= least_busy -> {ok, S};
value(call_timeout, infinity) -> {ok, infinity};
value(call_timeout, T) when is_integer(T), T >= 0 -> {ok, T};
value(max_depth, N) when is_integer(N), N > 0 -> {ok, N};
value(max_terms, N) when is_integer(N), N > 0 -> {ok, N};
value(_, _) -> error.

%% A non-empty string or binary, without NUL (Python's paths are C strings).
string(S) when is_binary(S); is_list(S) ->
    case unicode:characters_to_binary(S) of
        B when is_binary(B), B =/= <<>> ->
            case binary:match(B, <<0>>) of
                nomatch -> {ok, B};
                _ -> error
            end;
        _ ->
            error
    end;
string(_) ->
    error.

%% An environment variable as the OS takes it: a name without `=', strings
%% (or atoms) without NUL.
env_var({K, V}) ->
    case {string(atom_text(K)), value_text(atom_text(V))} of
        {{ok, Name}, {ok, Text}} ->
            case binary:match(Name, <<"=">>) of
                nomatch -> {ok, {Name, Text}};
                _ -> error
            end;
        _ ->
            error
    end;
env_var(_) ->
    error.

%% An empty value is a value (`FOO='), unlike an empty name.
value_text(V) when V =:= <<>>; V =:= [] -> {ok, <<>>};
value_text(V) -> string(V).

atom_text(A) when is_atom(A) -> atom_to_binary(A, utf8);
atom_text(X) -> X.

all(Check, List) ->
    try
        {ok, [case Check(X) of
                  {ok, Y} -> Y;
                  error -> throw(bad)
              end || X <- List]}
    catch
        throw:bad -> error
    end.

map_ok(F, {ok, X}) -> {ok, F(X)};
map_ok(_, error) -> error.

%% @doc The keys `py' knows. `lists:member(venv, py_config:keys())' is `true'.
-spec keys() -> [atom()].
keys() ->
    [K || {K, _} <- ?DEFAULTS].

%% @doc The known key nearest to an unknown one, or `none': the key or a
%% common synonym of it (`virtualenv', `timeout') spelt within one or two
%% edits (a swap of neighbours is one), in any case, with `-' for `_'.
%% `suggest(call_timout)' gives `call_timeout'; `suggest(virtualenv)' gives `venv'.
-spec suggest(term()) -> atom() | none.
suggest(Key) ->
    Name = normalize(Key),
    Candidates = [{atom_to_list(K), K} || K <- keys()]
        ++ [{atom_to_list(From), To} || {From, To} <- ?ALIASES],
    Scored = lists:sort([{distance(Name, Text), length(Text), Target}
                         || {Text, Target} <- Candidates]),
    [{D, Length, Best} | _] = Scored,
    %% Short names tolerate one slip, longer ones two.
    Limit = case Length >= 6 of
                true -> 2;
                false -> 1
            end,
    case D =< Limit of
        true -> Best;
        false -> none
    end.

normalize(Key) ->
    Text = case Key of
               A when is_atom(A) -> atom_to_list(A);
               B when is_binary(B) -> unicode:characters_to_list(B);
               L when is_list(L) -> L;
               _ -> io_lib:format("~tp", [Key])
           end,
    [case C of $- -> $_; _ -> C end || C <- string:lowercase(lists:flatten(Text))].

%% Edit distance counting an insertion, a deletion, a substitution or a swap
%% of two neighbours as one (optimal string alignment), over a full table:
%% the names are a few characters long.
distance(A, B) ->
    TA = list_to_tuple(A),
    TB = list_to_tuple(B),
    LA = tuple_size(TA),
    LB = tuple_size(TB),
    Init = maps:from_list([{{I, 0}, I} || I <- lists:seq(0, LA)]
                          ++ [{{0, J}, J} || J <- lists:seq(0, LB)]),
    Table = lists:foldl(
              fun({I, J}, D) ->
                      CA = element(I, TA),
                      CB = element(J, TB),
                      Cost = case CA =:= CB of
                                 true -> 0;
                                 false -> 1
                             end,
                      Best = lists:min([maps:get({I - 1, J}, D) + 1,
                                        maps:get({I, J - 1}, D) + 1,
                                        maps:get({I - 1, J - 1}, D) + Cost]),
                      Swap = case I > 1 andalso J > 1 andalso CA =:= element(J - 1, TB)
                                 andalso element(I - 1, TA) =:= CB of
                                 true -> min(Best, maps:get({I - 2, J - 2}, D) + 1);
                                 false -> Best
                             end,
                      D#{{I, J} => Swap}
              end, Init, [{I, J} || I <- lists:seq(1, LA), J <- lists:seq(1, LB)]),
    maps:get({LA, LB}, Table).

%% @doc What the NIF reads when it loads: the Python, the venv (an activated
%% one, `$VIRTUAL_ENV', when neither `venv' nor `python' is set), `sys.path'
%% entries, environment variables and the conversion limits.
-spec nif_settings(config()) -> nif_settings().
nif_settings(Config) ->
    Settings = maps:with(?NIF_KEYS, Config),
    case Config of
        #{venv := undefined, python := undefined} ->
            case os:getenv("VIRTUAL_ENV") of
                false -> Settings;
                "" -> Settings;
                Dir -> Settings#{venv := unicode:characters_to_binary(Dir)}
            end;
        _ ->
            Settings
    end.

%% @doc The settings that differ between the ones the NIF loaded with and
%% those given now, by key: they stay as loaded until the VM restarts.
%% `changed_settings(#{venv => <<"/a">>}, #{venv => <<"/b">>})' gives `[venv]'.
-spec changed_settings(map(), map()) -> [atom()].
changed_settings(Loaded, Now) ->
    [K || K <- ?NIF_KEYS, maps:get(K, Loaded, undefined) =/= maps:get(K, Now, undefined)].

%% @doc A warning as text for the log.
%% `format_warning({unknown_key, paths, path})' gives
%% `<<"py: unknown configuration key paths (did you mean path?)">>'.
-spec format_warning(warning()) -> binary().
format_warning({unknown_key, Key, none}) ->
    unicode:characters_to_binary(
      io_lib:format("py: unknown configuration key ~0tp, ignored (the keys: ~ts)",
                    [Key, lists:join(", ", [atom_to_list(K) || K <- keys()])]));
format_warning({unknown_key, Key, Nearest}) ->
    unicode:characters_to_binary(
      io_lib:format("py: unknown configuration key ~0tp (did you mean ~0tp?), ignored",
                    [Key, Nearest])).

%% @doc What a key takes, in words, for the messages that refuse a value.
%% `expected(pool_size)' gives `"a positive integer, or undefined (one per scheduler)"'.
-spec expected(atom()) -> string().
expected(venv) -> "the directory of a virtualenv (a string), or undefined";
expected(python) -> "the path of a Python executable (a string), or undefined";
expected(path) -> "a list of directories (strings), e.g. [\"/srv/app/python\"]";
expected(env) -> "a list of {Name, Value} strings, e.g. [{\"OMP_NUM_THREADS\", \"1\"}]";
expected(pool_size) -> "a positive integer, or undefined (one per scheduler)";
expected(pool_strategy) -> "round_robin or least_busy";
expected(call_timeout) -> "milliseconds (a non-negative integer) or infinity";
expected(max_depth) -> "a positive integer";
expected(max_terms) -> "a positive integer";
expected(_) -> "one of the documented values".
