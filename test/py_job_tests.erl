%% The job term: built here (py_job), decoded by the NIF (base::job).
-module(py_job_tests).

-include_lib("eunit/include/eunit.hrl").

target_test() ->
    ?assertEqual({ok, {call, {math, pow}, [2, 3], []}},
                 py_job:target({math, pow}, [2, 3], [])),
    ?assertEqual({ok, {call, {<<"os.path">>, join}, [<<"a">>], #{}}},
                 py_job:target({<<"os.path">>, join}, [<<"a">>], #{})),
    ?assertEqual({ok, {call, <<"math.pow">>, [2, 3], [{z, 1}]}},
                 py_job:target('math.pow', [2, 3], [{z, 1}])),
    ?assertEqual({ok, {call, <<"math.pow">>, [], #{}}},
                 py_job:target(<<"math.pow">>, [], #{})),
    Ref = make_ref(),
    ?assertEqual({ok, {method, Ref, <<"strftime">>, [<<"%Y">>], []}},
                 py_job:target({Ref, strftime}, [<<"%Y">>], [])),
    %% Any object that is not a name takes the method form, plain data too.
    ?assertEqual({ok, {method, [3, 1], <<"index">>, [1], []}},
                 py_job:target({[3, 1], index}, [1], [])).


%% Every builder makes a term the NIF's decoder knows (docs/internals.md, "Jobs").
builders_test() ->
    H = make_ref(),
    ?assertEqual({call, <<"m.f">>, [1], []}, py_job:call(<<"m.f">>, [1], [])),
    ?assertEqual({const, {math, pi}}, py_job:const({math, pi})),
    ?assertEqual({method, H, <<"m">>, [], #{}}, py_job:method(H, <<"m">>, [], #{})),
    ?assertEqual({getattr, H, <<"a">>}, py_job:getattr(H, <<"a">>)),
    ?assertEqual({call_obj, H, [1], []}, py_job:call_obj(H, [1], [])),
    ?assertEqual({eval, <<"x">>, #{}, undefined}, py_job:eval(<<"x">>, #{})),
    ?assertEqual({exec, <<"x = 1">>, #{}, undefined}, py_job:exec(<<"x = 1">>, #{})),
    ?assertEqual({namespace}, py_job:namespace()),
    ?assertEqual({import, <<"os">>}, py_job:import(<<"os">>)),
    ?assertEqual({value, H}, py_job:value(H)),
    ?assertEqual({to_binary, H}, py_job:to_binary(H)),
    ?assertEqual({array, H}, py_job:array(H)),
    ?assertEqual({ndarray, <<0:64>>, [1], <<"<f8">>, true},
                 py_job:ndarray(<<0:64>>, [1], <<"<f8">>, true)).

%% Charlist keyword names (LFE strings) are binaries in every job with kwargs.
charlist_kwargs_test() ->
    H = make_ref(),
    ?assertEqual({call, <<"m.f">>, [], [{<<"base">>, 2}]}, py_job:call(<<"m.f">>, [], [{"base", 2}])),
    ?assertEqual({method, H, <<"m">>, [], [{<<"k">>, 1}]}, py_job:method(H, <<"m">>, [], #{"k" => 1})),
    ?assertEqual({call_obj, H, [], [{<<"k">>, 1}]}, py_job:call_obj(H, [], [{"k", 1}])),
    ?assertEqual({ok, {call, {builtins, int}, [], [{<<"base">>, 2}]}},
                 py_job:target({builtins, int}, [], [{"base", 2}])).

%% The object a job works on, for handles that must go home.
object_test() ->
    H = make_ref(),
    ?assertEqual(H, py_job:object(py_job:method(H, <<"m">>, [], []))),
    ?assertEqual(H, py_job:object(py_job:getattr(H, <<"a">>))),
    ?assertEqual(H, py_job:object(py_job:call_obj(H, [], []))),
    ?assertEqual(H, py_job:object(py_job:value(H))),
    ?assertEqual(H, py_job:object(py_job:to_binary(H))),
    ?assertEqual(H, py_job:object(py_job:array(H))),
    %% An array over a binary is made on any context.
    ?assertEqual(undefined, py_job:object(py_job:ndarray(<<>>, [0], <<"<f8">>, false))),
    ?assertEqual(undefined, py_job:object(py_job:call(<<"m.f">>, [H], []))),
    ?assertEqual(undefined, py_job:object(py_job:eval(<<"x">>, #{}))),
    %% A job in a namespace works on it: it goes where the namespace lives.
    Ns = make_ref(),
    ?assertEqual(Ns, py_job:object(py_job:in_namespace(py_job:eval(<<"x">>, #{}), Ns))),
    ?assertEqual(Ns, py_job:object(py_job:in_namespace(py_job:exec(<<"x">>, #{}), Ns))),
    ?assertEqual(Ns, py_job:object(py_job:in_namespace(py_job:call(f, [], []), Ns))),
    ?assertEqual({call_in, Ns, f, [1], []}, py_job:in_namespace(py_job:call(f, [1], []), Ns)),
    %% Jobs on an object keep it: a namespace means nothing to them.
    ?assertEqual(py_job:value(H), py_job:in_namespace(py_job:value(H), Ns)),
    ?assert(py_job:uses_namespace(py_job:eval(<<"x">>, #{}))),
    ?assertNot(py_job:uses_namespace(py_job:in_namespace(py_job:eval(<<"x">>, #{}), Ns))),
    ?assertNot(py_job:uses_namespace(py_job:call(f, [], []))),
    ?assertEqual({error, {bad_target, {1, 2}}}, py_job:target({1, 2}, [], [])).
