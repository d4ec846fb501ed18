%% @doc numpy arrays both ways (issue 13): py:array/1 gives an array's shape,
%% dtype and memory, the memory shared (not copied) when the array is
%% C-contiguous and kept alive by the binary; py:ndarray/1,2 makes a read-only
%% array over a binary, or a writable copy. Without numpy, py still starts and
%% both give ModuleNotFoundError (in a VM of its own, over a venv without numpy).
-module(py_array_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_testcase/2, end_per_testcase/2]).
-export([shapes/1, dtypes/1, non_contiguous_copied/1, zero_copy/1,
         kept_alive/1, released_after_gc/1, buffer_objects/1, round_trip/1,
         ndarray_shares_binary/1, writable_copy/1, bad_array_map/1,
         not_an_array/1, handle_count_settles/1, without_numpy/1]).

-define(POOL, py_array_one).

suite() ->
    [{timetrap, {minutes, 3}}].

all() ->
    [shapes, dtypes, non_contiguous_copied, zero_copy, kept_alive,
     released_after_gc, buffer_objects, round_trip, ndarray_shares_binary,
     writable_copy, bad_array_map, not_an_array, handle_count_settles,
     without_numpy].

init_per_suite(Config) ->
    ok = py_test_util:start(),
    Config.

end_per_suite(_Config) ->
    ok.

