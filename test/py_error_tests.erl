%% The error vocabulary: every reason is recognised and has a text.
-module(py_error_tests).

-include_lib("eunit/include/eunit.hrl").

reasons() ->
    [{python, <<"builtins.ValueError">>, <<"bad">>, [<<"ValueError: bad">>]},
     {unsupported, [0], make_ref()}, {too_deep, [0]}, {too_large, []}, {cycle, [1]},
     {key_collision, [0], <<"a">>}, {bad_kwargs, [a | b]},
     {bad_array, data, <<"8 bytes, where shape [2] of dtype <f8 needs 16">>}, timeout, cancelled,
     {busy, #{gil_stuck_ms => 150}}, {context_down, stopped},
     {python_init_failed, <<"no">>}, {panic, <<"bug">>}, not_started, {bad_option, colour},
     {no_pool, nope}, {no_context, {default, 9}}, {bad_target, {1, 2}},
     {bad_job, x}, {not_a_handle, 1}, not_owner, {erpc, noconnection},
     {remote, error, badarg}, {remote_handle, 'a@b'},
     {worker_down, {signal, 11}}, {worker_down, {exit, 1}}, {worker_down, max_memory},
     {worker_down, killed_after_timeout}, {worker_down, stopped}, {wrong_place, make_ref()},
     {no_handle, 7}, {node_down, 'a@b'}, {namespace_lost, pool}].

every_reason_is_one_test() ->
    [?assert(py_error:is_reason(R)) || R <- reasons()].

other_terms_are_not_test() ->
    [?assertNot(py_error:is_reason(T))
     || T <- [badarg, {badmatch, 1}, function_clause, {python, a, b, c},
              {remote, other, x}, {busy, 1}, {panic, "list"},
              {bad_array, colour, <<"x">>}, {bad_array, shape, "list"},
              %% Misused arguments are the caller's bug, not a py error.
              {bad_name, 1}, {bad_binding, 1}, {bad_bindings, x}, {bad_code, x},
              {no_handle, x}, {node_down, "a@b"}, {namespace_lost, "pool"}]].

every_reason_has_text_test() ->
    [?assert(is_binary(py_error:format(R)) andalso byte_size(py_error:format(R)) > 0)
     || R <- reasons()],
    ?assertEqual(<<"builtins.ValueError: bad\n\nPython traceback:\nValueError: bad">>,
                 py_error:format(hd(reasons()))),
    ?assertEqual(<<"timeout: the deadline passed">>, py_error:format(timeout)),
    ?assertEqual(<<"the worker running the call died of signal 11 (SIGSEGV: a segmentation fault)">>,
                 py_error:format({worker_down, {signal, 11}})).

%% Every reason in docs/api.md's table of errors is one this module knows (but
%% `bad_name', a misused argument: see other_terms_are_not_test/0).
documented_reasons_are_known_test() ->
    {ok, Doc} = file:read_file(filename:join([py_test_util:repo_root(), "docs", "api.md"])),
    [_, Table | _] = binary:split(Doc, [<<"## Errors">>, <<"## Options">>], [global]),
    Rows = [Row || <<"| `", _/binary>> = Row <- binary:split(Table, <<"\n">>, [global])],
    Documented = lists:usort(
                   [binary_to_atom(Tag)
                    || Row <- Rows,
                       [Cell | _] <- [binary:split(Row, <<" | ">>)],
                       {match, Tags} <- [re:run(Cell, <<"`{?([a-z_]+)">>,
                                                [global, {capture, all_but_first, binary}])],
                       [Tag] <- Tags]) -- [bad_name],
    Known = lists:usort([case R of T when is_atom(T) -> T; _ -> element(1, R) end
                         || R <- reasons()]),
    ?assertEqual([], Documented -- Known),
    ?assert(length(Documented) > 25).
