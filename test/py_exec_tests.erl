%% Option validation and the routing decisions that need no Python.
-module(py_exec_tests).
-include_lib("eunit/include/eunit.hrl").

-define(JOB, {call, <<"math.pow">>, [2, 16], []}).

%% Every test that reads the application env gets a known one and leaves it as it was.
with_env(Key, Value, Fun) ->
    Old = application:get_env(py, Key),
    case Value of
        unset -> application:unset_env(py, Key);
        _ -> application:set_env(py, Key, Value)
    end,
    try Fun()
    after
        case Old of
            undefined -> application:unset_env(py, Key);
            {ok, V} -> application:set_env(py, Key, V)
        end
    end.

%% The default timeout in force is a persistent term that py_app loads from
%% the env at start; every test that changes it puts the old one back.
with_default_timeout(Fun) ->
    Old = persistent_term:get({py_exec, default_timeout}, undefined),
    try Fun()
    after
        case Old of
            undefined -> py_exec:unload_default_timeout();
            _ -> py_exec:set_default_timeout(Old)
        end
    end.

defaults_test() ->
    with_default_timeout(fun() ->
        with_env(call_timeout, unset, fun() ->
            ok = py_exec:unload_default_timeout(),
            ?assertEqual({ok, #{timeout => 5000, return => term, none => undefined, on => default}},
                         py_exec:validate_opts(#{}))
        end)
    end).

%% Before py starts (or after it stops), the env is read directly.
default_timeout_from_env_test() ->
    with_default_timeout(fun() ->
        with_env(call_timeout, 250, fun() ->
            ok = py_exec:unload_default_timeout(),
            ?assertEqual({ok, #{timeout => 250, return => term, none => undefined, on => default}},
                         py_exec:validate_opts(#{})),
            %% An explicit option wins over the env.
            ?assertEqual({ok, #{timeout => infinity, return => term, none => undefined, on => default}},
                         py_exec:validate_opts(#{timeout => infinity}))
        end)
    end).

bad_timeout_in_env_test() ->
    with_default_timeout(fun() ->
        with_env(call_timeout, -5, fun() ->
            ok = py_exec:unload_default_timeout(),
            ?assertEqual({error, {bad_option, timeout}}, py_exec:validate_opts(#{})),
            ?assertEqual({error, {bad_option, timeout}}, py_exec:load_default_timeout())
        end)
    end).

%% Once loaded, the default is the loaded one: a later change of the env
%% takes effect when py starts again, or through a release's config_change.
loaded_default_timeout_test() ->
    with_default_timeout(fun() ->
        with_env(call_timeout, 250, fun() ->
            ok = py_exec:load_default_timeout(),
            application:set_env(py, call_timeout, 750),
            ?assertMatch({ok, #{timeout := 250}}, py_exec:validate_opts(#{})),
            ok = py_app:config_change([{call_timeout, 750}], [], []),
            ?assertMatch({ok, #{timeout := 750}}, py_exec:validate_opts(#{})),
            %% A bad value in a release's env is refused; the old one stays.
            application:set_env(py, call_timeout, bad),
            ok = py_app:config_change([{call_timeout, bad}], [], []),
            ?assertMatch({ok, #{timeout := 750}}, py_exec:validate_opts(#{})),
            %% A change of other keys leaves it alone.
            application:set_env(py, call_timeout, 10),
            ok = py_app:config_change([{pool_size, 3}], [], []),
            ?assertMatch({ok, #{timeout := 750}}, py_exec:validate_opts(#{}))
        end)
    end).

set_call_timeout_test() ->
    with_default_timeout(fun() ->
        ?assertEqual(ok, py:set_call_timeout(1234)),
        ?assertMatch({ok, #{timeout := 1234}}, py_exec:validate_opts(#{})),
        ?assertEqual(ok, py:set_call_timeout(infinity)),
        ?assertMatch({ok, #{timeout := infinity}}, py_exec:validate_opts(#{})),
        [?assertEqual({error, {bad_option, timeout}}, py:set_call_timeout(Bad))
         || Bad <- [-1, 1.5, foo, "10", undefined]],
        ?assertMatch({ok, #{timeout := infinity}}, py_exec:validate_opts(#{}))
    end).

all_options_test() ->
    ?assertEqual({ok, #{timeout => 10, return => handle, none => undefined, on => dirty}},
                 py_exec:validate_opts(#{timeout => 10, return => handle, on => dirty})).

good_timeouts_test_() ->
    [?_assertMatch({ok, #{timeout := T}}, py_exec:validate_opts(#{timeout => T}))
     || T <- [0, 1, 5000, 1 bsl 40, infinity]].

bad_timeouts_test_() ->
    [?_assertEqual({error, {bad_option, timeout}}, py_exec:validate_opts(#{timeout => T}))
     || T <- [-1, 1.5, 1.0, foo, "1000", <<"1000">>, undefined, {1000}]].

good_returns_test_() ->
    [?_assertMatch({ok, #{return := R}}, py_exec:validate_opts(#{return => R}))
     || R <- [term, handle]].

bad_returns_test_() ->
    [?_assertEqual({error, {bad_option, return}}, py_exec:validate_opts(#{return => R}))
     || R <- [terms, <<"term">>, "handle", 1, undefined, {handle}]].

good_ons_test_() ->
    [?_assertEqual({ok, #{timeout => 1, return => term, none => undefined, on => On}},
                   py_exec:validate_opts(#{on => On, timeout => 1}))
     || On <- [default, dirty, mypool, {mypool, 1}, {default, 3},
               {node, 'a@b'}, {node, nonode@nohost},
               %% A pool may be named `node': an integer makes it a context.
               {node, 2}]].

bad_ons_test_() ->
    [?_assertEqual({error, {bad_option, on}}, py_exec:validate_opts(#{on => On}))
     || On <- [<<"default">>, "default", 1, {mypool, 0}, {mypool, -1}, {mypool, a},
               {mypool, 1.0}, {<<"mypool">>, 1}, {node, "a@b"}, {node, <<"a@b">>},
               {a, b, c}, {}, [default], #{}]].

unknown_key_test() ->
    ?assertEqual({error, {bad_option, timout}}, py_exec:validate_opts(#{timout => 5})),
    ?assertEqual({error, {bad_option, <<"timeout">>}},
                 py_exec:validate_opts(#{<<"timeout">> => 5})).

not_a_map_test() ->
    ?assertEqual({error, {bad_option, [{timeout, 5}]}},
                 py_exec:validate_opts([{timeout, 5}])).

run_rejects_bad_options_test() ->
    ?assertEqual({error, {bad_option, return}}, py_exec:run(?JOB, #{return => value})).

%% EUnit runs without py started: a call says so, whatever pool it names
%% (the CT suites check `{no_pool, Name}' while py runs).
run_before_py_starts_test() ->
    undefined = whereis(py_sup),
    ?assertEqual({error, not_started}, py_exec:run(?JOB, #{})),
    ?assertEqual({error, not_started}, py_exec:run(?JOB, #{on => no_such_pool})),
    ?assertEqual({error, not_started}, py_exec:run(?JOB, #{on => {no_such_pool, 1}})),
    ?assertEqual({error, not_started}, py_exec:async(?JOB, #{})).

run_on_missing_node_test() ->
    %% Other nodes are reached through py on this one (py_import), which is not started.
    ?assertEqual({error, not_started},
                 py_exec:run(?JOB, #{on => {node, 'nobody@nowhere'}, timeout => 100})).

apply_call_test() ->
    ?assertEqual([2, 1], py_exec:apply_call({lists, reverse, [[1, 2]]})),
    ?assertEqual([2, 1], py_exec:apply_call({<<"lists">>, <<"reverse">>, [[1, 2]]})),
    ?assertEqual(3, py_exec:apply_call({fun erlang:'+'/2, [1, 2]})).

apply_call_no_new_atoms_test() ->
    Name = <<"py_exec_tests_no_such_atom_4711">>,
    ?assertError({undefined_function, <<"py_exec_tests_no_such_atom_4711:reverse/0: ", _/binary>>},
                 py_exec:apply_call({Name, reverse, []})),
    ?assertError(badarg, binary_to_existing_atom(Name, utf8)).

%%% The py facade: what it answers without Python.
str_of_chardata_test() ->
    ?assertEqual(<<"abc">>, py:str("abc")),
    ?assertEqual(<<"héllo"/utf8>>, py:str("héllo")),
    ?assertEqual(<<"ab">>, py:str(["a", <<"b">>])),
    ?assertEqual(<<>>, py:str([])),
    ?assertEqual(<<"as is">>, py:str(<<"as is">>)).

str_of_bad_chardata_test() ->
    ?assertError(badarg, py:str([16#110000])),
    ?assertError(badarg, py:str([a])).

call_bad_target_test() ->
    ?assertEqual({error, {bad_target, 42}}, py:call(42, [])),
    ?assertEqual({error, {bad_target, [1, 2]}}, py:call([1, 2], [2, 16], [])).

call_bad_option_test() ->
    ?assertEqual({error, {bad_option, colour}},
                 py:call({math, pow}, [2, 16], [], #{colour => blue})),
    ?assertEqual({error, {bad_option, timeout}},
                 py:call('math.pow', [2, 16], #{}, #{timeout => -1})).

call_before_py_starts_test() ->
    ?assertEqual({error, not_started},
                 py:call({math, pow}, [2, 16], [], #{on => py_exec_tests_none})),
    ?assertEqual({error, not_started}, py:call({math, pow}, [2, 16], [], #{})),
    ?assertError(not_started, py:func(math, pow, [2, 16])).

direct_functions_raise_test() ->
    ?assertError({bad_option, on}, py:eval("1", #{}, #{on => <<"x">>})),
    ?assertError({bad_option, wait}, py:exec("x = 1", #{}, #{wait => 1})),
    ?assertError({bad_name, [1]}, py:func([1], pow, [2, 16])),
    ?assertError({bad_type, double}, py:const(math, pi, double)),
    ?assertError({bad_binding, 1}, py:eval("x", #{1 => 2})).

%% idle/0 tells whether any process waits to run on a normal scheduler.
idle_test() ->
    ?assertEqual(ok, py_test_util:wait_until(fun py_exec:idle/0, 2000)),
    Spinners = [spawn(fun Spin() -> Spin() end)
                || _ <- lists:seq(1, 2 * erlang:system_info(schedulers_online))],
    try
        ?assertNot(py_exec:idle())
    after
        [exit(P, kill) || P <- Spinners]
    end,
    ?assertEqual(ok, py_test_util:wait_until(fun py_exec:idle/0, 2000)).

%% `none' says what None becomes; only undefined and nil.
none_option_test() ->
    ?assertMatch({ok, #{none := nil}}, py_exec:validate_opts(#{none => nil, timeout => 1})),
    ?assertMatch({ok, #{none := undefined}}, py_exec:validate_opts(#{timeout => 1})),
    ?assertEqual({error, {bad_option, none}}, py_exec:validate_opts(#{none => null})).

%% with_defaults/2: options for the calls inside it that give none themselves;
%% blocks nest, the inner wins, and nothing is left behind.
with_defaults_test() ->
    Check = fun() -> py_exec:validate_opts(#{timeout => 1}) end,
    ?assertMatch({ok, #{none := undefined, return := term}}, Check()),
    R = py_exec:with_defaults(#{none => nil}, fun() ->
            Inner = py_exec:with_defaults(#{return => handle}, Check),
            {Check(), Inner, py_exec:validate_opts(#{timeout => 1, none => undefined})}
        end),
    ?assertMatch({{ok, #{none := nil, return := term}},
                  {ok, #{none := nil, return := handle}},
                  {ok, #{none := undefined}}}, R),
    ?assertMatch({ok, #{none := undefined, return := term}}, Check()),
    ?assertError({bad_option, none}, py_exec:with_defaults(#{none => 1}, Check)),
    %% An exception inside still restores the outer defaults.
    ?assertError(boom, py_exec:with_defaults(#{none => nil}, fun() -> error(boom) end)),
    ?assertMatch({ok, #{none := undefined}}, Check()).
