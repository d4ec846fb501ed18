%% Pool options and the pool-name checks made before anything starts.
-module(py_pool_tests).
-include_lib("eunit/include/eunit.hrl").

with_env(Settings, Fun) ->
    Old = [{K, application:get_env(py, K)} || {K, _} <- Settings],
    [case V of
         unset -> application:unset_env(py, K);
         _ -> application:set_env(py, K, V)
     end || {K, V} <- Settings],
    try Fun()
    after
        [case V of
             undefined -> application:unset_env(py, K);
             {ok, X} -> application:set_env(py, K, X)
         end || {K, V} <- Old]
    end.

defaults_test() ->
    with_env([{pool_size, unset}, {pool_strategy, unset}], fun() ->
        ?assertEqual({ok, #{size => erlang:system_info(schedulers), strategy => round_robin, kind => context}},
                     py_pool:validate_opts(#{}))
    end).

env_defaults_test() ->
    with_env([{pool_size, 3}, {pool_strategy, least_busy}], fun() ->
        ?assertEqual({ok, #{size => 3, strategy => least_busy, kind => context}}, py_pool:validate_opts(#{})),
        ?assertEqual({ok, #{size => 1, strategy => round_robin, kind => context}},
                     py_pool:validate_opts(#{size => 1, strategy => round_robin}))
    end).

env_undefined_size_test() ->
    with_env([{pool_size, undefined}, {pool_strategy, least_busy}], fun() ->
        ?assertEqual({ok, #{size => erlang:system_info(schedulers), strategy => least_busy, kind => context}},
                     py_pool:validate_opts(#{}))
    end).

bad_env_test() ->
    with_env([{pool_size, 0}], fun() ->
        ?assertEqual({error, {bad_option, size}}, py_pool:validate_opts(#{}))
    end),
    with_env([{pool_strategy, random}], fun() ->
        ?assertEqual({error, {bad_option, strategy}}, py_pool:validate_opts(#{}))
    end).

bad_sizes_test_() ->
    [?_assertEqual({error, {bad_option, size}}, py_pool:validate_opts(#{size => S}))
     || S <- [0, -1, 1.0, two, "2", undefined]].

bad_strategies_test_() ->
    [?_assertEqual({error, {bad_option, strategy}}, py_pool:validate_opts(#{strategy => S}))
     || S <- [random, "round_robin", <<"least_busy">>, 1]].

worker_options_test() ->
    {ok, Opts} = py_pool:validate_opts(#{kind => worker, size => 2, max_memory => 1 bsl 30,
                                         kill_after => 50, env => [{"A", "b"}],
                                         path => ["/tmp"]}),
    ?assertMatch(#{kind := worker, size := 2, max_memory := 1073741824, kill_after := 50,
                   env := [{<<"A">>, <<"b">>}], path := [<<"/tmp">>]}, Opts),
    %% Defaults: no cap, a grace of a second.
    ?assertMatch({ok, #{max_memory := undefined, kill_after := 1000}},
                 py_pool:validate_opts(#{kind => worker})).

worker_bad_options_test_() ->
    [?_assertEqual({error, {bad_option, Key}}, py_pool:validate_opts(Opts))
     || {Key, Opts} <- [{kind, #{kind => process}},
                        {max_memory, #{kind => worker, max_memory => 0}},
                        {max_memory, #{kind => worker, max_memory => "1G"}},
                        {kill_after, #{kind => worker, kill_after => -1}},
                        {kill_after, #{kind => worker, kill_after => infinity}},
                        {env, #{kind => worker, env => [{a}]}},
                        {path, #{kind => worker, path => [1, 2 | x]}},
                        %% A context runs in the VM's interpreter: these are a worker's.
                        {venv, #{venv => "/tmp"}},
                        {max_memory, #{kind => context, max_memory => 1000}},
                        {kill_after, #{kill_after => 10}}]].

unknown_key_test() ->
    ?assertEqual({error, {bad_option, workers}}, py_pool:validate_opts(#{workers => 2})),
    ?assertEqual({error, {bad_option, [{size, 2}]}}, py_pool:validate_opts([{size, 2}])).

start_pool_checks_before_starting_test() ->
    ?assertEqual({error, {bad_pool_name, dirty}}, py:start_pool(dirty, #{})),
    ?assertEqual({error, {bad_pool_name, <<"p">>}}, py:start_pool(<<"p">>, #{})),
    ?assertEqual({error, {bad_option, size}}, py:start_pool(p, #{size => 0})).

lookup_unknown_test() ->
    ?assertEqual(undefined, py_pool:lookup(py_pool_tests_no_such_pool)).
