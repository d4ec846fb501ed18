%% The application env's check: every key, its good and bad values, the
%% defaults, unknown keys and their suggestions, and what the NIF is given.
-module(py_config_tests).
-include_lib("eunit/include/eunit.hrl").

config(Env) ->
    {ok, Config, _} = py_config:check(Env),
    Config.

refused(Key, Value) ->
    ?_assertEqual({error, {bad_config, {Key, Value}}}, py_config:check([{Key, Value}])).

defaults_test() ->
    ?assertEqual({ok, #{venv => undefined, python => undefined, path => [], env => [],
                        pool_size => undefined, pool_strategy => round_robin,
                        call_timeout => 5000, max_depth => 10000, max_terms => 10000000},
                  []},
                 py_config:check([])).

%% The defaults here are those of src/py.app.src: a check of the loaded
%% application's env gives the same config as a check of nothing.
app_src_defaults_agree_test() ->
    {ok, [{application, py, App}]} =
        file:consult(filename:join([py_test_util:repo_root(), "src", "py.app.src"])),
    Env = proplists:get_value(env, App),
    ?assertEqual([], [K || {K, _} <- Env, not lists:member(K, py_config:keys())]),
    ?assertEqual(py_config:check([]), py_config:check(Env)).

good_values_test_() ->
    [?_assertMatch(#{python := <<"/usr/bin/python3.11">>},
                   config([{python, "/usr/bin/python3.11"}])),
     ?_assertMatch(#{python := <<"/opt/py">>}, config([{python, <<"/opt/py">>}])),
     ?_assertMatch(#{venv := <<"/srv/app/.venv">>}, config([{venv, "/srv/app/.venv"}])),
     ?_assertMatch(#{venv := <<"/srv/é"/utf8>>}, config([{venv, <<"/srv/é"/utf8>>}])),
     ?_assertMatch(#{path := [<<"/a">>, <<"b">>]}, config([{path, ["/a", <<"b">>]}])),
     ?_assertMatch(#{path := []}, config([{path, []}])),
     ?_assertMatch(#{env := [{<<"A">>, <<"1">>}, {<<"B">>, <<>>}, {<<"C">>, <<"x">>}]},
                   config([{env, [{"A", "1"}, {<<"B">>, ""}, {'C', x}]}])),
     ?_assertMatch(#{pool_size := 3}, config([{pool_size, 3}])),
     ?_assertMatch(#{pool_size := undefined}, config([{pool_size, undefined}])),
     ?_assertMatch(#{pool_strategy := least_busy}, config([{pool_strategy, least_busy}])),
     ?_assertMatch(#{call_timeout := 0}, config([{call_timeout, 0}])),
     ?_assertMatch(#{call_timeout := infinity}, config([{call_timeout, infinity}])),
     ?_assertMatch(#{max_depth := 1}, config([{max_depth, 1}])),
     ?_assertMatch(#{max_terms := 5}, config([{max_terms, 5}]))].

%% A relative venv is taken from the current directory: the NIF needs a full path.
relative_venv_test() ->
    {ok, Cwd} = file:get_cwd(),
    ?assertMatch(#{venv := _}, config([{venv, ".venv"}])),
    #{venv := Venv} = config([{venv, ".venv"}]),
    ?assertEqual(unicode:characters_to_binary(filename:join(Cwd, ".venv")), Venv).

bad_values_test_() ->
    [refused(python, ""), refused(python, 42), refused(python, python3),
     refused(python, "a\0b"),
     refused(venv, ""), refused(venv, <<>>), refused(venv, true), refused(venv, [1.0]),
     %% A string is a list of characters, not of directories.
     refused(path, "mods"), refused(path, <<"mods">>), refused(path, [mods]),
     refused(path, ["ok", ""]), refused(path, ["ok" | bad]),
     refused(env, {"A", "1"}), refused(env, [{"A=B", "1"}]), refused(env, [{"", "1"}]),
     refused(env, [{"A", "1\0"}]), refused(env, [{"A", 1}]), refused(env, ["A=1"]),
     refused(pool_size, 0), refused(pool_size, -1), refused(pool_size, 1.0),
     refused(pool_size, "2"),
     refused(pool_strategy, random), refused(pool_strategy, "round_robin"),
     refused(call_timeout, "5000"), refused(call_timeout, -1), refused(call_timeout, 1.5),
     refused(max_depth, 0), refused(max_depth, infinity),
     refused(max_terms, 0), refused(max_terms, "10")].

%% The first bad key in the documented order is the one named.
first_bad_key_named_test() ->
    ?assertEqual({error, {bad_config, {path, "mods"}}},
                 py_config:check([{pool_size, 0}, {path, "mods"}])).

unknown_keys_warned_test() ->
    {ok, Config, Warnings} =
        py_config:check([{virtualenv, "/x"}, {paths, ["a"]}, {call_timout, 5},
                         {pool_size, 2}, {colour, blue}]),
    ?assertEqual([{unknown_key, virtualenv, venv}, {unknown_key, paths, path},
                  {unknown_key, call_timout, call_timeout}, {unknown_key, colour, none}],
                 Warnings),
    %% Ignored: the known keys keep their values or defaults.
    ?assertMatch(#{venv := undefined, path := [], call_timeout := 5000, pool_size := 2},
                 Config).

suggestions_test_() ->
    [?_assertEqual(Want, py_config:suggest(Key))
     || {Key, Want} <- [{virtualenv, venv}, {virtual_env, venv}, {'VIRTUAL-ENV', venv},
                        {venvs, venv}, {'Venv', venv}, {paths, path}, {pythonpath, path},
                        {pyhton, python}, {evn, env}, {enviroment, env},
                        {pool_sise, pool_size}, {poolsize, pool_size}, {size, pool_size},
                        {strategy, pool_strategy}, {call_timout, call_timeout},
                        {callTimeout, call_timeout}, {timeout, call_timeout},
                        {max_term, max_terms}, {maxdepth, max_depth},
                        {colour, none}, {a, none}, {xyzzy, none}, {<<"path">>, path},
                        {"venv", venv}, {{1, 2}, none}]].

keys_test() ->
    ?assertEqual([venv, python, path, env, pool_size, pool_strategy, call_timeout,
                  max_depth, max_terms], py_config:keys()).

format_warning_test() ->
    ?assertEqual(<<"py: unknown configuration key paths (did you mean path?), ignored">>,
                 py_config:format_warning({unknown_key, paths, path})),
    Text = py_config:format_warning({unknown_key, colour, none}),
    ?assertMatch({match, _}, re:run(Text, "unknown configuration key colour, ignored")),
    ?assertMatch({match, _}, re:run(Text, "venv, python, path")).

%% Every refusal reads as a sentence naming the key, the value as written and
%% what the key takes.
bad_config_text_test_() ->
    [?_assert(begin
                  Text = py_error:format({bad_config, {Key, Value}}),
                  binary:match(Text, atom_to_binary(Key, utf8)) =/= nomatch
                      andalso binary:match(Text, Shown) =/= nomatch
                      andalso binary:match(Text, list_to_binary(py_config:expected(Key)))
                              =/= nomatch
              end)
     || {Key, Value, Shown} <- [{path, "mods", <<"\"mods\"">>}, {pool_size, 0, <<"0">>},
                                {call_timeout, "5000", <<"\"5000\"">>},
                                {venv, 1, <<"1">>}, {python, 2, <<"2">>},
                                {env, x, <<"x">>}, {pool_strategy, y, <<"y">>},
                                {max_depth, 0, <<"0">>}, {max_terms, 0, <<"0">>}]].

nif_settings_test() ->
    Config = config([{venv, "/v"}, {pool_size, 2}, {path, ["p"]}]),
    ?assertEqual(#{python => undefined, venv => <<"/v">>, path => [<<"p">>], env => [],
                   max_depth => 10000, max_terms => 10000000},
                 py_config:nif_settings(Config)).

%% $VIRTUAL_ENV is the venv only when neither `venv' nor `python' is set.
nif_settings_virtual_env_test() ->
    Old = os:getenv("VIRTUAL_ENV"),
    try
        true = os:putenv("VIRTUAL_ENV", "/activated"),
        ?assertMatch(#{venv := <<"/activated">>}, py_config:nif_settings(config([]))),
        ?assertMatch(#{venv := <<"/given">>},
                     py_config:nif_settings(config([{venv, "/given"}]))),
        ?assertMatch(#{venv := undefined, python := <<"/py">>},
                     py_config:nif_settings(config([{python, "/py"}]))),
        true = os:putenv("VIRTUAL_ENV", ""),
        ?assertMatch(#{venv := undefined}, py_config:nif_settings(config([])))
    after
        case Old of
            false -> os:unsetenv("VIRTUAL_ENV");
            _ -> os:putenv("VIRTUAL_ENV", Old)
        end
    end.

changed_settings_test() ->
    Loaded = py_config:nif_settings(config([{venv, "/a"}, {max_depth, 5}])),
    ?assertEqual([], py_config:changed_settings(Loaded, Loaded)),
    ?assertEqual([venv, max_depth],
                 py_config:changed_settings(
                   Loaded, py_config:nif_settings(config([{venv, "/b"}])))),
    %% The pool and the timeout change with a restart of the application: not named.
    ?assertEqual([],
                 py_config:changed_settings(
                   Loaded, py_config:nif_settings(config([{venv, "/a"}, {max_depth, 5},
                                                          {pool_size, 9},
                                                          {call_timeout, 1}])))).

%% py_app refuses a bad env before anything starts (no NIF, no tree).
app_refuses_bad_env_test() ->
    Old = application:get_env(py, pool_size),
    ok = application:set_env(py, pool_size, 0),
    try
        ?assertEqual({error, {bad_config, {pool_size, 0}}}, py_app:start(normal, [])),
        ?assertEqual(undefined, whereis(py_sup))
    after
        case Old of
            undefined -> application:unset_env(py, pool_size);
            {ok, V} -> application:set_env(py, pool_size, V)
        end
    end.
