%% @doc Workers (issue 14): Python in OS processes of its own behind the same
%% API. Every case gets a new pool `w' of two workers (`#{kind => worker,
%% size => 2}', with the case's extra options, see pool_opts/1), so that a
%% case that leaves a worker stuck, dead or full cannot affect the next one.
%%
%% Groups:
%% <ul>
%% <li>`api': the call surface on a worker, errors, namespaces, `pool_info',
%%     proxy handles (other processes, as arguments, GC, after a worker died,
%%     with `on => dirty'), callbacks, output and logging.</li>
%% <li>`crashes': a segfault, an abort, `os._exit', `max_memory', the owner
%%     killed, the pool stopped, callers that die: the VM carries on, the
%%     next call is served, the other worker is not touched.</li>
%% <li>`timeouts': a blocking system call, and C code that checks for signals
%%     (the regex engine), are interrupted (the worker stays); C code holding
%%     the GIL that never checks is killed after `kill_after' while the other
%%     worker answers.</li>
%% <li>`orphans': no worker outlives its VM (`halt()', `kill -9'), in VMs of
%%     their own.</li>
%% <li>`load': 1,000 callers, some killed, some with short timeouts.</li>
%% <li>`speed': CPU parallelism of two workers; the time to replace one.</li>
%% </ul>
-module(py_worker_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2, init_per_testcase/2, end_per_testcase/2]).
%% api
-export([call_surface/1, big_job_in_pieces/1, jobs_written_as_term_to_binary/1,
         namespace_lost_with_its_worker/1,
         same_answers_as_contexts/1, same_interpreter_as_contexts/1,
         kwargs_and_return_handle/1,
         python_errors/1, async_call_and_cancel/1, namespace_per_process/1,
         namespace_and_handle_of_other_worker/1, isinstance_by_name_on_pool/1, pool_info/1,
         proxy_from_another_process/1, proxy_as_argument/1, proxy_gc/1,
         proxy_after_worker_down/1, proxy_on_dirty/1, proxy_in_context_call/1,
         dropped_results_release_objects/1,
         context_handle_on_worker_pool/1,
         callbacks_nested/1, callbacks_self_send_cast/1, callback_fun_and_error/1,
         print_to_group_leader/1, print_flood_in_order/1, logging_to_logger/1,
         sqlite_on_worker/1]).
%% crashes
-export([segfault/1, abort/1, os_exit/1, max_memory_bytes/1, max_memory_list/1,
         owner_killed_mid_call/1, owner_killed_while_worker_holds_gil/1,
         owner_killed_after_replacement/1,
         pool_stopped_mid_call/1, caller_dies_frees_worker/1,
         caller_dies_during_callback/1]).
%% timeouts
-export([sleep_interrupted/1, gil_regex_interrupted/1, gil_sum_killed_after_grace/1,
         queued_jobs_killed_after_timeout/1, stopped_worker_killed_after_grace/1]).
%% orphans
-export([no_orphans_after_halt/1, no_orphans_after_kill_9/1]).
%% load, speed
-export([callers_1000/1, cpu_parallelism/1, replacement_time/1]).
%% called from Python
-export([nest/2, identity/1, slow_identity/2, cast_target/2]).
%% run in a VM of its own
-export([child_main/2, child_halt/0, child_kill_9/0]).

-define(W, w).
-define(MB, (1024 * 1024)).
%% The line a child VM prints a term on.
-define(CHILD_MARK, "PY_WORKER_CHILD ").
%% A C loop of the issue that holds the GIL (about 2^32 steps of the regex
%% engine), but checks for signals now and then.
-define(REGEX, <<"(a+)+$">>).
-define(REGEX_SUBJECT, <<"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab">>).
%% The other C loop of the issue, which never checks for signals.
-define(GIL_SUM, <<"sum(range(10**10))">>).

suite() ->
    [{timetrap, {minutes, 3}}].

all() ->
    [{group, api}, {group, crashes}, {group, timeouts}, {group, orphans}, {group, load},
     {group, speed}].

groups() ->
    [{api, [], [call_surface, big_job_in_pieces, jobs_written_as_term_to_binary,
                same_answers_as_contexts,
                same_interpreter_as_contexts,
                kwargs_and_return_handle,
                python_errors, async_call_and_cancel, namespace_per_process,
                namespace_and_handle_of_other_worker, isinstance_by_name_on_pool, pool_info,
                proxy_from_another_process, proxy_as_argument, proxy_gc,
                proxy_after_worker_down, proxy_on_dirty, proxy_in_context_call,
                dropped_results_release_objects, context_handle_on_worker_pool,
                callbacks_nested, callbacks_self_send_cast, callback_fun_and_error,
                print_to_group_leader, print_flood_in_order, logging_to_logger,
                sqlite_on_worker]},
     {crashes, [], [segfault, abort, os_exit, namespace_lost_with_its_worker,
                    max_memory_bytes, max_memory_list,
                    owner_killed_mid_call, owner_killed_while_worker_holds_gil,
                    owner_killed_after_replacement,
                    pool_stopped_mid_call, caller_dies_frees_worker,
                    caller_dies_during_callback]},
     {timeouts, [], [sleep_interrupted, gil_regex_interrupted,
                     gil_sum_killed_after_grace, queued_jobs_killed_after_timeout,
                     stopped_worker_killed_after_grace]},
     {orphans, [], [no_orphans_after_halt, no_orphans_after_kill_9]},
     {load, [], [callers_1000]},
     {speed, [], [cpu_parallelism, replacement_time]}].

init_per_suite(Config) ->
    ok = py_test_util:start(),
    case filelib:is_regular(py_worker:executable()) of
        true -> Config;
        false -> ct:fail({no_worker_program, py_worker:executable()})
    end.

end_per_suite(_Config) ->
    ok.

init_per_group(_Group, Config) ->
    Config.

end_per_group(_Group, _Config) ->
    ok.

init_per_testcase(Case, Config) ->
    _ = py_test_util:flush(),
    {ok, _} = py:start_pool(?W, pool_opts(Case, Config)),
    [{ok, 3} = py:call({operator, add}, [1, 2], [], #{on => {?W, N}, timeout => 10000})
     || N <- [1, 2]],
    Config.

end_per_testcase(_Case, _Config) ->
    _ = py:stop_pool(?W),
    py_test_util:assert_mailbox_empty().

%% The pool each case runs on: two workers with the suite's helpers on their
%% path, and what the case needs besides.
pool_opts(Case, Config) ->
    Base = #{kind => worker, size => 2, path => [?config(data_dir, Config)]},
    maps:merge(Base, extra_opts(Case)).

extra_opts(Case) when Case =:= sleep_interrupted; Case =:= gil_regex_interrupted;
                      Case =:= gil_sum_killed_after_grace;
                      Case =:= queued_jobs_killed_after_timeout;
                      Case =:= stopped_worker_killed_after_grace ->
    #{kill_after => 200};
extra_opts(Case) when Case =:= max_memory_bytes; Case =:= max_memory_list ->
    #{max_memory => 512 * ?MB};
extra_opts(Case) when Case =:= caller_dies_frees_worker; Case =:= caller_dies_during_callback ->
    %% Whatever ends the job, it is not the caller's own timeout (infinity).
    #{kill_after => 500};
extra_opts(_Case) ->
    #{}.

%%% The API on a worker

%% Every kind of call of the API, on the pool (round robin over two workers).
call_surface(_Config) ->
    On = #{on => ?W},
    W = fun(Fun) -> py_exec:with_defaults(On, Fun) end,
    65536.0 = W(fun() -> py:func(math, pow, [2, 16]) end),
    65536.0 = W(fun() -> py:func('math.pow', [2, 16]) end),
    255 = W(fun() -> py:func(builtins, int, [<<"ff">>], #{base => 16}) end),
    3.141592653589793 = W(fun() -> py:const(math, pi) end),
    D = W(fun() -> py:init(datetime, date, [1923, 4, 2]) end),
    true = is_reference(D),
    <<"1923-04-02">> = W(fun() -> py:method(D, isoformat) end),
    <<"1923">> = W(fun() -> py:method(D, strftime, [<<"%Y">>]) end),
    1923 = W(fun() -> py:attr(D, year) end),
    D2 = W(fun() -> py:method(D, replace, [], #{year => 2000}) end),
    <<"2000-04-02">> = W(fun() -> py:method(D2, isoformat) end),
    <<"a/b">> = W(fun() -> py:pycall(os, 'path.join', [<<"a">>, <<"b">>]) end),
    42 = py:eval(<<"x * 2">>, #{x => 21}, On),
    ok = py:exec(<<"import math\nr = math.sqrt(16)">>, #{}, On),
    4.0 = py:eval(<<"r">>, #{}, On),
    {ok, 3.0} = py:call({math, sqrt}, [9], [], On),
    {ok, 3.0} = py:call('math.sqrt', [9], [], On),
    {ok, <<"1923-04-02">>} = py:call({D, isoformat}, [], [], On),
    Json = W(fun() -> py:import(json) end),
    true = is_reference(Json),
    <<"[1]">> = W(fun() -> py:method(Json, dumps, [[1]]) end),
    [1, 2] = W(fun() -> py:value(py:eval(<<"[1, 2]">>, #{}, #{return => handle})) end),
    <<1, 2>> = W(fun() -> py:to_binary(py:bytes(<<1, 2>>)) end),
    2 = W(fun() -> py:len(py:bytes(<<1, 2>>)) end),
    %% Builtins and operators.
    42 = W(fun() -> py:int(<<"42">>) end),
    {-4, 1} = W(fun() -> py:divmod(-7, 2) end),
    [0, 1, 2] = W(fun() -> py:pylist(py:range(3)) end),
    true = W(fun() -> py:isinstance(1, int) end),
    [1, 2, 3] = W(fun() -> py:sorted([3, 1, 2]) end),
    12 = W(fun() -> py:'and-'(60, 13) end),
    49 = W(fun() -> py:'xor'(60, 13) end),
    3.5 = W(fun() -> py:truediv(7, 2) end),
    true = W(fun() -> py:eq(1, 1.0) end),
    1 = W(fun() -> py:getitem(#{a => 1}, a) end),
    Delta = W(fun() -> py:sub(D2, D) end),
    28125 = W(fun() -> py:attr(Delta, days) end),
    true = W(fun() -> py:gt(D2, D) end),
    ok.

%% What a worker answers is what a context answers, call for call.
same_answers_as_contexts(_Config) ->
    Different = [{Target, Ctx, Worker}
                 || {Target, Args, Kwargs} <- py_test_util:answer_samples(),
                    Ctx <- [py:call(Target, Args, Kwargs, #{on => default})],
                    Worker <- [py:call(Target, Args, Kwargs, #{on => ?W})],
                    not py_test_util:same_answer(Ctx, Worker)],
    [] = Different,
    ok.

%% A pool that names no interpreter runs the VM's own, as contexts do: the
%% same executable, prefix (the virtualenv, from `$VIRTUAL_ENV' when the
%% application env names none) and packages.
same_interpreter_as_contexts(_Config) ->
    Code = <<"import sys\n(sys.version, sys.prefix, sys.executable, "
             "[p for p in sys.path if p.endswith('site-packages')])">>,
    Ctx = py:eval(Code),
    Worker = py:eval(Code, #{}, #{on => ?W}),
    ct:log("context ~p~nworker  ~p", [Ctx, Worker]),
    Ctx = Worker,
    ok.

kwargs_and_return_handle(_Config) ->
    On = #{on => ?W},
    {ok, 255} = py:call({builtins, int}, [<<"ff">>], [{base, 16}], On),
    {ok, 255} = py:call({builtins, int}, [<<"ff">>], #{<<"base">> => 16}, On),
    {ok, <<"{\"a\": 1, \"b\": 2}">>} =
        py:call({json, dumps}, [#{b => 2, a => 1}], #{sort_keys => true}, On),
    {ok, H} = py:call({builtins, list}, [[1, 2]], [], On#{return => handle}),
    true = is_reference(H),
    {Owner, _Gen, _Id} = py_nif:proxy_info(H),
    true = is_pid(Owner),
    [1, 2] = py:value(H),
    2 = py:len(H),
    {ok, [undefined, nil]} =
        py:call({builtins, eval}, [<<"[__import__('erlang').Atom('undefined'), None]">>], [],
                On#{none => nil}),
    {ok, [undefined]} = py:call({builtins, eval}, [<<"[None]">>], [], On),
    ok.

%% Python errors are {python, Type, Message, Traceback}, as on a context, and
%% the worker serves the next call.
python_errors(_Config) ->
    On = #{on => ?W},
    {error, {python, <<"builtins.ValueError">>, <<"math domain error">>, Tb1}} =
        py:call({math, sqrt}, [-1], [], On),
    <<"ValueError: math domain error">> = lists:last(Tb1),
    {error, {python, <<"builtins.ModuleNotFoundError">>, <<"No module named 'nope_xyz'">>, _}} =
        py:call({nope_xyz, f}, [], [], On),
    {error, {python, <<"json.decoder.JSONDecodeError">>, _, _}} = py:call({json, loads}, [<<"{">>], [], On),
    Code = <<"def exc_fn_inner():\n"
             "    raise ValueError('bad value 42')\n"
             "exc_fn_inner()\n">>,
    {python, <<"builtins.ValueError">>, <<"bad value 42">>, Tb2} =
        py_test_util:raised(fun() -> py:exec(Code, #{}, On) end),
    <<"Traceback (most recent call last):">> = hd(Tb2),
    <<"ValueError: bad value 42">> = lists:last(Tb2),
    true = py_test_util:contains(iolist_to_binary(Tb2), "in exc_fn_inner"),
    {python, <<"builtins.SyntaxError">>, _, _} =
        py_test_util:raised(fun() -> py:eval(<<"1 +">>, #{}, On) end),
    {error, {bad_option, bogus}} = py:call({math, sqrt}, [4], [], On#{bogus => 1}),
    {error, {no_context, {?W, 3}}} = py:call({math, sqrt}, [4], [], #{on => {?W, 3}}),
    [{ok, 3} = py:call({operator, add}, [1, 2], [], #{on => {?W, N}}) || N <- [1, 2]],
    ok.

async_call_and_cancel(_Config) ->
    {ok, R1} = py:async_call({operator, add}, [40, 2], [], #{on => ?W}),
    {ok, 42} = py:await(R1),
    #{restarts := 0} = py:pool_info(?W),
    {ok, R2} = py:async_call('builtins.exec', [<<"while True: pass">>, #{}], [],
                             #{on => {?W, 1}, timeout => infinity}),
    timer:sleep(100),
    ok = py:cancel(R2),
    T0 = now_ms(),
    {error, cancelled} = py:await(R2),
    true = now_ms() - T0 < 100,
    {error, not_owner} = py_test_util:in_process(fun() -> py:await(R1) end),
    %% Interrupted, not killed: the same worker takes the next call.
    T1 = now_ms(),
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => {?W, 1}, timeout => 2000}),
    ct:log("next call on the worker ~b ms after the cancel", [now_ms() - T1]),
    %% Cancelled from another process.
    {ok, R3} = py:async_call({time, sleep}, [5], [], #{on => {?W, 2}, timeout => infinity}),
    Self = self(),
    spawn_link(fun() -> timer:sleep(50), Self ! {cancelled, py:cancel(R3)} end),
    {error, cancelled} = py:await(R3),
    receive {cancelled, ok} -> ok after 1000 -> ct:fail(no_cancel) end,
    %% A result already sent wins over a late cancel.
    {ok, R4} = py:async_call({operator, add}, [1, 1], [], #{on => ?W}),
    timer:sleep(100),
    ok = py:cancel(R4),
    {ok, 2} = py:await(R4),
    timer:sleep(1200),
    #{restarts := 0} = py:pool_info(?W),
    py_test_util:assert_mailbox_empty().

%% A process's eval/exec share one namespace whichever worker the pool picks;
%% another process has its own.
namespace_per_process(_Config) ->
    On = #{on => ?W},
    ok = py:exec(<<"x = 1">>, #{}, On),
    [1 = py:eval(<<"x">>, #{}, On) || _ <- lists:seq(1, 8)],
    ok = py:exec(<<"x = x + 1">>, #{}, #{on => {?W, 2}}),
    2 = py:eval(<<"x">>, #{}, #{on => {?W, 1}}),
    2 = py:eval(<<"x">>, #{}, #{on => {?W, 2}}),
    {python, <<"builtins.NameError">>, _, _} =
        py_test_util:in_process(fun() -> py_test_util:raised(fun() -> py:eval(<<"x">>, #{}, On) end) end),
    %% A namespace made on purpose is shared.
    Ns = py:namespace(On),
    ok = py:exec(<<"shared = 7">>, #{}, #{namespace => Ns}),
    7 = py_test_util:in_process(fun() -> py:eval(<<"shared">>, #{}, #{namespace => Ns}) end),
    ok.

%% A handle bound in eval: on a context any handle can be bound. Here the
%% process's namespace is in worker 2 and the handle in worker 1, which
%% docs/workers.md says is refused (`wrong_place'); the namespace and the
%% handle both still work.
namespace_and_handle_of_other_worker(_Config) ->
    H = make_date(1),
    ok = py:exec(<<"y = 2">>, #{}, #{on => {?W, 2}}),
    Result = (catch py:eval(<<"h.year + y">>, #{h => H}, #{on => ?W})),
    ct:log("eval binding a handle of worker 1 in a namespace of worker 2: ~p", [Result]),
    {'EXIT', {{wrong_place, H}, _}} = Result,
    2 = py:eval(<<"y">>, #{}, #{on => ?W}),
    2000 = py:attr(H, year),
    %% A handle of the namespace's own worker can be bound.
    H2 = make_date(2),
    2002 = py:eval(<<"h.year + y">>, #{h => H2}, #{on => ?W}),
    ok.

%% isinstance/issubclass with a class given by name are one call of the API:
%% the class must be found where the object is, whichever worker the pool
%% would pick for a call of its own.
isinstance_by_name_on_pool(_Config) ->
    Results = py_exec:with_defaults(
                #{on => ?W},
                fun() ->
                        [catch {py:isinstance(py:func(datetime, date, [2000, 1, 2]), 'datetime.date'),
                                py:isinstance(py:func(datetime, date, [2000, 1, 2]), object),
                                py:issubclass(bool, int)}
                         || _ <- lists:seq(1, 4)]
                end),
    ct:log("~p", [Results]),
    [{true, true, true}] = lists:usort(Results),
    ok.

pool_info(_Config) ->
    #{kind := worker, size := 2, busy := 0, queued := 0, restarts := 0, handles := Handles,
      workers := [#{os_pid := P1, busy := false, queued := 0},
                  #{os_pid := P2, busy := false, queued := 0}]} = Info = py:pool_info(?W),
    ct:log("~p", [Info]),
    true = is_integer(Handles),
    true = P1 =/= P2,
    true = alive(P1) andalso alive(P2),
    P1 = worker_pid(1),
    P2 = worker_pid(2),
    "py_worker" = filename:basename(exe(P1)),
    %% Three jobs on worker 1: one runs, two wait.
    Rs = [begin
              {ok, R} = py:async_call({time, sleep}, [0.3], [], #{on => {?W, 1}, timeout => 5000}),
              R
          end || _ <- lists:seq(1, 3)],
    timer:sleep(100),
    #{busy := 1, queued := 2,
      workers := [#{busy := true, queued := 2}, #{busy := false, queued := 0}]} = py:pool_info(?W),
    [{ok, undefined} = py:await(R) || R <- Rs],
    #{busy := 0, queued := 0} = py:pool_info(?W),
    {error, {no_pool, nope}} = py:pool_info(nope),
    ok.

%%% Proxy handles

proxy_from_another_process(_Config) ->
    H = make_date(1),
    {<<"2000-01-02">>, 2000, P1} =
        py_test_util:in_process(fun() ->
                                        {py:method(H, isoformat), py:attr(H, year),
                                         py:func(worker_helpers, pid_with, [H])}
                                end),
    P1 = worker_pid(1),
    ok.

%% A call with a handle among its arguments goes to the handle's worker,
%% whatever worker the pool would pick, in any position.
proxy_as_argument(_Config) ->
    H = make_date(1),
    P1 = worker_pid(1),
    Id = py:id(H),
    [{ok, Id} = py:call({builtins, id}, [H], [], #{on => ?W}) || _ <- lists:seq(1, 6)],
    [{ok, P1} = py:call({worker_helpers, pid_with}, [0, H], [], #{on => ?W}) || _ <- lists:seq(1, 6)],
    [{ok, P1} = py:call({worker_helpers, pid_with}, [0, [#{k => {H}}]], [], #{on => {?W, 2}})
     || _ <- lists:seq(1, 2)],
    {ok, false} = py:call({operator, eq}, [1, H], [], #{on => ?W}),
    {ok, true} = py:call({operator, eq}, [H, H], [], #{on => ?W}),
    %% Handles of two workers in one job cannot meet anywhere: a clear error.
    H2 = make_date(2),
    {error, Reason} = py:call({operator, eq}, [H, H2], [], #{on => ?W}),
    ct:log("handles of two workers in one call: ~p", [Reason]),
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => ?W}),
    ok.

%% While 1,000 handles are held, `pool_info' counts them; once they are
%% dropped they are released: the worker's own count of objects and the
%% pool's count of handles go back to where they were.
proxy_gc(_Config) ->
    #{handles := H0} = py:pool_info(?W),
    {ok, 0} = py:call({worker_helpers, live}, [], [], #{on => {?W, 1}}),
    Self = self(),
    {Pid, Mon} = spawn_monitor(
                   fun() ->
                           Hs = [begin
                                     {ok, H} = py:call({worker_helpers, 'Tracked'}, [], [],
                                                       #{on => {?W, 1}}),
                                     H
                                 end || _ <- lists:seq(1, 1000)],
                           Self ! {made, py:call({worker_helpers, live}, [], [], #{on => {?W, 1}}),
                                   maps:get(handles, py:pool_info(?W))},
                           receive drop -> length(Hs) end
                   end),
    receive
        {made, Made, Held} ->
            ct:log("1000 handles held: ~p live objects, pool_info handles ~b (~b before)",
                   [Made, Held, H0]),
            {ok, 1000} = Made
    after 30000 ->
            Held = ct:fail(not_made)
    end,
    Pid ! drop,
    receive {'DOWN', Mon, process, Pid, normal} -> ok end,
    true = erlang:garbage_collect(),
    T0 = now_ms(),
    Back = py_test_util:wait_until(
             fun() ->
                     {ok, Live} = py:call({worker_helpers, live}, [], [], #{on => {?W, 1}}),
                     #{handles := H} = py:pool_info(?W),
                     Live =:= 0 andalso H =< H0
             end, 5000),
    {ok, Live} = py:call({worker_helpers, live}, [], [], #{on => {?W, 1}}),
    #{handles := H1} = py:pool_info(?W),
    ct:log("handles ~b before, ~b after; live objects in the worker ~b; ~b ms", [H0, H1, Live, now_ms() - T0]),
    ok = Back,
    true = Held >= H0 + 1000,
    ok.

%% The objects of a dead worker are gone: their handles say why.
proxy_after_worker_down(_Config) ->
    H = make_date(1),
    #{restarts := 0} = py:pool_info(?W),
    ok = gen_server:call(owner(1), kill),
    ok = wait_restarts(1),
    Down = {worker_down, {signal, 9}},
    {error, Down} = py:call({H, isoformat}, []),
    Down = py_test_util:raised(fun() -> py:attr(H, year) end),
    {error, Down} = py:call({builtins, id}, [H], [], #{on => ?W}),
    {error, Down} = py:call({worker_helpers, pid_with}, [0, H], [], #{on => {?W, 2}}),
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => {?W, 1}}),
    ok.

%% An object made for a caller that never receives it (it gave up at its
%% deadline, or it was killed) is released all the same: the worker's count
%% of live objects goes back to zero.
dropped_results_release_objects(_Config) ->
    Live = fun() ->
                   {ok, L} = py:call({worker_helpers, live}, [], [], #{on => {?W, 1}}),
                   L
           end,
    0 = Live(),
    %% Given up at once (timeout 0): some made all the same.
    Results = [py:call({worker_helpers, 'Tracked'}, [], [], #{on => {?W, 1}, timeout => 0})
               || _ <- lists:seq(1, 300)],
    %% Callers killed while their objects are being made.
    Pids = [spawn(fun() ->
                          [py:call({worker_helpers, 'Tracked'}, [], [], #{on => {?W, 1}})
                           || _ <- lists:seq(1, 20)]
                  end) || _ <- lists:seq(1, 20)],
    timer:sleep(5),
    [exit(P, kill) || P <- Pids],
    gc_all(),
    Back = py_test_util:wait_until(fun() -> gc_all(), Live() =:= 0 end, 5000),
    ct:log("~p; live objects 5 s after: ~b; pool_info handles ~b",
           [count([reply_kind(R) || R <- Results]), Live(), maps:get(handles, py:pool_info(?W))]),
    ok = Back,
    ok.

%% A handle decides where its call runs, whatever place the options name: a
%% worker's handle with `on => dirty' goes to its worker too.
proxy_on_dirty(_Config) ->
    H = make_date(1),
    R1 = py:call({H, isoformat}, [], [], #{on => dirty}),
    R2 = py:call({builtins, id}, [H], [], #{on => dirty}),
    ct:log("on => dirty: ~p, ~p", [R1, R2]),
    {ok, <<"2000-01-02">>} = R1,
    {ok, Id} = R2,
    Id = py:id(H),
    ok.

%% A worker's handle in a call sent to a context pool.
proxy_in_context_call(_Config) ->
    H = make_date(1),
    {ok, <<"2000-01-02">>} = py:call({H, isoformat}, [], [], #{on => default}),
    {ok, false} = py:call({operator, eq}, [H, 1], [], #{on => default}),
    %% Not the first argument: the docs promise nothing, but Python must see
    %% the object (the call went to its worker) or the call must fail; never
    %% something else in its place.
    {R, Ms} = timed(fun() ->
                            py:call({builtins, eval}, [<<"type(h).__name__">>, #{h => H}], [],
                                    #{on => default})
                    end),
    ct:log("a worker's handle inside an argument of a context call: ~p (~b ms)", [R, Ms]),
    true = Ms < 1000,
    case R of
        {ok, <<"date">>} -> ok;
        {error, {wrong_place, H}} -> ok
    end,
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => default}),
    ok.

%% A context's handle with `on => w' goes to its context, as it would with
%% any other pool named.
context_handle_on_worker_pool(_Config) ->
    C = py:func(datetime, date, [2001, 2, 3]),
    true = py_nif:is_handle(C),
    R1 = py:call({C, isoformat}, [], [], #{on => ?W}),
    R2 = (catch py_exec:with_defaults(#{on => ?W}, fun() -> py:attr(C, year) end)),
    ct:log("a context's handle on a worker pool: ~p, ~p", [R1, R2]),
    {ok, <<"2001-02-03">>} = R1,
    2001 = R2,
    ok.

%%% Callbacks, output, logging

%% Erlang -> Python -> Erlang -> Python, three deep, on the same worker: each
%% level's erlang.self() is the caller.
callbacks_nested(_Config) ->
    Levels = nest(3, ?W),
    ct:log("~p", [Levels]),
    [{3, P, S}, {2, P, S}, {1, P, S}] = Levels,
    S = self(),
    true = lists:member(P, [worker_pid(1), worker_pid(2)]),
    %% Pinned to a worker: the nested calls stay on it.
    [{3, P1, S}, {2, P1, S}, {1, P1, S}] = nest(3, {?W, 1}),
    P1 = worker_pid(1),
    ok.

%% @doc The Erlang half of worker_helpers.nest.
-spec nest(non_neg_integer(), atom() | {atom(), pos_integer()}) -> list().
nest(0, _On) ->
    [];
nest(N, On) ->
    {ok, Levels} = py:call({worker_helpers, nest}, [N, On], [], #{on => On, timeout => 10000}),
    Levels.

callbacks_self_send_cast(_Config) ->
    On = #{on => ?W},
    Self = self(),
    [true = py:eval(<<"__import__('erlang').self() == p">>, #{p => Self}, #{on => {?W, N}})
     || N <- [1, 2]],
    %% Python's erlang.self, called from Erlang: the caller.
    {ok, Self} = py:call({erlang, self}, [], [], On),
    undefined = py:eval(<<"(lambda e: e.send(e.self(), ('hello', e.Atom('x'), 1.5)))"
                          "(__import__('erlang'))">>, #{}, On),
    receive {<<"hello">>, x, 1.5} -> ok after 2000 -> ct:fail(nothing_sent) end,
    Relay = spawn_link(fun() -> receive M -> Self ! {relay, M} end end),
    undefined = py:eval(<<"__import__('erlang').send(p, [1, {'k': None}])">>, #{p => Relay}, On),
    receive {relay, [1, #{<<"k">> := undefined}]} -> ok after 2000 -> ct:fail(nothing_relayed) end,
    {ok, undefined} = py:call({worker_helpers, cast_to}, [Self, 42], [], On),
    receive
        {cast_got, 42, Runner} -> true = Runner =/= Self
    after 2000 ->
            ct:fail(no_cast)
    end,
    ok.

callback_fun_and_error(_Config) ->
    On = #{on => ?W},
    {ok, 42} = py:call({worker_helpers, apply_fun}, [fun(X) -> X * 2 end, 21], [], On),
    {ok, [3, 2, 1]} = py:call({worker_helpers, apply_fun}, [fun lists:reverse/1, [1, 2, 3]], [], On),
    {ok, 7} = py:call({worker_helpers, echo_via_erlang}, [7], [], On),
    {error, {python, <<"erlang.Error">>, Msg, _}} =
        py:call({worker_helpers, apply_fun}, [fun(_) -> error(boom) end, 1], [], On),
    ct:log("~ts", [Msg]),
    true = py_test_util:contains(Msg, "boom"),
    {ok, 3} = py:call({operator, add}, [1, 2], [], On),
    ok.

%% A job, a callback's reply and a result of several MiB each cross the pipe
%% whole: the owner writes such a packet in 1 MiB pieces (py_worker:write/2),
%% cut inside binaries written by reference and inside the ETF around them.
%% The digest and sums are computed in Python from what arrived.
big_job_in_pieces(_Config) ->
    On = #{on => ?W, timeout => 60000},
    Bin = crypto:strong_rand_bytes(3 * ?MB + 17),
    Ints = lists:seq(1, 400000),
    Job = #{b => py:bytes(Bin), l => Ints, small => [py:bytes(<<I:24>>) || I <- lists:seq(1, 2000)]},
    Hex = string:lowercase(binary:encode_hex(erlang:md5(Bin))),
    Small = lists:sum([I || I <- lists:seq(1, 2000)]),
    {Hex, 80000200000, 400000, Small} =
        py:eval(<<"(__import__('hashlib').md5(b).hexdigest(), sum(l), len(l),"
                  " sum(int.from_bytes(s, 'big') for s in small))">>, Job, On),
    %% Through a callback: the reply packet goes in pieces too, and the result
    %% comes back whole.
    {ok, Ints} = py:call({worker_helpers, echo_via_erlang}, [Ints], [], On),
    {ok, Bin} = py:call({worker_helpers, echo_via_erlang}, [py:bytes(Bin)], [], On),
    %% The worker takes whole packets again after them.
    {ok, 3} = py:call({operator, add}, [1, 2], [], On),
    ok.

%% A job that holds a marker or a big binary is written by the NIF's own walk
%% (py_nif:worker_write/2), which writes the common leaves itself and plain
%% lists and tuples by term_to_binary whole: every kind of term reads back as
%% itself, with the same external format.
jobs_written_as_term_to_binary(_Config) ->
    M = py_worker:marker(),
    Big = binary:copy(<<"b">>, 65536),
    [Port | _] = erlang:ports(),
    Leaves = [0, 255, 256, -1, 2147483647, -2147483648, 2147483648, -2147483649,
              (1 bsl 63) - 1, -(1 bsl 63), 1 bsl 64, -(1 bsl 100), 0.0, -0.0, 1.5,
              1.0e308, -1.0e-308, a, 'ü', '日本', list_to_atom(lists:duplicate(255, $a)),
              <<>>, <<1, 2, 3>>, binary:copy(<<"s">>, 65535), <<1:1>>, <<1, 2, 3:5>>,
              self(), make_ref(), Port, fun() -> ok end, fun lists:map/2],
    Containers = [[], "abc", [1, 2 | 3], {}, {1}, #{}, #{a => 1, <<"k">> => [2.5]},
                  lists:seq(1, 300), lists:seq(0, 255), list_to_tuple(lists:seq(1, 300)),
                  [[1], [2, [3]]], Leaves, list_to_tuple(Leaves), [Big, Leaves],
                  {[a, {b, [c]}], #{{1, 2} => [3]}}],
    Samples = Leaves ++ Containers ++ [C || {_, C, _, _} <- py_test_util:corpus()],
    [begin
         %% Beside a big binary, by reference; and beside a marker.
         {ok, Etf1, none} = py_nif:worker_write_large([T, Big], M),
         Back1 = binary_to_term(iolist_to_binary(Etf1)),
         {T, [T, Big]} = {T, Back1},
         true = term_to_binary(Back1) =:= term_to_binary([T, Big]),
         {ok, Etf2, none} = py_nif:worker_write_large({T, py:bytes(<<"z">>)}, M),
         {T, {T, {M, bytes, <<"z">>}}} = {T, binary_to_term(iolist_to_binary(Etf2))}
     end || T <- Samples],
    ok.

%% @doc Returns its argument (a trivial callback).
-spec identity(term()) -> term().
identity(X) -> X.

%% @doc Returns its argument after `Ms' milliseconds.
-spec slow_identity(term(), non_neg_integer()) -> term().
slow_identity(X, Ms) ->
    timer:sleep(Ms),
    X.

%% @doc The target of worker_helpers.cast_to.
-spec cast_target(pid(), term()) -> term().
cast_target(Pid, Value) ->
    Pid ! {cast_got, Value, self()}.

print_to_group_leader(_Config) ->
    Out = py_test_util:with_capture(
            fun() ->
                    ok = py:exec(<<"print('hello from a worker', 42)">>, #{}, #{on => {?W, 1}}),
                    ok = py:exec(<<"import sys\nsys.stderr.write('to stderr\\n')\n"
                                   "print('h\\u00e9llo', end='')\nprint()">>, #{}, #{on => {?W, 2}})
            end),
    <<"hello from a worker 42\nto stderr\nh", 16#c3, 16#a9, "llo\n">> = Out,
    ok.

%% Many prints, in order, none lost; the caller's mailbox stays small.
print_flood_in_order(_Config) ->
    N = 20000,
    Out = py_test_util:with_capture(
            fun() ->
                    ok = py:exec(<<"for i in range(n): print(i)">>, #{n => N},
                                 #{on => ?W, timeout => 60000})
            end),
    Expected = iolist_to_binary([[integer_to_list(I), $\n] || I <- lists:seq(0, N - 1)]),
    Expected = Out,
    ok.

logging_to_logger(_Config) ->
    ok = py_test_util:add_log_forwarder(self()),
    try
        ok = py:exec(<<"import logging\n"
                       "logging.getLogger('py_worker_test').warning('careful %s', 'now')\n"
                       "logging.getLogger('py_worker_test').error('it broke')\n">>,
                     #{}, #{on => ?W}),
        warning = py_test_util:wait_log("careful now"),
        error = py_test_util:wait_log("it broke")
    after
        ok = py_test_util:remove_log_forwarder()
    end,
    _ = py_test_util:flush(),
    ok.

%% A thread-bound object works: every call on a worker runs on its one thread.
sqlite_on_worker(_Config) ->
    {ok, Conn} = py:call('sqlite3.connect', [<<":memory:">>], [], #{on => ?W}),
    _ = py:method(Conn, execute, [<<"create table t (x integer)">>]),
    [_ = py:method(Conn, execute, [<<"insert into t values (?)">>, {I}]) || I <- lists:seq(1, 20)],
    [{210}] = py:method(py:method(Conn, execute, [<<"select sum(x) from t">>]), fetchall),
    undefined = py:method(Conn, close),
    ok.

%%% Crashes

segfault(_Config) ->
    crash(fun() -> py:call({ctypes, string_at}, [0], [], #{on => {?W, 1}, timeout => 10000}) end,
          {worker_down, {signal, 11}}).

abort(_Config) ->
    crash(fun() -> py:call({os, abort}, [], [], #{on => {?W, 1}, timeout => 10000}) end,
          {worker_down, {signal, 6}}).

os_exit(_Config) ->
    crash(fun() -> py:call({os, '_exit'}, [1], [], #{on => {?W, 1}, timeout => 10000}) end,
          {worker_down, {exit, 1}}).

%% A process's own namespace lives in one worker and dies with it. The first
%% eval after that says `worker_down' (the process learns of the loss once),
%% the next ones get a new namespace: never the same error for ever. Same when
%% the pool itself is stopped and started again under its name.
namespace_lost_with_its_worker(_Config) ->
    On = #{on => {?W, 1}, timeout => 10000},
    ok = py:exec(<<"x = 41">>, #{}, On),
    41 = py:eval(<<"x">>, #{}, On),
    Self = self(),
    spawn_link(fun() ->
                       Self ! {crashed, py:call({os, '_exit'}, [3], [], On)}
               end),
    {error, {worker_down, {exit, 3}}} = receive {crashed, R} -> R after 10000 -> timeout end,
    {'EXIT', {{worker_down, {exit, 3}}, _}} = (catch py:eval(<<"x">>, #{}, On)),
    {'EXIT', {{python, <<"builtins.NameError">>, _, _}, _}} = (catch py:eval(<<"x">>, #{}, On)),
    ok = py:exec(<<"x = 42">>, #{}, On),
    42 = py:eval(<<"x">>, #{}, On),
    %% This process's own call meets the crash: it knows already, and its next
    %% eval runs in a new namespace.
    {error, {worker_down, {exit, 4}}} = py:call({os, '_exit'}, [4], [], On),
    {'EXIT', {{python, <<"builtins.NameError">>, _, _}, _}} = (catch py:eval(<<"x">>, #{}, On)),
    ok = py:exec(<<"x = 43">>, #{}, On),
    ok = py:stop_pool(?W),
    {ok, _} = py:start_pool(?W, #{kind => worker, size => 2}),
    {'EXIT', {{worker_down, {owner_down, _}}, _}} = (catch py:eval(<<"x">>, #{}, On)),
    ok = py:exec(<<"x = 44">>, #{}, On),
    44 = py:eval(<<"x">>, #{}, On),
    ok.

%% Worker 1 dies of Call while worker 2 runs a call of its own: the caller gets
%% Expected, the other call its result, worker 1 is replaced and serves the next
%% call, worker 2 is the same process as before.
crash(Call, Expected) ->
    #{restarts := 0, workers := [#{os_pid := P1}, #{os_pid := P2}]} = py:pool_info(?W),
    Self = self(),
    spawn_link(fun() ->
                       Self ! {other, py:call({time, sleep}, [0.5], [], #{on => {?W, 2}, timeout => 5000})}
               end),
    timer:sleep(100),
    {Result, Ms} = timed(Call),
    ct:log("~p after ~b ms", [Result, Ms]),
    {error, Expected} = Result,
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => {?W, 1}, timeout => 10000}),
    receive {other, Other} -> {ok, undefined} = Other after 5000 -> ct:fail(other_lost) end,
    #{restarts := 1, workers := [#{os_pid := New1}, #{os_pid := P2}]} = py:pool_info(?W),
    true = New1 =/= P1,
    ok = py_test_util:wait_until(fun() -> not alive(P1) end, 1000),
    true = alive(P2),
    [{ok, 3} = py:call({operator, add}, [1, 2], [], #{on => ?W}) || _ <- lists:seq(1, 4)],
    ok.

%% A memory cap of 512 MiB, 2 GiB asked at once: MemoryError (or the worker
%% dies of the cap); the VM's memory is untouched.
max_memory_bytes(_Config) ->
    over_cap(<<"len(b'x' * (2 << 30))">>).

%% The same, memory taken 1 MiB at a time until the cap.
max_memory_list(_Config) ->
    over_cap(<<"l = []\nwhile True:\n    l.append(bytearray(1 << 20))\n">>).

over_cap(Code) ->
    #{workers := [#{os_pid := P1}, #{os_pid := P2}]} = py:pool_info(?W),
    {Mem0, Rss0} = {erlang:memory(total), rss(self)},
    {Result, Ms} = timed(fun() ->
                                 py:call({builtins, exec}, [Code, #{}], [],
                                         #{on => {?W, 1}, timeout => 60000})
                         end),
    {Mem1, Rss1} = {erlang:memory(total), rss(self)},
    ct:log("~p after ~b ms; VM memory ~b -> ~b MB, VmRSS ~b -> ~b MB",
           [Result, Ms, Mem0 div ?MB, Mem1 div ?MB, Rss0 div ?MB, Rss1 div ?MB]),
    case Result of
        {error, {python, <<"builtins.MemoryError">>, _, _}} ->
            %% The worker lived: it never held much more than its cap.
            P1 = worker_pid(1),
            Peak = peak_rss(P1),
            ct:log("worker's peak RSS ~b MB", [Peak div ?MB]),
            true = Peak =< 512 * ?MB + 64 * ?MB;
        {error, {worker_down, max_memory}} ->
            ok = py_test_util:wait_until(fun() -> not alive(P1) end, 1000)
    end,
    true = Mem1 - Mem0 < 64 * ?MB,
    true = Rss1 - Rss0 < 64 * ?MB,
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => {?W, 1}, timeout => 10000}),
    P2 = worker_pid(2),
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => {?W, 2}}),
    ok.

%% The owner of worker 1 is killed while a call runs there: the caller learns
%% at once, the worker goes, the supervisor puts a new owner in the slot.
owner_killed_mid_call(_Config) ->
    owner_killed(<<"import time\ntime.sleep(10)">>).

%% The same, with the worker in C code that holds the GIL: it reads no more
%% input, yet it must not stay.
owner_killed_while_worker_holds_gil(_Config) ->
    owner_killed(<<"import re\nre.match(r'(a+)+$', 'a' * 32 + 'b')">>).

owner_killed(Code) ->
    Owner = owner(1),
    P1 = worker_pid(1),
    Self = self(),
    spawn_link(fun() ->
                       Self ! {result, py:call({builtins, exec}, [Code, #{}], [],
                                               #{on => {?W, 1}, timeout => 20000})}
               end),
    timer:sleep(200),
    exit(Owner, kill),
    T0 = now_ms(),
    Left = wait_gone([P1], 1000),
    GoneMs = now_ms() - T0,
    Result = receive {result, R} -> R after 5000 -> still_waiting end,
    Ms = now_ms() - T0,
    ct:log("old worker left after ~b ms: ~p; caller got ~p after ~b ms", [GoneMs, Left, Result, Ms]),
    [] = Left,
    {error, {worker_down, _}} = Result,
    true = Ms < 1000,
    ok = py_test_util:wait_until(
           fun() -> py:call({operator, add}, [1, 2], [], #{on => {?W, 1}}) =:= {ok, 3} end, 5000),
    true = owner(1) =/= Owner,
    ok.

%% The same once the slot's worker was replaced (the new one may have been
%% started ahead, by the pool's spare, and handed over).
owner_killed_after_replacement(_Config) ->
    ok = gen_server:call(owner(1), kill),
    ok = wait_restarts(1),
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => {?W, 1}}),
    owner_killed(<<"import time\ntime.sleep(10)">>).

pool_stopped_mid_call(_Config) ->
    #{workers := [#{os_pid := P1}, #{os_pid := P2}]} = py:pool_info(?W),
    %% Every worker process of the pool, a spare started ahead included.
    All = worker_processes(list_to_integer(os:getpid())),
    ct:log("worker processes of this VM: ~p (slots ~p)", [All, [P1, P2]]),
    true = lists:member(P1, All) andalso lists:member(P2, All),
    Self = self(),
    spawn_link(fun() ->
                       Self ! {result, py:call({time, sleep}, [10], [], #{on => {?W, 1}, timeout => 20000})}
               end),
    timer:sleep(200),
    ok = py:stop_pool(?W),
    receive
        {result, Result} -> {error, {worker_down, stopped}} = Result
    after 5000 ->
            ct:fail(caller_still_waiting)
    end,
    [] = wait_gone(All, 1000),
    {error, {no_pool, ?W}} = py:call({operator, add}, [1, 2], [], #{on => ?W}),
    {error, {no_pool, ?W}} = py:pool_info(?W),
    ok.

%% A caller that dies mid-call does not leave its job running for nobody: the
%% worker takes the next call (within kill_after and a restart at worst).
caller_dies_frees_worker(_Config) ->
    {Pid, MRef} = spawn_monitor(
                    fun() ->
                            py:call('builtins.exec', [<<"while True: pass">>, #{}], [],
                                    #{timeout => infinity, on => {?W, 1}})
                    end),
    timer:sleep(200),
    exit(Pid, kill),
    receive {'DOWN', MRef, process, Pid, killed} -> ok end,
    {R, Ms} = timed(fun() -> py:call({operator, add}, [1, 2], [], #{on => {?W, 1}, timeout => 3000}) end),
    ct:log("worker 1 answered ~p ~b ms after its caller died", [R, Ms]),
    {ok, 3} = R,
    ok.

%% The same while Python waits for a callback the dead caller will never
%% answer.
caller_dies_during_callback(_Config) ->
    {Pid, MRef} = spawn_monitor(
                    fun() ->
                            py:call({worker_helpers, slow_echo_via_erlang}, [1, 1000], [],
                                    #{timeout => infinity, on => {?W, 1}})
                    end),
    timer:sleep(300),
    exit(Pid, kill),
    receive {'DOWN', MRef, process, Pid, killed} -> ok end,
    {R, Ms} = timed(fun() -> py:call({operator, add}, [1, 2], [], #{on => {?W, 1}, timeout => 3000}) end),
    ct:log("worker 1 answered ~p ~b ms after its caller died in a callback", [R, Ms]),
    {ok, 3} = R,
    ok.

%%% Timeouts

%% A blocking system call is interrupted at the deadline: the caller has its
%% timeout on time and the same worker (not a new one) serves the next call.
sleep_interrupted(_Config) ->
    py_test_util:timing(fun() ->
        #{restarts := R0} = py:pool_info(?W),
        P1 = worker_pid(1),
        {Result, Ms} = timed(fun() ->
                                     py:call({time, sleep}, [10], [], #{on => {?W, 1}, timeout => 100})
                             end),
        {Next, NextMs} = timed(fun() ->
                                       py:call({operator, add}, [1, 2], [],
                                               #{on => {?W, 1}, timeout => 2000})
                               end),
        ct:log("~p after ~b ms (deadline 100); next call ~p after ~b ms", [Result, Ms, Next, NextMs]),
        {error, timeout} = Result,
        true = Ms >= 100 andalso Ms =< 150,
        {ok, 3} = Next,
        true = NextMs =< 100,
        %% Past kill_after (200 ms): still the same worker.
        timer:sleep(400),
        #{restarts := R0} = py:pool_info(?W),
        P1 = worker_pid(1),
        ok
    end).

%% The catastrophic regex that freezes every context (py_safety_SUITE) is
%% interrupted on a worker: the regex engine checks for signals, and the
%% worker's SIGINT stops it at once. Worker 2 answers all along.
gil_regex_interrupted(_Config) ->
    py_test_util:timing(fun() ->
        #{restarts := R0} = py:pool_info(?W),
        P1 = worker_pid(1),
        Prober = start_prober({?W, 2}),
        {Result, Ms} = timed(fun() ->
                                     py:call({re, match}, [?REGEX, ?REGEX_SUBJECT], [],
                                             #{on => {?W, 1}, timeout => 100})
                             end),
        {Next, NextMs} = timed(fun() ->
                                       py:call({operator, add}, [1, 2], [],
                                               #{on => {?W, 1}, timeout => 2000})
                               end),
        timer:sleep(400),
        Probes = stop_prober(Prober),
        Lat = lists:sort([L || {_, L} <- Probes]),
        ct:log("~p after ~b ms (deadline 100); next call ~p after ~b ms~n"
               "worker 2 meanwhile: ~b calls, latency median ~b ms, max ~b ms, results ~p",
               [Result, Ms, Next, NextMs, length(Probes), median(Lat), lists:max([0 | Lat]),
                lists:usort([R || {R, _} <- Probes])]),
        {error, timeout} = Result,
        true = Ms =< 150,
        {ok, 3} = Next,
        true = NextMs =< 100,
        %% Past kill_after (200 ms): still the same worker.
        #{restarts := R0} = py:pool_info(?W),
        P1 = worker_pid(1),
        [{ok, 3}] = lists:usort([R || {R, _} <- Probes]),
        true = lists:max(Lat) =< 100,
        ok
    end).

%% `sum(range(10**10))' holds the GIL in C and never checks for signals (about
%% two minutes here).
gil_sum_killed_after_grace(_Config) ->
    py_test_util:timing(fun() -> gil_killed({builtins, eval}, [?GIL_SUM]) end).

%% C code holding the GIL on worker 1, timeout 100 ms, kill_after 200 ms: the
%% caller has its timeout on time, worker 1 is killed and replaced, and worker
%% 2 answers calls all along.
gil_killed(Target, Args) ->
    #{restarts := R0, workers := [#{os_pid := P1}, #{os_pid := P2}]} = py:pool_info(?W),
    Prober = start_prober({?W, 2}),
    T0 = now_ms(),
    {Result, Ms} = timed(fun() -> py:call(Target, Args, [], #{on => {?W, 1}, timeout => 100}) end),
    Replaced = py_test_util:wait_until(
                 fun() -> maps:get(restarts, py:pool_info(?W)) =:= R0 + 1 end, 3000),
    ReplacedMs = now_ms() - T0,
    {Next, NextMs} = timed(fun() ->
                                   py:call({operator, add}, [1, 2], [], #{on => {?W, 1}, timeout => 5000})
                           end),
    Probes = stop_prober(Prober),
    Lat = lists:sort([L || {_, L} <- Probes]),
    ct:log("~p after ~b ms (deadline 100); worker 1 replaced ~p after ~b ms; next call on it ~p "
           "after ~b more ms~nworker 2 meanwhile: ~b calls, latency median ~b ms, max ~b ms, "
           "results ~p",
           [Result, Ms, Replaced, ReplacedMs, Next, NextMs, length(Probes), median(Lat),
            lists:max([0 | Lat]), lists:usort([R || {R, _} <- Probes])]),
    {error, timeout} = Result,
    true = Ms =< 150,
    ok = Replaced,
    {ok, 3} = Next,
    #{restarts := R1, workers := [#{os_pid := New1}, #{os_pid := P2}]} = py:pool_info(?W),
    R1 = R0 + 1,
    true = New1 =/= P1,
    false = alive(P1),
    [{ok, 3}] = lists:usort([R || {R, _} <- Probes]),
    true = length(Probes) >= 10,
    true = lists:max(Lat) =< 100,
    ok.

%% Jobs queued behind the stuck one learn why their worker went.
queued_jobs_killed_after_timeout(_Config) ->
    Self = self(),
    spawn_link(fun() ->
                       Self ! {stuck, py:call({builtins, eval}, [?GIL_SUM], [],
                                              #{on => {?W, 1}, timeout => 100})}
               end),
    timer:sleep(20),
    Queued = [spawn_link(fun() ->
                                 Self ! {queued, self(),
                                         py:call({operator, add}, [1, 2], [],
                                                 #{on => {?W, 1}, timeout => 5000})}
                         end) || _ <- lists:seq(1, 3)],
    receive {stuck, S} -> {error, timeout} = S after 1000 -> ct:fail(no_timeout) end,
    Results = [receive {queued, P, R} -> R after 5000 -> {still_waiting, P} end || P <- Queued],
    ct:log("queued callers: ~p", [Results]),
    [{error, {worker_down, killed_after_timeout}}] = lists:usort(Results),
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => {?W, 1}, timeout => 5000}),
    ok.

%% A worker that reads nothing (SIGSTOP here; a debugger, or swap, does the
%% same) while a big job is written: the pipe fills and the port is busy. The
%% owner never waits on it: it kills the worker after kill_after, answers
%% pool_info meanwhile, and the next call is served by the new worker. It used
%% to be suspended on the busy port for good, and the pool with it.
stopped_worker_killed_after_grace(_Config) ->
    Owner = whereis_owner(1),
    OsPid = worker_pid(1),
    [] = os:cmd("kill -STOP " ++ integer_to_list(OsPid)),
    Big = binary:copy(<<"x">>, 3 * ?MB),
    {error, timeout} = py:call({builtins, len}, [Big], [], #{on => {?W, 1}, timeout => 300}),
    %% Queued behind it: its worker is killed before its deadline.
    {error, {worker_down, killed_after_timeout}} =
        py:call({operator, add}, [1, 2], [], #{on => {?W, 1}, timeout => 2000}),
    #{restarts := 1, workers := [#{os_pid := New} | _]} = py:pool_info(?W),
    true = New =/= OsPid,
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => {?W, 1}, timeout => 2000}),
    {ok, 3145728} = py:call({builtins, len}, [Big], [], #{on => {?W, 1}, timeout => 5000}),
    Owner = whereis_owner(1),
    ok.

whereis_owner(Slot) ->
    {ok, Owner} = py_worker_pool:owner(py_pool:lookup(?W), Slot),
    Owner.

%%% Orphans

%% A VM of its own with a worker pool halts: its workers go with it.
no_orphans_after_halt(Config) ->
    {Port, VmPid} = start_vm(child_halt, Config),
    #{workers := Workers, slots := Slots} = child_term(Port, 60000),
    true = Slots -- Workers =:= [],
    Status = vm_exit(Port, 30000),
    T0 = now_ms(),
    Left = wait_gone(Workers, 1000),
    ct:log("VM ~b halted (status ~p); workers ~p; left after ~b ms: ~p",
           [VmPid, Status, Workers, now_ms() - T0, Left]),
    [] = Left,
    0 = Status,
    ok.

%% The same with `kill -9' of the VM, while worker 1 holds the GIL in C and
%% worker 2 sleeps: neither reads its input any more.
no_orphans_after_kill_9(Config) ->
    {Port, ErlPid} = start_vm(child_kill_9, Config),
    #{workers := Workers, vm := VmPid, slots := Slots} = child_term(Port, 60000),
    true = Slots -- Workers =:= [],
    ct:log("erl started as ~b, the VM says it is ~b", [ErlPid, VmPid]),
    [true = alive(P) || P <- Workers],
    "" = os:cmd("kill -9 " ++ integer_to_list(VmPid)),
    T0 = now_ms(),
    Left = wait_gone(Workers, 1000),
    Ms = now_ms() - T0,
    _ = (catch vm_exit(Port, 5000)),
    ct:log("VM ~b killed; workers ~p; left after ~b ms: ~p", [VmPid, Workers, Ms, Left]),
    [os:cmd("kill -9 " ++ integer_to_list(P)) || P <- Left],
    [] = Left,
    ok.

%% @doc In a child VM: a pool of two workers, their pids printed, then halt().
-spec child_halt() -> no_return().
child_halt() ->
    {ok, _} = py:start_pool(?W, #{kind => worker, size => 2}),
    [{ok, 3} = py:call({operator, add}, [1, 2], [], #{on => {?W, N}}) || N <- [1, 2]],
    child_print(child_state()),
    erlang:halt(0).

%% @doc In a child VM: the pool, one worker in C, one asleep; then it waits
%% to be killed.
-spec child_kill_9() -> no_return().
child_kill_9() ->
    {ok, _} = py:start_pool(?W, #{kind => worker, size => 2}),
    [{ok, 3} = py:call({operator, add}, [1, 2], [], #{on => {?W, N}}) || N <- [1, 2]],
    {ok, _} = py:async_call({re, match}, [?REGEX, ?REGEX_SUBJECT], [],
                            #{on => {?W, 1}, timeout => infinity}),
    {ok, _} = py:async_call({time, sleep}, [600], [], #{on => {?W, 2}, timeout => infinity}),
    timer:sleep(200),
    child_print(child_state()),
    timer:sleep(infinity).

%% The VM's OS pid and its worker processes: all of them (a spare started
%% ahead included), once the pool's slots and spare are up.
child_state() ->
    Vm = list_to_integer(os:getpid()),
    Slots = [P || #{os_pid := P} <- maps:get(workers, py:pool_info(?W))],
    _ = py_test_util:wait_until(fun() -> length(worker_processes(Vm)) > length(Slots) end, 5000),
    #{vm => Vm, slots => Slots, workers => worker_processes(Vm)}.

%%% Load

%% @doc 1,000 concurrent callers on a pool of two workers, four calls each (a
%% plain call, an eval in the caller's namespace, a callback into the caller,
%% a sleep with a short timeout), while one caller in ten is killed mid-call.
%% Every reply is right or `{error, timeout}', no caller has a stray message,
%% no worker was replaced, and the pool answers afterwards.
callers_1000(_Config) ->
    #{restarts := 0, handles := Handles0} = py:pool_info(?W),
    N = 1000,
    {Outcomes, Ms} = py_test_util:crowd(N, fun caller/2),
    Done = [O || {done, _, _, _} = O <- Outcomes],
    Replies = lists:append([Rs || {done, _, Rs, _} <- Done]),
    Kinds = count([reply_kind(R) || {_, _, R} <- Replies]),
    ct:pal("~b callers in ~b ms: ~b finished, ~b killed, replies ~p",
           [N, Ms, length(Done), length([k || killed <- Outcomes]), Kinds]),
    [] = [O || O <- Outcomes, O =/= killed, element(1, O) =/= done],
    [] = [R || {Op, Want, Got} = R <- Replies, not right_reply(Op, Want, Got)],
    [] = [{I, S} || {done, I, _, S} <- Done, S =/= []],
    ok = py_test_util:wait_until(
           fun() -> case py:pool_info(?W) of
                        #{busy := 0, queued := 0} -> true;
                        _ -> false
                    end
           end, 20000),
    [{ok, 3} = py:call({operator, add}, [1, 2], [], #{on => {?W, W}}) || W <- [1, 2]],
    #{restarts := Restarts} = py:pool_info(?W),
    ct:log("restarts ~b", [Restarts]),
    0 = Restarts,
    %% The callers' namespaces and handles are released with them.
    gc_all(),
    Back = py_test_util:wait_until(fun() ->
                                           gc_all(),
                                           maps:get(handles, py:pool_info(?W)) =< Handles0
                                   end, 10000),
    ct:log("handles ~b before, ~b after", [Handles0, maps:get(handles, py:pool_info(?W))]),
    ok = Back,
    py_test_util:assert_mailbox_empty().

caller(Parent, I) ->
    On = #{on => ?W},
    Rs = [{mul, {ok, I * 3}, py:call({operator, mul}, [I, 3], [], On)},
          {eval, I + 1, catch py:eval(<<"x + 1">>, #{x => I}, On)},
          {callback, {ok, I}, py:call({worker_helpers, echo_via_erlang}, [I], [], On#{timeout => 30000})},
          {short, timeout_or_ok, py:call({time, sleep}, [0.05], [], On#{timeout => 5 + I rem 20})}],
    timer:sleep(300),
    Parent ! {caller, self(), Rs, py_test_util:flush()}.

right_reply(short, timeout_or_ok, {error, timeout}) -> true;
right_reply(short, timeout_or_ok, {ok, undefined}) -> true;
right_reply(_, Want, Got) -> Want =:= Got.

reply_kind({ok, _}) -> ok;
reply_kind({error, timeout}) -> timeout;
reply_kind({error, Other}) -> {error, Other};
reply_kind(V) when is_integer(V) -> ok;
reply_kind(Other) -> Other.

%%% Speed

%% @doc A pure-Python loop of about 200 ms on both workers at once takes
%% clearly less than twice one run: each worker has a core (and a GIL) of its
%% own. The speed-up (2 x one run / both) is logged; at least 1.5. One run
%% and two in parallel alternate, five times, and the fastest of each counts,
%% so that a burst of other work on this shared 2-core machine spoils one
%% sample, not the figure; the load average is logged with it. A miss
%% measures again after a pause.
%%
%% When the machine cannot give two cores at that moment (another program
%% holds one, or it has one), no program could reach 1.5: the workers' speed-up
%% is then held to that of two Erlang processes spinning in this VM in the same
%% minutes (at least 85% of it), which is what the machine has to give.
cpu_parallelism(_Config) ->
    N = calibrate(200),
    M = calibrate_erl(200),
    Measure = fun() ->
        {ok, _} = py:call({worker_helpers, spin}, [N], [], #{on => {?W, 2}, timeout => 30000}),
        Samples = [{element(2, timed(fun() -> spin(N, 1) end)),
                    element(2, timed(fun() -> par([fun() -> spin(N, 1) end,
                                                   fun() -> spin(N, 2) end]) end)),
                    element(2, timed(fun() -> par([fun() -> erl_spin(M) end]) end)),
                    element(2, timed(fun() -> par([fun() -> erl_spin(M) end,
                                                   fun() -> erl_spin(M) end]) end))}
                   || _ <- lists:seq(1, 5)],
        One = lists:min([O || {O, _, _, _} <- Samples]),
        Both = lists:min([B || {_, B, _, _} <- Samples]),
        Speedup = 2 * One / max(1, Both),
        ErlOne = lists:min([O || {_, _, O, _} <- Samples]),
        ErlBoth = lists:min([B || {_, _, _, B} <- Samples]),
        Machine = 2 * ErlOne / max(1, ErlBoth),
        {ok, Load} = file:read_file("/proc/loadavg"),
        ct:pal("spin(~b): one run ~b ms, two in parallel ~b ms: speed-up ~.2f (target 1.8); "
               "two Erlang processes meanwhile: ~.2f; samples ~p; load average ~ts",
               [N, One, Both, Speedup, Machine, Samples, string:trim(Load)]),
        true = Speedup >= 1.5 orelse (Machine < 1.5 andalso Speedup >= 0.85 * Machine)
    end,
    py_test_util:timing(fun() ->
        try
            Measure()
        catch
            error:{badmatch, _} = Reason:Stack ->
                timer:sleep(3000),
                erlang:raise(error, Reason, Stack)
        end
    end).

%% The iterations of erl_spin/1 that take about Ms in this VM.
calibrate_erl(Ms) ->
    M0 = 10000000,
    _ = erl_spin(M0),
    T = lists:min([element(2, timed(fun() -> erl_spin(M0) end)) || _ <- lists:seq(1, 3)]),
    max(M0, M0 * Ms div max(1, T)).

erl_spin(M) -> erl_spin(M, 0).

erl_spin(0, Acc) -> Acc;
erl_spin(M, Acc) -> erl_spin(M - 1, Acc bxor M).

spin(N, W) ->
    {ok, _} = py:call({worker_helpers, spin}, [N], [], #{on => {?W, W}, timeout => 30000}).

%% The iterations of worker_helpers.spin that take about Ms on a worker (the
%% fastest of three runs of a million, after one to warm up).
calibrate(Ms) ->
    N0 = 1000000,
    _ = spin(N0, 1),
    T = lists:min([element(2, timed(fun() -> spin(N0, 1) end)) || _ <- lists:seq(1, 3)]),
    max(N0, N0 * Ms div max(1, T)).

%% @doc A killed worker is replaced and serves the next call on its slot: the
%% time from the kill to that answer, each way of dying, logged (target 200
%% ms); at most 1000 ms. Each kill comes 300 ms after the last, once the
%% pool has a worker process beyond its slots (a spare started ahead, if it
%% keeps one), as after a lone crash; the same kills back to back are
%% measured too (a spare still starting), and logged.
replacement_time(_Config) ->
    Kill = fun(Slot) -> ok = gen_server:call(owner(Slot), kill) end,
    Kill9 = fun(Slot) -> "" = os:cmd("kill -9 " ++ integer_to_list(worker_pid(Slot))) end,
    Segv = fun(Slot) ->
                   spawn(fun() -> py:call({ctypes, string_at}, [0], [], #{on => {?W, Slot}}) end)
           end,
    Kinds = [{kill, Kill}, {kill_9, Kill9}, {segfault, Segv}],
    Vm = list_to_integer(os:getpid()),
    Settled = [begin
                   %% A spare's process exists before its Python is ready: time for that.
                   timer:sleep(300),
                   Ready = py_test_util:wait_until(
                             fun() -> length(worker_processes(Vm)) > 2 end, 2000),
                   {How, Slot, Ready, replace(Slot, Fun)}
               end || {How, Fun} <- Kinds, Slot <- [1, 2]],
    BackToBack = [{How, Slot, replace(Slot, Fun)} || {How, Fun} <- Kinds, Slot <- [1, 2]],
    Ms = lists:sort([T || {_, _, _, T} <- Settled]),
    ct:pal("replacement, kill to the next answer on the slot (ms), a worker ready beyond "
           "the slots: ~p~nmedian ~.1f ms, max ~.1f ms (target 200 ms)~n"
           "back to back: ~p", [Settled, median(Ms), lists:max(Ms), BackToBack]),
    [] = [T || {_, _, _, M} = T <- Settled, M > 1000],
    [] = [T || {_, _, M} = T <- BackToBack, M > 1000],
    ok.

replace(Slot, Kill) ->
    P = worker_pid(Slot),
    T0 = erlang:monotonic_time(microsecond),
    _ = Kill(Slot),
    ok = served(Slot, P, now_ms() + 5000),
    (erlang:monotonic_time(microsecond) - T0) / 1000.

%% Calls on the slot until one answers from a new worker.
served(Slot, Old, Deadline) ->
    case now_ms() > Deadline of
        true ->
            timeout;
        false ->
            case py:call({worker_helpers, pid}, [], [], #{on => {?W, Slot}, timeout => 5000}) of
                {ok, Old} -> timer:sleep(1), served(Slot, Old, Deadline);
                {ok, _New} -> ok;
                {error, {worker_down, _}} -> served(Slot, Old, Deadline);
                Other -> Other
            end
    end.

%%% Helpers

now_ms() ->
    erlang:monotonic_time(millisecond).

timed(Fun) ->
    T0 = now_ms(),
    R = Fun(),
    {R, now_ms() - T0}.

median([]) -> 0;
median(Sorted) -> lists:nth((length(Sorted) + 1) div 2, Sorted).

count(List) ->
    lists:sort(maps:to_list(lists:foldl(fun(X, M) -> maps:update_with(X, fun(C) -> C + 1 end, 1, M) end,
                                        #{}, List))).

%% A date on worker N, as a handle.
make_date(N) ->
    {ok, H} = py:call({datetime, date}, [2000, 1, 2], [], #{on => {?W, N}}),
    true = is_reference(H),
    H.

owner(Slot) ->
    {ok, Owner} = py_worker_pool:owner(py_pool:lookup(?W), Slot),
    Owner.

worker_pid(Slot) ->
    #{workers := Workers} = py:pool_info(?W),
    #{os_pid := P} = lists:nth(Slot, Workers),
    P.

wait_restarts(N) ->
    py_test_util:wait_until(fun() -> maps:get(restarts, py:pool_info(?W)) >= N end, 5000).

%% A process is alive while /proc has it and it is no zombie (a zombie has
%% ended; whoever reaps it is not this test's business).
alive(OsPid) ->
    case file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/stat") of
        {ok, Stat} ->
            [_, AfterComm] = string:split(binary_to_list(Stat), ")", trailing),
            [State | _] = string:lexemes(AfterComm, " "),
            State =/= "Z" andalso State =/= "X";
        {error, _} ->
            false
    end.

%% The py_worker processes descending from OS process Ancestor (the port
%% programs of a VM are children of its erl_child_setup).
worker_processes(Ancestor) ->
    {ok, Dirs} = file:list_dir("/proc"),
    Parents = maps:from_list([{P, PP} || D <- Dirs, lists:all(fun(C) -> C >= $0 andalso C =< $9 end, D),
                                         P <- [list_to_integer(D)],
                                         PP <- [ppid(P)], PP =/= undefined]),
    lists:sort([P || {P, _} <- maps:to_list(Parents), descends(P, Ancestor, Parents),
                     alive(P), (catch filename:basename(exe(P))) =:= "py_worker"]).

descends(P, Ancestor, Parents) ->
    case maps:get(P, Parents, undefined) of
        Ancestor -> true;
        undefined -> false;
        0 -> false;
        PP -> descends(PP, Ancestor, Parents)
    end.

ppid(OsPid) ->
    case file:read_file("/proc/" ++ integer_to_list(OsPid) ++ "/stat") of
        {ok, Stat} ->
            [_, AfterComm] = string:split(binary_to_list(Stat), ")", trailing),
            [_State, PPid | _] = string:lexemes(AfterComm, " "),
            list_to_integer(PPid);
        {error, _} ->
            undefined
    end.

exe(OsPid) ->
    {ok, Path} = file:read_link("/proc/" ++ integer_to_list(OsPid) ++ "/exe"),
    Path.

wait_gone(Pids, Ms) ->
    _ = py_test_util:wait_until(fun() -> not lists:any(fun alive/1, Pids) end, Ms),
    [P || P <- Pids, alive(P)].

rss(self) ->
    status_kb("/proc/self/status", <<"VmRSS:">>).

peak_rss(OsPid) ->
    status_kb("/proc/" ++ integer_to_list(OsPid) ++ "/status", <<"VmHWM:">>).

status_kb(File, Key) ->
    {ok, Status} = file:read_file(File),
    [Line] = [L || L <- binary:split(Status, <<"\n">>, [global]),
                   binary:longest_common_prefix([L, Key]) =:= byte_size(Key)],
    [_, Kb, <<"kB">>] = string:lexemes(Line, " \t"),
    binary_to_integer(Kb) * 1024.

gc_all() ->
    [erlang:garbage_collect(P) || P <- processes()],
    ok.

%% Runs the funs at once, each in a process; their results in order.
par(Funs) ->
    Procs = [spawn_monitor(fun() -> exit({par_result, F()}) end) || F <- Funs],
    [receive
         {'DOWN', Mon, process, Pid, {par_result, R}} -> R;
         {'DOWN', Mon, process, Pid, Other} -> ct:fail({par_failed, Other})
     end || {Pid, Mon} <- Procs].

%% A process that calls `operator.add' on a place every 5 ms until stopped,
%% keeping {Result, Ms} of each call.
start_prober(On) ->
    Parent = self(),
    spawn_link(fun() -> probe(Parent, On, []) end).

probe(Parent, On, Acc) ->
    receive
        {stop, Parent} -> Parent ! {probes, self(), lists:reverse(Acc)}
    after 5 ->
            R = timed(fun() -> py:call({operator, add}, [1, 2], [], #{on => On, timeout => 2000}) end),
            probe(Parent, On, [R | Acc])
    end.

stop_prober(Pid) ->
    Pid ! {stop, self()},
    receive {probes, Pid, Probes} -> Probes after 5000 -> ct:fail(prober_lost) end.

%%% A VM of its own

%% Starts `?MODULE:Fun()' in a new VM with this build's code paths; returns
%% its port and OS pid. The child prints terms with child_print/1.
start_vm(Fun, Config) ->
    Erl = os:find_executable("erl"),
    Dirs = lists:usort([filename:dirname(code:which(M)) || M <- [py, ?MODULE, py_test_util]]),
    Eval = lists:flatten(io_lib:format("~p:child_main(~p, ~p).",
                                       [?MODULE, Fun, ?config(data_dir, Config)])),
    Port = open_port({spawn_executable, Erl},
                     [{args, ["-noshell", "-pa" | Dirs] ++ ["-eval", Eval]},
                      exit_status, stderr_to_stdout, binary, hide, {line, 65536}]),
    {os_pid, OsPid} = erlang:port_info(Port, os_pid),
    {Port, OsPid}.

%% The first term the child prints.
child_term(Port, Timeout) ->
    receive
        {Port, {data, {eol, <<?CHILD_MARK, B64/binary>>}}} ->
            binary_to_term(base64:decode(B64));
        {Port, {data, {_, Line}}} ->
            ct:log("child: ~ts", [Line]),
            child_term(Port, Timeout);
        {Port, {exit_status, Status}} ->
            ct:fail({child_exited, Status})
    after Timeout ->
            ct:fail(child_silent)
    end.

vm_exit(Port, Timeout) ->
    receive
        {Port, {data, {_, Line}}} -> ct:log("child: ~ts", [Line]), vm_exit(Port, Timeout);
        {Port, {exit_status, Status}} -> Status
    after Timeout ->
            catch port_close(Port),
            timeout
    end.

%% @doc The entry point of a child VM: starts py, then `?MODULE:Fun()'.
-spec child_main(atom(), file:filename()) -> no_return().
child_main(Fun, _DataDir) ->
    try
        ok = py_test_util:start(),
        ?MODULE:Fun()
    catch
        Class:Reason:Stack ->
            io:format(user, "child failed: ~p:~p ~p~n", [Class, Reason, Stack]),
            erlang:halt(2)
    end.

child_print(Term) ->
    io:put_chars(user, [$\n, ?CHILD_MARK, base64:encode(term_to_binary(Term)), $\n]).