init_per_testcase(_Case, Config) ->
    %% One context, one namespace shared by the test's processes: names set by
    %% one call are seen by the next, whichever process makes it.
    {ok, _} = py:start_pool(?POOL, #{size => 1}),
    persistent_term:put({?MODULE, ns}, py:namespace(#{on => ?POOL})),
    ok = ex(<<"import numpy as np, weakref, gc">>, #{}),
    Config.

end_per_testcase(_Case, _Config) ->
    _ = persistent_term:erase({?MODULE, ns}),
    ok = py:stop_pool(?POOL),
    py_test_util:assert_mailbox_empty().

%%% py:array/1

%% 0-d to 3-d: the shape is the array's, the data its bytes in C order.
shapes(_Config) ->
    Cases = [{<<"np.array(2.5)">>, [], <<2.5:64/float-little>>},
             {<<"np.arange(3, dtype='<i8')">>, [3],
              <<0:64/little, 1:64/little, 2:64/little>>},
             {<<"np.arange(6, dtype='<i2').reshape(2, 3)">>, [2, 3],
              << <<I:16/little>> || I <- lists:seq(0, 5) >>},
             {<<"np.arange(24, dtype='u1').reshape(2, 3, 4)">>, [2, 3, 4],
              list_to_binary(lists:seq(0, 23))},
             {<<"np.zeros((2, 0, 3))">>, [2, 0, 3], <<>>}],
    [{Expr, Shape, Data} = {Expr, S, D}
     || {Expr, Shape, Data} <- Cases,
        #{shape := S, data := D} <- [py:array(ev(Expr))]],
    ok.

%% dtype is numpy's dtype.str; the bytes are the array's (tobytes()).
dtypes(_Config) ->
    Cases = [{<<"np.array([1.5, -2.0])">>, <<"<f8">>},
             {<<"np.array([1.5, -2.0], dtype='float32')">>, <<"<f4">>},
             {<<"np.array([1, -2, 3], dtype='int32')">>, <<"<i4">>},
             {<<"np.array([1, 2, 255], dtype='uint8')">>, <<"|u1">>},
             {<<"np.array([True, False, True])">>, <<"|b1">>},
             {<<"np.array([1+2j, -3.5j])">>, <<"<c16">>},
             {<<"np.array([1, 2], dtype='>i4')">>, <<">i4">>},
             {<<"np.array(['2020-01-02', '1970-01-01'], dtype='datetime64[D]')">>, <<"<M8[D]">>},
             {<<"np.array([b'ab', b'c'])">>, <<"|S2">>},
             {<<"np.array(['h\\u00e9'])">>, <<"<U2">>}],
    lists:foreach(
      fun({Expr, DType}) ->
              A = ev(Expr),
              #{dtype := DType, data := Data, shape := Shape} = py:array(A),
              Data = ev(<<"a.tobytes()">>, #{a => A}),
              Shape = ev(<<"list(a.shape)">>, #{a => A})
      end, Cases),
    %% Read back in Erlang.
    #{data := <<1.5:64/float-little, -2.0:64/float-little>>} =
        py:array(ev(<<"np.array([1.5, -2.0])">>)),
    #{data := <<1:32/signed-little, -2:32/signed-little, 3:32/signed-little>>} =
        py:array(ev(<<"np.array([1, -2, 3], dtype='int32')">>)),
    #{data := <<1, 0, 1>>} = py:array(ev(<<"np.array([True, False, True])">>)),
    #{data := <<1.0:64/float-little, 2.0:64/float-little,
                0.0:64/float-little, -3.5:64/float-little>>} =
        py:array(ev(<<"np.array([1+2j, -3.5j])">>)),
    ok.

%% A slice with a step, a transposed (Fortran-order) array and a broadcast view
%% are copied once into C order: the right values, and Python's later writes
%% are not seen.
non_contiguous_copied(_Config) ->
    ok = ex(<<"base = np.arange(12, dtype='<i4').reshape(3, 4)">>, #{}),
    Strided = on_pool(<<"base[:, ::2]">>),
    false = ev(<<"a.flags.c_contiguous">>, #{a => Strided}),
    #{shape := [3, 2], dtype := <<"<i4">>, data := Data} = py:array(Strided),
    Data = << <<I:32/little>> || I <- [0, 2, 4, 6, 8, 10] >>,
    ok = ex(<<"base[0, 0] = 99">>, #{}),
    <<0:32/little, _/binary>> = Data,
    #{shape := [4, 3], data := T} = py:array(on_pool(<<"base.T">>)),
    T = << <<I:32/little>> || I <- [99, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11] >>,
    #{shape := [2, 3], data := B} =
        py:array(on_pool(<<"np.broadcast_to(np.arange(3, dtype='u1'), (2, 3))">>)),
    <<0, 1, 2, 0, 1, 2>> = B,
    ok.

%% The binary is the array's memory: a write in Python shows in it.
zero_copy(_Config) ->
    A = on_pool(<<"np.zeros(1000)">>),
    #{data := Data} = py:array(A),
    8000 = byte_size(Data),
    <<0.0:64/float-little, _/binary>> = Data,
    ok = ex(<<"a[0] = 42.0\na[-1] = -1.0">>, #{a => A}),
    <<42.0:64/float-little, _:998/binary-unit:64, -1.0:64/float-little>> = Data,
    %% Two calls share the same memory: both see the write.
    #{data := Again} = py:array(A),
    ok = ex(<<"a[1] = 7.0">>, #{a => A}),
    <<_:8/binary, 7.0:64/float-little, _/binary>> = Data,
    <<_:8/binary, 7.0:64/float-little, _/binary>> = Again,
    %% A 2-d contiguous view (a slice of whole rows) is shared too.
    ok = ex(<<"m = np.zeros((4, 3), dtype='<i8')">>, #{}),
    #{shape := [2, 3], data := Rows} = py:array(on_pool(<<"m[1:3]">>)),
    ok = ex(<<"m[1, 0] = 5">>, #{}),
    <<5:64/little, _/binary>> = Rows,
    ok.

%% The binary keeps the array alive after every other reference is gone: the
%% handle collected, the Python name deleted, the memory reused by others.
kept_alive(_Config) ->
    Self = self(),
    Pid = spawn_link(fun() ->
                             H = ev(<<"np.arange(100000, dtype='<f8')">>),
                             ok = ex(<<"r = weakref.ref(a)\ndel a">>, #{a => H}),
                             #{data := D} = py:array(H),
                             Self ! {data, D}
                     end),
    Data = receive {data, D} -> D after 10000 -> ct:fail(no_data) end,
    wait_exit(Pid),
    %% The handle is gone (its process died), the janitor ran: only the binary holds it.
    ok = settle_janitor(),
    true = ev(<<"r() is not None">>, #{}),
    ok = ex(<<"junk = [np.full(100000, 7.0) for _ in range(20)]\ndel junk">>, #{}),
    Expected = << <<(float(I)):64/float-little>> || I <- lists:seq(0, 99999) >>,
    Expected = Data,
    ok.

%% Once the binary is collected too, the array goes (the janitor releases it).
released_after_gc(_Config) ->
    Self = self(),
    Pid = spawn_link(fun() ->
                             H = ev(<<"np.ones(50000)">>, #{}),
                             ok = ex(<<"r = weakref.ref(a)\ndel a">>, #{a => H}),
                             #{data := D} = py:array(H),
                             400000 = byte_size(D),
                             Self ! done
                     end),
    receive done -> ok after 10000 -> ct:fail(no_done) end,
    wait_exit(Pid),
    ok = py_test_util:wait_until(
           fun() -> ev(<<"gc.collect() >= 0 and r() is None">>, #{}) end,
           5000),
    ok.

%% Objects with the buffer protocol that are not arrays: as numpy.asarray of
%% their memoryview (bytes are |u1, array.array('d') is <f8), and a py:buffer
%% is read without a copy of the Erlang binary.
buffer_objects(_Config) ->
    #{shape := [3], dtype := <<"|u1">>, data := <<1, 2, 3>>} = py:array(py:bytes(<<1, 2, 3>>)),
    #{shape := [2], dtype := <<"<f8">>, data := <<1.5:64/float-little, 2.5:64/float-little>>} =
        py:array(ev(<<"__import__('array').array('d', [1.5, 2.5])">>)),
    #{shape := [2], dtype := <<"|u1">>} = py:array(ev(<<"bytearray(b'ab')">>, #{}, #{return => handle})),
    Bin = binary:copy(<<"0123456789">>, 1000),
    #{shape := [10000], dtype := <<"|u1">>, data := Bin} = py:array(py:buffer(Bin)),
    ok.

%%% py:ndarray/1,2

%% array -> map -> ndarray: the same values, dtype and shape.
round_trip(_Config) ->
    Exprs = [<<"np.array(2.5)">>,
             <<"np.arange(5, dtype='int32')">>,
             <<"np.arange(12, dtype='<f8').reshape(3, 4) / 7">>,
             <<"np.arange(24, dtype='u1').reshape(2, 3, 4)">>,
             <<"np.array([[True, False], [False, True]])">>,
             <<"np.array([1+2j, -3.5j, 0j])">>,
             <<"np.array([1, -2], dtype='>i8')">>,
             <<"np.array(['2020-01-02', 'NaT'], dtype='datetime64[s]')">>,
             <<"np.array(['ab', 'c'])">>,
             <<"np.zeros((3, 0))">>,
             <<"np.array([1, -2], dtype='timedelta64[s]')">>,
             <<"np.frombuffer(b'abcdefgh', dtype='V4')">>,
             <<"np.arange(20, dtype='<i2').reshape(4, 5)[::2, 1:4]">>],
    lists:foreach(
      fun(Expr) ->
              A = ev(Expr),
              M = py:array(A),
              B = py:ndarray(M),
              true = ev(<<"a.dtype == b.dtype and a.shape == b.shape and "
                               "np.array_equal(a, b, equal_nan=a.dtype.kind in 'fc')"
                               " if a.dtype.kind not in 'mM' else "
                               "(a.view('i8') == b.view('i8')).all()">>,
                             #{a => A, b => B}),
              false = ev(<<"b.flags.writeable">>, #{b => B}),
              M = py:array(B)
      end, Exprs),
    %% dtype as an atom, and dtype names numpy knows.
    H = py:ndarray(#{shape => [2], dtype => float64,
                     data => <<1.0:64/float-native, 2.0:64/float-native>>}),
    [1.0, 2.0] = py:value(H),
    [1, 2] = py:value(py:ndarray(#{shape => [2], dtype => <<"uint16">>,
                                   data => <<1:16/native, 2:16/native>>})),
    %% Extra keys are ignored.
    [[1, 2], [3, 4]] = py:value(py:ndarray(#{shape => [2, 2], dtype => <<"u1">>,
                                             data => <<1, 2, 3, 4>>, note => x})),
    ok.

%% The array reads the binary's memory (two arrays over one binary have one
%% data address, the binary's) and cannot write it.
ndarray_shares_binary(_Config) ->
    Bin = binary:copy(<<1.0:64/float-little>>, 100000),
    M = #{shape => [1000, 100], dtype => <<"<f8">>, data => Bin},
    A = py:ndarray(M),
    B = py:ndarray(M),
    true = ev(<<"a.__array_interface__['data'][0] == b.__array_interface__['data'][0]">>,
                   #{a => A, b => B}),
    %% py:array of it gives back the very same memory.
    #{data := Same} = py:array(A),
    Bin = Same,
    {python, <<"builtins.ValueError">>, <<"assignment destination is read-only">>, _} =
        py_test_util:raised(fun() -> ex(<<"a[0, 0] = 2.0">>, #{a => A}) end),
    100000.0 = ev(<<"float(a.sum())">>, #{a => A}),
    ok.

%% writable => true: a copy, writable, independent of the binary.
writable_copy(_Config) ->
    Bin = << <<I:32/little>> || I <- lists:seq(1, 6) >>,
    M = #{shape => [2, 3], dtype => <<"<i4">>, data => Bin},
    W = py:ndarray(M, #{writable => true}),
    true = ev(<<"w.flags.writeable and w.flags.owndata">>, #{w => W}),
    ok = ex(<<"w[0, 0] = 99">>, #{w => W}),
    <<1:32/little, _/binary>> = Bin,
    #{data := <<99:32/little, 2:32/little, _/binary>>} = py:array(W),
    RO = py:ndarray(M, #{writable => false}),
    false = ev(<<"a.flags.writeable">>, #{a => RO}),
    ok.

%% Each wrong field of the map is named; wrong options too.
bad_array_map(_Config) ->
    Good = #{shape => [2], dtype => <<"<f8">>, data => <<0:128>>},
    Cases = [{maps:remove(shape, Good), {bad_array, shape, <<"missing">>}},
             {maps:remove(dtype, Good), {bad_array, dtype, <<"missing">>}},
             {maps:remove(data, Good), {bad_array, data, <<"missing">>}},
             {Good#{shape => [-1]}, {bad_array, shape, <<"not a list of non-negative integers">>}},
             {Good#{shape => {2}}, {bad_array, shape, <<"not a list of non-negative integers">>}},
             {Good#{shape => [2.0]}, {bad_array, shape, <<"not a list of non-negative integers">>}},
             {Good#{dtype => "f8"}, {bad_array, dtype, <<"not a binary nor an atom">>}},
             {Good#{data => [0]}, {bad_array, data, <<"not a binary">>}},
             {Good#{dtype => <<"nonsense">>},
              {bad_array, dtype, <<"data type 'nonsense' not understood">>}},
             {Good#{dtype => <<"<f4">>},
              {bad_array, data, <<"16 bytes, where shape [2] of dtype <f4 needs 8">>}},
             {Good#{shape => [3]},
              {bad_array, data, <<"16 bytes, where shape [3] of dtype <f8 needs 24">>}},
             {Good#{shape => [1 bsl 40, 1 bsl 40]},
              {bad_array, shape, <<"shape [1099511627776, 1099511627776] is too large">>}}],
    lists:foreach(
      fun({Map, Reason}) ->
              {Map, Reason} = {Map, py_test_util:raised(fun() -> py:ndarray(Map) end)},
              true = py_error:is_reason(Reason)
      end, Cases),
    {bad_array, dtype, Why} =
        py_test_util:raised(fun() -> py:ndarray(Good#{dtype => <<"O">>}) end),
    true = py_test_util:contains(Why, <<"Python objects">>),
    {bad_array, dtype, NoSize} =
        py_test_util:raised(fun() -> py:ndarray(Good#{dtype => <<"U">>}) end),
    true = py_test_util:contains(NoSize, <<"no size">>),
    {bad_option, writable} =
        py_test_util:raised(fun() -> py:ndarray(Good, #{writable => yes}) end),
    {bad_option, copy} = py_test_util:raised(fun() -> py:ndarray(Good, #{copy => true}) end),
    {'EXIT', {function_clause, _}} = (catch py:ndarray([1, 2])),
    %% The NIF checks the fields too, whoever builds the job.
    {error, {bad_array, shape, _}} = py_exec:run(py_job:ndarray(<<0:128>>, [a], <<"<f8">>, false),
                                                 #{return => handle}),
    {error, {bad_array, dtype, _}} = py_exec:run(py_job:ndarray(<<0:128>>, [2], 3, false),
                                                 #{return => handle}),
    {error, {bad_array, data, _}} = py_exec:run(py_job:ndarray(x, [2], <<"<f8">>, false),
                                                #{return => handle}),
    ok.

%% py:array of what is not an array nor a buffer, or whose items are not data.
not_an_array(_Config) ->
    {python, <<"builtins.TypeError">>,
     <<"py:array needs a numpy array or an object with the buffer protocol, not list">>, _} =
        py_test_util:raised(fun() -> py:array(ev(<<"[1, 2]">>, #{}, #{return => handle})) end),
    {python, <<"builtins.TypeError">>, _, _} = py_test_util:raised(fun() -> py:array(42) end),
    {python, <<"builtins.TypeError">>, <<"py:array needs", _/binary>>, _} =
        py_test_util:raised(fun() -> py:array(<<"text">>) end),
    {python, <<"builtins.TypeError">>, Obj, _} =
        py_test_util:raised(fun() -> py:array(ev(<<"np.array([1, 'a'], dtype=object)">>)) end),
    true = py_test_util:contains(Obj, <<"|O">>),
    {python, <<"builtins.TypeError">>, Structured, _} =
        py_test_util:raised(fun() -> py:array(ev(<<"np.zeros(2, dtype='i4,f8')">>)) end),
    true = py_test_util:contains(Structured, <<"structured">>),
    {python, <<"builtins.TypeError">>, Strings, _} =
        py_test_util:raised(fun() -> py:array(ev(<<"np.array(['a', 'bc'], dtype=np.dtypes.StringDType())">>)) end),
    true = py_test_util:contains(Strings, <<"Python objects">>),
    ok.

%% Every handle made by the calls above is gone after GC: the count returns
%% to where it started.
handle_count_settles(_Config) ->
    Start = py_nif:handle_count(),
    Self = self(),
    Pid = spawn_link(
            fun() ->
                    lists:foreach(
                      fun(I) ->
                              A = ev(<<"np.arange(n, dtype='<f8')">>, #{n => I}),
                              M = py:array(A),
                              B = py:ndarray(M),
                              W = py:ndarray(M, #{writable => true}),
                              M = py:array(B),
                              M = py:array(W)
                      end, lists:seq(0, 200)),
                    Self ! done
            end),
    receive done -> ok after 60000 -> ct:fail(no_done) end,
    wait_exit(Pid),
    true = erlang:garbage_collect(),
    ok = py_test_util:wait_until(fun() -> py_nif:handle_count() =< Start end, 5000),
    ok.

%% Without numpy py starts, runs Python, and py:array / py:ndarray raise
%% ModuleNotFoundError. A venv without numpy, in a VM of its own (one
%% interpreter per OS process).
without_numpy(Config) ->
    Venv = filename:join(?config(priv_dir, Config), "venv_no_numpy"),
    Python = string:trim(os:cmd("sh " ++ filename:join(py_test_util:repo_root(),
                                                       "scripts/find-python.sh"))),
    {0, _} = py_test_util:run(Python, ["-m", "venv", "--without-pip", Venv],
                              py_test_util:repo_root(), []),
    Ebin = filename:dirname(code:which(py)),
    Eval = "{ok, _} = application:ensure_all_started(py),"
           "io:format(\"eval=~p~n\", [py:eval(<<\"1 + 1\">>)]),"
           "io:format(\"numpy=~p~n\", [py:eval(<<\"__import__('importlib.util').util.find_spec('numpy') is None\">>)]),"
           "R1 = try py:array(py:bytes(<<1>>)) catch error:E1 -> E1 end,"
           "io:format(\"array=~0p~n\", [R1]),"
           "R2 = try py:ndarray(#{shape => [1], dtype => <<\"u1\">>, data => <<1>>})"
           " catch error:E2 -> E2 end,"
           "io:format(\"ndarray=~0p~n\", [R2]),"
           "io:format(\"bytes=~p~n\", [py:to_binary(py:bytes(<<1, 2>>))]),"
           "halt().",
    {0, Out} = py_test_util:run("erl", ["-noshell", "-pa", Ebin, "-py", "venv",
                                        "\"" ++ Venv ++ "\"", "-eval", Eval],
                                py_test_util:repo_root(), [{"VIRTUAL_ENV", false}]),
    ct:log("~ts", [Out]),
    true = py_test_util:contains(Out, <<"eval=2">>),
    true = py_test_util:contains(Out, <<"numpy=true">>),
    true = py_test_util:contains(Out, <<"array={python,<<\"builtins.ModuleNotFoundError\">>">>),
    true = py_test_util:contains(Out, <<"No module named 'numpy'">>),
    true = py_test_util:contains(Out, <<"ndarray={python,<<\"builtins.ModuleNotFoundError\">>">>),
    true = py_test_util:contains(Out, <<"bytes=<<1,2>>">>),
    ok.

%%% Helpers

%% Everything runs in the test's namespace, on its one-context pool, where
%% numpy is imported as np.
ns() -> persistent_term:get({?MODULE, ns}).

on_pool(Expr) -> ev(Expr).

ev(Expr) -> ev(Expr, #{}).
ev(Expr, Bindings) -> ev(Expr, Bindings, #{}).
ev(Expr, Bindings, Opts) -> py:eval(Expr, Bindings, Opts#{namespace => ns()}).

ex(Code, Bindings) -> ex(Code, Bindings, #{}).
ex(Code, Bindings, Opts) -> py:exec(Code, Bindings, Opts#{namespace => ns()}).

wait_exit(Pid) ->
    MRef = monitor(process, Pid),
    receive {'DOWN', MRef, process, Pid, _} -> ok after 10000 -> ct:fail(no_exit) end.

%% The collected handles reach the janitor, which drops their objects: wait
%% until the count of live handles stops falling.
settle_janitor() ->
    true = erlang:garbage_collect(),
    timer:sleep(200),
    ok = ex(<<"gc.collect()">>, #{}).
