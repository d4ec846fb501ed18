%% @doc Execution (issue 4): contexts, pools, the dirty path, timeouts and
%% cancellation, callbacks into Erlang, output and logging, exceptions.
-module(py_exec_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, groups/0, suite/0, init_per_suite/1, end_per_suite/1,
         init_per_group/2, end_per_group/2, init_per_testcase/2, end_per_testcase/2]).
-export([timeout_while_true/1, timeout_exec/1, timeout_ignores_except_exception/1,
         deadline_spans_callbacks/1, default_timeout_set_at_run_time/1,
         timeout_infinity/1, timeout_blocked_in_c/1, cancel_job/1,
         caller_dies_frees_context/1,
         async_cancel_running/1, async_cancel_from_another_process/1,
         async_cancel_after_result/1, async_refused_where_it_cannot_run/1,
         context_killed_mid_call/1, pool_stopped_mid_call/1, queued_jobs_on_kill/1,
         concurrent_1000/1, own_globals/1, no_such_pool/1,
         busy_context_is_skipped/1,
         callback_chain_depth_10/1, callback_chain_on_pool/1,
         callback_runs_in_caller/1, callback_fun/1, callback_error_caught/1,
         callback_error_uncaught/1, send_to_self/1, send_to_pid/1, cast/1,
         self_outside_call/1,
         print_to_group_leader/1, stderr_to_group_leader/1, logging_to_logger/1,
         output_outside_any_call/1,
         exception_format/1, exception_qualified_type/1,
         sqlite_connection/1, dirty_same_answers/1, dirty_no_callbacks/1,
         dirty_timeout/1, large_argument/1, large_argument_scheduler/1,
         large_result_scheduler/1,
         direct_reply_when_idle/1, direct_reply_leaves_nothing/1,
         no_direct_reply_behind_busy_context/1, no_call_in_nif_under_load/1,
         direct_output_keeps_order/1,
         direct_callback_falls_back/1, timeout_zero/1]).
%% called from Python
-export([chain/1, chain_on/2, fail/2, identity/1, cast_target/2]).

-define(ONE, py_exec_one).
-define(ADD, {call, <<"operator.add">>, [1, 2], []}).

suite() ->
    [{timetrap, {minutes, 3}}].

all() ->
    [{group, timeouts}, {group, contexts}, {group, callbacks}, {group, output},
     {group, errors}, {group, placement}, {group, direct}, {group, worker}].

groups() ->
    [{timeouts, [], [timeout_while_true, timeout_exec, timeout_ignores_except_exception,
                     deadline_spans_callbacks, default_timeout_set_at_run_time,
                     timeout_infinity, timeout_blocked_in_c, cancel_job,
                     caller_dies_frees_context,
                     async_cancel_running, async_cancel_from_another_process,
                     async_cancel_after_result, async_refused_where_it_cannot_run]},
     {contexts, [], [context_killed_mid_call, pool_stopped_mid_call, queued_jobs_on_kill,
                     concurrent_1000, own_globals, no_such_pool,
                     busy_context_is_skipped]},
     {callbacks, [], [callback_chain_depth_10, callback_chain_on_pool,
                      callback_runs_in_caller, callback_fun, callback_error_caught,
                      callback_error_uncaught, send_to_self, send_to_pid, cast,
                      self_outside_call]},
     {output, [], [print_to_group_leader, stderr_to_group_leader, logging_to_logger,
                  output_outside_any_call]},
     {errors, [], [exception_format, exception_qualified_type]},
     {placement, [], [sqlite_connection, dirty_same_answers, dirty_no_callbacks,
                      dirty_timeout, large_argument, large_argument_scheduler,
                      large_result_scheduler]},
     {direct, [], [direct_reply_when_idle, direct_reply_leaves_nothing,
                   no_direct_reply_behind_busy_context,
                   no_call_in_nif_under_load, direct_output_keeps_order,
                   direct_callback_falls_back, timeout_zero]},
     %% The cases that mean something for a worker, with ?ONE a pool of one
     %% worker instead of one context, and every py call that names no place
     %% sent there (in_place/2: a case in this group wraps its body in it).
     %% Left out: timeout_blocked_in_c (py_nif:context_info/1; a worker
     %% interrupts the sleep instead, py_worker_SUITE:sleep_interrupted),
     %% cancel_job (py_nif:submit/cancel on a context pool's resource),
     %% async_refused_where_it_cannot_run (`on => dirty', a node, no pool:
     %% nothing runs); context_killed_mid_call, pool_stopped_mid_call,
     %% queued_jobs_on_kill (a context's owner killed, `context_down'; the
     %% worker's are in py_worker_SUITE, `worker_down'); own_globals (the
     %% default pool's contexts); busy_context_is_skipped (a pool of contexts,
     %% py_nif:context_info/1); sqlite_connection (a pool of contexts of its
     %% own; py_worker_SUITE:sqlite_on_worker); dirty_no_callbacks,
     %% dirty_timeout (`on => dirty' only); direct_reply_when_idle,
     %% direct_reply_leaves_nothing, no_direct_reply_behind_busy_context,
     %% no_call_in_nif_under_load (py_nif:call/4, the NIF's direct reply to
     %% a context call).
     {worker, [], [timeout_while_true, timeout_exec, timeout_ignores_except_exception,
                   deadline_spans_callbacks, default_timeout_set_at_run_time,
                   timeout_infinity, caller_dies_frees_context,
                   async_cancel_running, async_cancel_from_another_process,
                   async_cancel_after_result,
                   concurrent_1000, no_such_pool,
                   callback_chain_depth_10, callback_chain_on_pool,
                   callback_runs_in_caller, callback_fun, callback_error_caught,
                   callback_error_uncaught, send_to_self, send_to_pid, cast,
                   self_outside_call,
                   print_to_group_leader, stderr_to_group_leader, logging_to_logger,
                   output_outside_any_call, exception_format, exception_qualified_type,
                   dirty_same_answers, large_argument, large_argument_scheduler,
                   large_result_scheduler,
                   direct_output_keeps_order, direct_callback_falls_back, timeout_zero]}].

init_per_suite(Config) ->
    ok = py_test_util:start(),
    ok = py_test_util:add_python_path(?config(data_dir, Config)),
    Config.

end_per_suite(_Config) ->
    ok.

%% In the `worker' group, ?ONE is a pool of one worker (with the suite's data
%% on its path), and the calls that name no place go there (in_place/2).
init_per_group(worker, Config) ->
    [{py_on, ?ONE} | Config];
init_per_group(_Group, Config) ->
    Config.

end_per_group(_Group, _Config) ->
    ok.

%% Every case gets a new pool of one context (or worker), so that a case that
%% leaves its context busy (or dead) cannot affect the next one.
init_per_testcase(_Case, Config) ->
    Opts = case ?config(py_on, Config) of
               undefined -> #{size => 1};
               ?ONE -> #{kind => worker, size => 1, path => [?config(data_dir, Config)]}
           end,
    {ok, _} = py:start_pool(?ONE, Opts),
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => ?ONE, timeout => 10000}),
    Config.

end_per_testcase(_Case, _Config) ->
    ok = py:stop_pool(?ONE),
    py_test_util:assert_mailbox_empty().

%% A case body, with the group's place (if any) as the default of its calls.
in_place(Config, Fun) ->
    py_test_util:in_place(Config, Fun).

%%% Short calls answered without a message (py_nif:call/4)

%% With nothing else in flight, a short call is answered by the NIF itself.
%% Scheduling noise can push a few past the wait, never all of them.
direct_reply_when_idle(_Config) ->
    N = 1000,
    Direct = direct_count(py_pool:lookup(?ONE), N),
    ct:log("~b of ~b calls answered directly", [Direct, N]),
    true = Direct > 0,
    ok.

%% Whichever way the answers come, none is left behind or delivered twice.
direct_reply_leaves_nothing(_Config) ->
    Pool = py_pool:lookup(?ONE),
    _ = direct_count(Pool, 500),
    [{ok, 3} = py:call({operator, add}, [1, 2], [], #{on => ?ONE}) || _ <- lists:seq(1, 500)],
    [{error, {python, <<"builtins.ZeroDivisionError">>, _, _}} =
         py:call({operator, truediv}, [1, 0], [], #{on => ?ONE}) || _ <- lists:seq(1, 100)],
    timer:sleep(50),
    py_test_util:assert_mailbox_empty().

%% A context that runs or holds a job cannot start a new one at once: the
%% NIF does not wait for it, and the reply comes by message.
no_direct_reply_behind_busy_context(_Config) ->
    {ok, Slow} = py:async_call({time, sleep}, [0.2], [], #{on => ?ONE, timeout => infinity}),
    Ref = make_ref(),
    {ok, _JobRes} = py_nif:call(py_pool:lookup(?ONE), Ref, ?ADD, term),
    {ok, undefined} = py:await(Slow),
    receive {Ref, {ok, 3}} -> ok after 5000 -> error(lost) end,
    true = direct_count(py_pool:lookup(?ONE), 200) > 0,
    ok.

%% py_exec asks the NIF to wait (py_nif:call/4) only when no process waits to
%% run: with other callers runnable, calls go by message, and they all still
%% get the right answer.
no_call_in_nif_under_load(_Config) ->
    Spinners = [spawn(fun Spin() -> Spin() end)
                || _ <- lists:seq(1, 2 * erlang:system_info(schedulers_online))],
    try
        false = py_exec:idle(),
        [{ok, 3} = py:call({operator, add}, [1, 2], [], #{on => ?ONE})
         || _ <- lists:seq(1, 200)]
    after
        [exit(P, kill) || P <- Spinners]
    end,
    ok = py_test_util:wait_until(fun py_exec:idle/0, 2000),
    ok.

%% Output sent before the result must be written before the call returns:
%% the reply then comes by message, behind the output.
direct_output_keeps_order(Config) -> in_place(Config, fun() ->
    N = 200,
    Code = <<"(print('x', end=''), 7)[1]">>,
    Out = py_test_util:with_capture(fun() ->
                               [7 = py:eval(Code, #{}, #{on => ?ONE}) || _ <- lists:seq(1, N)]
                       end),
    N = byte_size(Out),
    <<"x">> = binary:part(Out, N - 1, 1),
    py_test_util:assert_mailbox_empty()
end).

%% A callback request stops the wait at once: the caller serves it from receive.
direct_callback_falls_back(Config) -> in_place(Config, fun() ->
    Code = <<"__import__('erlang').call(__import__('erlang').Atom('py_exec_SUITE'), "
             "__import__('erlang').Atom('identity'), [5]) + 1">>,
    [6 = py:eval(Code, #{}, #{on => ?ONE}) || _ <- lists:seq(1, 200)],
    py_test_util:assert_mailbox_empty()
end).

%% A zero timeout never waits in the NIF: the call times out unless it
%% already answered, and nothing of it is left in the mailbox.
timeout_zero(Config) -> in_place(Config, fun() ->
    Results = [py:call({time, sleep}, [0.01], [], #{on => ?ONE, timeout => 0})
               || _ <- lists:seq(1, 20)],
    [] = [R || R <- Results, R =/= {error, timeout}],
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => ?ONE}),
    timer:sleep(50),
    py_test_util:assert_mailbox_empty()
end).

%%% Timeouts and cancellation

timeout_while_true(Config) -> in_place(Config, fun() ->
    T0 = now_ms(),
    {error, timeout} = py:call('builtins.exec', [<<"while True: pass">>, #{}], [],
                               #{timeout => 300, on => ?ONE}),
    Elapsed = now_ms() - T0,
    ct:log("timed out after ~p ms (deadline 300 ms)", [Elapsed]),
    true = Elapsed >= 300 andalso Elapsed =< 400,
    %% The same (only) context is free again.
    T1 = now_ms(),
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => ?ONE, timeout => 2000}),
    ct:log("next call after ~p ms", [now_ms() - T1]),
    %% A late result never arrives.
    timer:sleep(200),
    py_test_util:assert_mailbox_empty()
end).

timeout_exec(Config) -> in_place(Config, fun() ->
    T0 = now_ms(),
    timeout = py_test_util:raised(
                fun() -> py:exec(<<"while True: pass">>, #{}, #{timeout => 200, on => ?ONE}) end),
    Elapsed = now_ms() - T0,
    true = Elapsed >= 200 andalso Elapsed =< 300,
    42 = py:eval(<<"6 * 7">>, #{}, #{on => ?ONE}),
    ok
end).

%% erlang.Cancelled is a BaseException, so `except Exception' does not stop it.
timeout_ignores_except_exception(Config) -> in_place(Config, fun() ->
    py_test_util:timing(fun() ->
        T0 = now_ms(),
        {error, timeout} = py:call('callbacks.interruptible_despite_except', [], [],
                                   #{timeout => 200, on => ?ONE}),
        true = now_ms() - T0 =< 300,
        {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => ?ONE, timeout => 2000}),
        ok
    end)
end).

%% The timeout is one deadline for the whole call: a wait resumed after a
%% callback does not start a new one. Python sleeps 100 ms before each of
%% three quick callbacks, under a 250 ms timeout: no single wait is longer
%% than 100 ms, so only a deadline that counts from the call's start expires,
%% in the third wait.
deadline_spans_callbacks(Config) -> in_place(Config, fun() ->
    Code = <<"[(__import__('time').sleep(0.1), "
             "__import__('erlang').call(__import__('erlang').Atom('py_exec_SUITE'), "
             "__import__('erlang').Atom('identity'), [1]))[1] for _ in range(3)]">>,
    [1, 1, 1] = py:eval(Code, #{}, #{timeout => 1000, on => ?ONE}),
    py_test_util:timing(fun() ->
        T0 = now_ms(),
        timeout = py_test_util:raised(
                    fun() -> py:eval(Code, #{}, #{timeout => 250, on => ?ONE}) end),
        Elapsed = now_ms() - T0,
        ct:log("timed out after ~p ms (deadline 250 ms)", [Elapsed]),
        true = Elapsed >= 250 andalso Elapsed =< 340,
        timer:sleep(150),
        py_test_util:assert_mailbox_empty()
    end)
end).

%% py:set_call_timeout/1 changes the default of calls that give no timeout.
default_timeout_set_at_run_time(Config) -> in_place(Config, fun() ->
    {ok, #{timeout := Old}} = py_exec:validate_opts(#{}),
    ok = py:set_call_timeout(200),
    try
        T0 = now_ms(),
        {error, timeout} = py:call('builtins.exec', [<<"while True: pass">>, #{}], [],
                                   #{on => ?ONE}),
        Elapsed = now_ms() - T0,
        true = Elapsed >= 200 andalso Elapsed =< 300,
        {error, {bad_option, timeout}} = py:set_call_timeout(-1),
        {ok, #{timeout := 200}} = py_exec:validate_opts(#{})
    after
        ok = py:set_call_timeout(Old)
    end,
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => ?ONE}),
    ok
end).

timeout_infinity(Config) -> in_place(Config, fun() ->
    {ok, undefined} = py:call('time.sleep', [0.05], [], #{timeout => infinity, on => ?ONE}),
    {ok, 4.0} = py:call('math.sqrt', [16], [], #{timeout => infinity}),
    ok
end).

%% time.sleep blocks in C: the exception is only seen when it returns. The
%% caller still gets its timeout on time, the context stays busy until then,
%% and the late result is dropped.
timeout_blocked_in_c(_Config) ->
    Ctx = only_context(?ONE),
    T0 = now_ms(),
    {error, timeout} = py:call('time.sleep', [0.6], [], #{timeout => 100, on => ?ONE}),
    true = now_ms() - T0 =< 200,
    #{busy := true} = py_nif:context_info(Ctx),
    ok = py_test_util:wait_until(fun() -> not maps:get(busy, py_nif:context_info(Ctx)) end, 2000),
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => ?ONE}),
    timer:sleep(100),
    py_test_util:assert_mailbox_empty().

%% py_nif:cancel/1 on a running job: no reply is ever sent and the context is
%% free again.
%% py:cancel/1 on demand: the loop is interrupted, the caller's await says so,
%% and the context takes the next call.
async_cancel_running(Config) -> in_place(Config, fun() ->
    {ok, R} = py:async_call('builtins.exec', [<<"while True: pass">>, #{}], [],
                            #{on => ?ONE, timeout => infinity}),
    timer:sleep(100),
    ok = py:cancel(R),
    T0 = now_ms(),
    {error, cancelled} = py:await(R),
    true = now_ms() - T0 < 100,
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => ?ONE, timeout => 2000}),
    timer:sleep(100),
    py_test_util:assert_mailbox_empty()
end).

async_cancel_from_another_process(Config) -> in_place(Config, fun() ->
    {ok, R} = py:async_call('builtins.exec', [<<"while True: pass">>, #{}], [],
                            #{on => ?ONE, timeout => infinity}),
    Self = self(),
    spawn_link(fun() -> timer:sleep(100), Self ! {cancel, py:cancel(R)} end),
    T0 = now_ms(),
    {error, cancelled} = py:await(R),
    Waited = now_ms() - T0,
    ct:log("await returned ~p ms after the start", [Waited]),
    true = Waited >= 100 andalso Waited < 300,
    receive {cancel, ok} -> ok after 1000 -> ct:fail(no_cancel) end,
    {error, not_owner} = py_test_util:in_process(fun() -> py:await(R) end),
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => ?ONE, timeout => 2000}),
    py_test_util:assert_mailbox_empty()
end).

%% A result that was already sent wins over a late cancel; nothing is left behind.
async_cancel_after_result(Config) -> in_place(Config, fun() ->
    {ok, R} = py:async_call({operator, add}, [40, 2], [], #{on => ?ONE}),
    timer:sleep(100),
    ok = py:cancel(R),
    {ok, 42} = py:await(R),
    timer:sleep(50),
    py_test_util:assert_mailbox_empty()
end).

async_refused_where_it_cannot_run(_Config) ->
    {error, {bad_option, on}} = py:async_call({operator, add}, [1, 2], [], #{on => dirty}),
    %% Another node is a place async calls can go (this node stands for it here).
    {ok, R} = py:async_call({operator, add}, [1, 2], [], #{on => {node, node()}}),
    {ok, 3} = py:await(R),
    {error, {bad_option, colour}} = py:async_call({operator, add}, [1, 2], [], #{colour => red}),
    {error, {no_pool, nope}} = py:async_call({operator, add}, [1, 2], [], #{on => nope}).

%% A context still blocked in C after its caller timed out reports itself busy, and
%% the pool sends new calls to the free one: none of them waits behind the sleep.
busy_context_is_skipped(_Config) ->
    {ok, _} = py:start_pool(py_exec_two, #{size => 2}),
    try
        {error, timeout} = py:call({time, sleep}, [3], [], #{on => py_exec_two, timeout => 100}),
        Results = [py:call({numpy, frombuffer}, [py:buffer(<<1, 2, 3, 4>>)], #{dtype => <<"uint8">>},
                           #{on => py_exec_two, timeout => 1000})
                   || _ <- lists:seq(1, 50)],
        [] = [R || R <- Results, element(1, R) =/= ok],
        {ok, Ctx1} = py_pool:context(py_exec_two, 1),
        {ok, Ctx2} = py_pool:context(py_exec_two, 2),
        [false, true] = lists:sort([maps:get(busy, py_nif:context_info(C)) || C <- [Ctx1, Ctx2]])
    after
        ok = py:stop_pool(py_exec_two)
    end.

cancel_job(_Config) ->
    Pool = py_pool:lookup(?ONE),
    Ref = make_ref(),
    {ok, JobRes} = py_nif:submit(Pool, Ref, py_job:exec(<<"while True: pass">>, #{}), term),
    timer:sleep(100),
    case py_nif:cancel(JobRes) of
        ok ->
            ok;
        sent ->
            %% The job was stopped and its final reply is on its way.
            receive {Ref, {error, _}} -> ok after 2000 -> ct:fail(no_final_reply) end
    end,
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => ?ONE, timeout => 2000}),
    receive {Ref, Msg} -> ct:fail({late_reply, Msg})
    after 300 -> ok
    end,
    %% Cancelling a finished job is harmless: its reply was sent already.
    Ref2 = make_ref(),
    {ok, JobRes2} = py_nif:submit(Pool, Ref2, py_job:eval(<<"1 + 1">>, #{}), term),
    receive {Ref2, {ok, 2}} -> ok after 2000 -> ct:fail(no_reply) end,
    sent = py_nif:cancel(JobRes2),
    ok.

%% A caller that dies mid-call drops its job (its JobRes is collected with it).
caller_dies_frees_context(Config) -> in_place(Config, fun() ->
    {Pid, MRef} = spawn_monitor(
                    fun() ->
                            py:call('builtins.exec', [<<"while True: pass">>, #{}], [],
                                    #{timeout => infinity, on => ?ONE})
                    end),
    timer:sleep(200),
    exit(Pid, kill),
    receive {'DOWN', MRef, process, Pid, killed} -> ok end,
    T0 = now_ms(),
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => ?ONE, timeout => 3000}),
    ct:log("context free ~p ms after its caller died", [now_ms() - T0]),
    ok
end).

%%% Contexts and pools

context_killed_mid_call(_Config) ->
    Self = self(),
    Caller = spawn_link(fun() ->
                                Self ! {result, py:call('builtins.exec', [<<"while True: pass">>, #{}], [],
                                                        #{timeout => 20000, on => ?ONE})}
                        end),
    timer:sleep(200),
    Owner = context_owner(?ONE),
    exit(Owner, kill),
    T0 = now_ms(),
    receive
        {result, Result} ->
            ct:log("caller got ~p after ~p ms", [Result, now_ms() - T0]),
            {error, {context_down, _}} = Result
    after 5000 ->
            ct:fail({caller_still_waiting, Caller})
    end,
    %% The supervisor starts a new context in the same slot.
    ok = py_test_util:wait_until(fun() ->
                                         New = context_owner(?ONE),
                                         is_pid(New) andalso New =/= Owner
                                 end, 5000),
    ok = py_test_util:wait_until(fun() ->
                                         py:call({operator, add}, [1, 2], [], #{on => ?ONE}) =:= {ok, 3}
                                 end, 5000),
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => ?ONE}),
    ok.

pool_stopped_mid_call(_Config) ->
    {ok, _} = py:start_pool(py_exec_tmp, #{size => 1}),
    Self = self(),
    _ = spawn_link(fun() ->
                           Self ! {result, py:call('builtins.exec', [<<"while True: pass">>, #{}], [],
                                                   #{timeout => 20000, on => py_exec_tmp})}
                   end),
    timer:sleep(200),
    ok = py:stop_pool(py_exec_tmp),
    receive
        {result, Result} -> {error, {context_down, _}} = Result
    after 5000 ->
            ct:fail(caller_still_waiting)
    end,
    {error, {no_pool, py_exec_tmp}} = py:call({operator, add}, [1, 2], [], #{on => py_exec_tmp}),
    ok.

%% Jobs queued behind the running one get the error too, none hangs.
queued_jobs_on_kill(_Config) ->
    Self = self(),
    Callers = [spawn_link(fun() ->
                                  Self ! {result, self(),
                                          py:call('builtins.exec', [<<"while True: pass">>, #{}], [],
                                                  #{timeout => 20000, on => ?ONE})}
                          end) || _ <- lists:seq(1, 5)],
    timer:sleep(200),
    exit(context_owner(?ONE), kill),
    Results = [receive {result, C, R} -> R after 5000 -> {still_waiting, C} end || C <- Callers],
    [] = [R || R <- Results, not is_context_down(R)],
    ok = py_test_util:wait_until(fun() ->
                                         py:call({operator, add}, [1, 2], [], #{on => ?ONE}) =:= {ok, 3}
                                 end, 5000).

concurrent_1000(Config) -> in_place(Config, fun() ->
    Self = self(),
    N = 1000,
    %% The callers are processes of their own: the group's place is given to each.
    Pids = [spawn_link(fun() ->
                               in_place(Config, fun() ->
                                   R1 = py:call({operator, mul}, [I, 3]),
                                   R2 = py:eval(<<"x + 1">>, #{x => I}),
                                   Self ! {done, I, R1, R2}
                               end)
                       end) || I <- lists:seq(1, N)],
    N = length(Pids),
    Results = [receive {done, I, R1, R2} -> {I, R1, R2} after 60000 -> {I, timeout} end
               || I <- lists:seq(1, N)],
    [] = [R || {I, R1, R2} = R <- Results, {R1, R2} =/= {{ok, I * 3}, I + 1}],
    ok
end).

%% Each context has its own globals.
%% A process's eval/exec share its namespace whichever context runs them; another
%% process has its own.
own_globals(_Config) ->
    #{size := Size} = py_nif:pool_info(py_pool:lookup(default)),
    case Size >= 2 of
        true ->
            ok = py:exec(<<"own_globals_mark = 1">>, #{}, #{on => {default, 1}}),
            true = py:eval(<<"'own_globals_mark' in globals()">>, #{}, #{on => {default, 2}}),
            Self = self(),
            spawn_link(fun() ->
                Self ! {other, py:eval(<<"'own_globals_mark' in globals()">>, #{},
                                       #{on => {default, 1}})}
            end),
            receive {other, Seen} -> false = Seen end;
        false ->
            ct:fail({default_pool_too_small, Size})
    end.

no_such_pool(Config) -> in_place(Config, fun() ->
    {error, {no_pool, py_exec_nope}} = py:call({operator, add}, [1, 2], [], #{on => py_exec_nope}),
    {error, {no_context, {?ONE, 2}}} = py:call({operator, add}, [1, 2], [], #{on => {?ONE, 2}}),
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => {?ONE, 1}}),
    ok
end).

%%% Callbacks

callback_chain_depth_10(Config) -> in_place(Config, fun() ->
    Expected = lists:seq(10, 0, -1),
    Expected = chain(10),
    ok
end).

%% The same chain on a pool of one context: every nested call must run on the
%% context that waits for the callback, or it deadlocks.
callback_chain_on_pool(Config) -> in_place(Config, fun() ->
    Expected = lists:seq(10, 0, -1),
    Expected = chain_on(10, ?ONE),
    ok
end).

%% @doc Erlang -> Python -> Erlang ...: returns [N, N-1, ..., 0].
-spec chain(non_neg_integer()) -> [non_neg_integer()].
chain(0) ->
    [0];
chain(N) ->
    [N | py:eval(<<"(lambda e: e.call(e.Atom('py_exec_SUITE'), e.Atom('chain'), [n - 1]))"
                   "(__import__('erlang'))">>, #{n => N})].

%% @doc chain/1 with every Python call on the given pool.
-spec chain_on(non_neg_integer(), atom()) -> [non_neg_integer()].
chain_on(0, _Pool) ->
    [0];
chain_on(N, Pool) ->
    [N | py:eval(<<"(lambda e: e.call(e.Atom('py_exec_SUITE'), e.Atom('chain_on'), [n - 1, p]))"
                   "(__import__('erlang'))">>, #{n => N, p => Pool}, #{on => Pool})].

callback_runs_in_caller(Config) -> in_place(Config, fun() ->
    Self = self(),
    Self = py:func(callbacks, call_self_pid),
    {ok, Self} = py:call('callbacks.call_self_pid', [], [], #{on => ?ONE}),
    ok
end).

callback_fun(Config) -> in_place(Config, fun() ->
    42 = py:func(callbacks, apply_fun, [fun(X) -> X * 2 end, 21]),
    [3, 2, 1] = py:func(callbacks, apply_fun, [fun lists:reverse/1, [1, 2, 3]]),
    ok
end).

callback_error_caught(Config) -> in_place(Config, fun() ->
    {throw, oops, true, true} = py:func(callbacks, catch_error, [throw, oops]),
    {error, {my, <<"reason">>}, true, true} =
        py:func(callbacks, catch_error, [error, {my, <<"reason">>}]),
    {exit, bye, true, true} = py:func(callbacks, catch_error, [exit, bye]),
    ok
end).

callback_error_uncaught(Config) -> in_place(Config, fun() ->
    {error, {python, <<"erlang.Error">>, Message, Traceback}} =
        py:call('callbacks.call_fail', [error, boom]),
    <<"error: Atom('boom') in py_exec_SUITE:fail/2", _/binary>> = Message,
    true = lists:any(fun(L) -> py_test_util:contains(L, "call_fail") end, Traceback),
    {ok, 3} = py:call({operator, add}, [1, 2]),
    ok
end).

send_to_self(Config) -> in_place(Config, fun() ->
    undefined = py:eval(<<"(lambda e: e.send(e.self(), ('hello', e.Atom('x'), 1.5)))"
                          "(__import__('erlang'))">>),
    receive {<<"hello">>, x, 1.5} -> ok after 2000 -> ct:fail(nothing_received) end,
    true = py:eval(<<"__import__('erlang').self() == p">>, #{p => self()}),
    ok
end).

send_to_pid(Config) -> in_place(Config, fun() ->
    Self = self(),
    Pid = spawn_link(fun() -> receive M -> Self ! {relay, M} end end),
    undefined = py:eval(<<"__import__('erlang').send(p, [1, {'k': None}])">>, #{p => Pid}),
    receive {relay, [1, #{<<"k">> := undefined}]} -> ok after 2000 -> ct:fail(nothing_relayed) end,
    ok
end).

cast(Config) -> in_place(Config, fun() ->
    undefined = py:func(callbacks, cast_to, [self(), 42]),
    receive
        {cast_got, 42, Runner} ->
            %% A cast does not run in the caller.
            true = Runner =/= self()
    after 2000 ->
            ct:fail(no_cast)
    end,
    ok
end).

%% @doc The target of callbacks.cast_to.
-spec cast_target(pid(), term()) -> term().
cast_target(Pid, Value) ->
    Pid ! {cast_got, Value, self()}.

self_outside_call(Config) -> in_place(Config, fun() ->
    %% Inside a call it works; the Python code below calls it from a thread
    %% of its own, outside any call, where it raises RuntimeError.
    Code = <<"import threading, erlang\n"
             "out = []\n"
             "def f():\n"
             "    try:\n"
             "        erlang.self()\n"
             "        out.append('no error')\n"
             "    except RuntimeError:\n"
             "        out.append('RuntimeError')\n"
             "t = threading.Thread(target=f)\n"
             "t.start()\n"
             "t.join()\n">>,
    ok = py:exec(Code, #{}, #{on => ?ONE}),
    [<<"RuntimeError">>] = py:eval(<<"out">>, #{}, #{on => ?ONE}),
    ok
end).

%% @doc Raises an exception of the given class (for callback error tests).
-spec fail(error | exit | throw, term()) -> no_return().
fail(error, Reason) -> erlang:error(Reason);
fail(exit, Reason) -> erlang:exit(Reason);
fail(throw, Reason) -> erlang:throw(Reason).

%% @doc Returns its argument (a trivial callback).
-spec identity(term()) -> term().
identity(X) -> X.

%%% Output and logging

print_to_group_leader(Config) -> in_place(Config, fun() ->
    Out = py_test_util:with_capture(fun() ->
                               ok = py:exec(<<"print('hello from python', 42)">>),
                               ok = py:exec(<<"print('h\\u00e9llo', end='')\nprint()">>,
                                            #{}, #{on => ?ONE})
                       end),
    <<"hello from python 42\nh", 16#c3, 16#a9, "llo\n">> = Out,
    ok
end).

stderr_to_group_leader(Config) -> in_place(Config, fun() ->
    Out = py_test_util:with_capture(fun() ->
                               ok = py:exec(<<"import sys\nsys.stderr.write('to stderr\\n')\n"
                                              "sys.stdout.write('to stdout\\n')">>)
                       end),
    true = py_test_util:contains(Out, "to stderr\n"),
    true = py_test_util:contains(Out, "to stdout\n"),
    ok
end).

output_outside_any_call(Config) -> in_place(Config, fun() ->
    %% A Python thread prints after its call returned: no caller waits for that
    %% output, so it goes to the VM's console (`user'), not nowhere. The
    %% caller's own output still goes to its group leader only.
    Code = <<"import threading, time\n"
             "def late():\n"
             "    time.sleep(0.1)\n"
             "    for i in range(3):\n"
             "        print('late line', i, flush=True)\n"
             "threading.Thread(target=late).start()\n"
             "print('in the call')\n">>,
    Console = py_test_util:with_console(fun(Captured) ->
        Mine = py_test_util:with_capture(fun() -> ok = py:exec(Code) end),
        <<"in the call\n">> = Mine,
        ok = py_test_util:wait_until(
               fun() -> py_test_util:contains(Captured(), "late line 2\n") end, 5000),
        Captured()
    end),
    <<"late line 0\nlate line 1\nlate line 2\n">> = Console,
    %% The path stays open: a call after it still prints to its caller.
    <<"next\n">> = py_test_util:with_capture(fun() -> ok = py:exec(<<"print('next')">>) end),
    ok
end).

logging_to_logger(Config) -> in_place(Config, fun() ->
    ok = py_test_util:add_log_forwarder(self()),
    try
        ok = py:exec(<<"import logging\n"
                       "logging.getLogger('py_exec_test').warning('careful %s', 'now')\n"
                       "logging.getLogger('py_exec_test').error('it broke')\n">>),
        warning = py_test_util:wait_log("careful now"),
        error = py_test_util:wait_log("it broke")
    after
        ok = py_test_util:remove_log_forwarder()
    end,
    _ = py_test_util:flush(),
    ok
end).

%%% Exceptions

exception_format(Config) -> in_place(Config, fun() ->
    Code = <<"def exc_fn_inner():\n"
             "    raise ValueError('bad value 42')\n"
             "def exc_fn_outer():\n"
             "    exc_fn_inner()\n"
             "exc_fn_outer()\n">>,
    {python, <<"builtins.ValueError">>, <<"bad value 42">>, Traceback} =
        py_test_util:raised(fun() -> py:exec(Code) end),
    true = lists:all(fun is_binary/1, Traceback),
    %% One line per element, without line ends.
    <<"Traceback (most recent call last):">> = hd(Traceback),
    <<"ValueError: bad value 42">> = lists:last(Traceback),
    [] = [L || L <- Traceback, binary:match(L, <<"\n">>) =/= nomatch],
    Text = iolist_to_binary(Traceback),
    true = py_test_util:contains(Text, "in exc_fn_inner"),
    true = py_test_util:contains(Text, "in exc_fn_outer"),
    {error, {python, <<"builtins.ValueError">>, <<"bad value 42">>, Traceback2}} =
        py:call('builtins.exec', [Code, #{}]),
    true = py_test_util:contains(iolist_to_binary(Traceback2), "in exc_fn_inner"),
    ok
end).

exception_qualified_type(Config) -> in_place(Config, fun() ->
    {error, {python, <<"json.decoder.JSONDecodeError">>,
             <<"Expecting property name enclosed in double quotes: line 1 column 2 (char 1)">>, _}} =
        py:call({json, loads}, [<<"{">>]),
    {error, {python, <<"builtins.KeyError">>, <<"'missing'">>, _}} =
        py:call({operator, getitem}, [#{<<"k">> => 1}, <<"missing">>]),
    {ok, 1} = py:call({operator, getitem}, [#{<<"k">> => 1}, <<"k">>]),
    ok
end).

%%% Placement: handles, dirty, large terms

sqlite_connection(_Config) ->
    {ok, _} = py:start_pool(py_exec_sqlite, #{size => 2}),
    try
        %% sqlite3 refuses a connection used from another thread, so every
        %% call on the handle must run on the context that made it.
        {ok, Conn} = py:call('sqlite3.connect', [<<":memory:">>], [], #{on => py_exec_sqlite}),
        true = is_reference(Conn),
        _ = py:method(Conn, execute, [<<"create table t (x integer, s text)">>]),
        [_ = py:method(Conn, execute, [<<"insert into t values (?, ?)">>, {I, integer_to_binary(I)}])
         || I <- lists:seq(1, 20)],
        ok = to_ok(py:method(Conn, commit)),
        {ok, Cur} = py:call({Conn, execute}, [<<"select sum(x), count(*), max(s) from t">>], [],
                            #{on => py_exec_sqlite}),
        [{210, 20, <<"9">>}] = py:method(Cur, fetchall),
        %% Through the default pool too: the handle decides where it runs.
        Cur2 = py:method(Conn, execute, [<<"select x from t where x > 18 order by x">>]),
        [{19}, {20}] = py:method(Cur2, fetchall),
        ok = to_ok(py:method(Conn, close))
    after
        ok = py:stop_pool(py_exec_sqlite)
    end.

dirty_same_answers(Config) -> in_place(Config, fun() ->
    lists:foreach(
      fun({Target, Args, Kwargs}) ->
              Ctx = py:call(Target, Args, Kwargs, #{}),
              Dirty = py:call(Target, Args, Kwargs, #{on => dirty}),
              case py_test_util:same_answer(Ctx, Dirty) of
                  true -> ok;
                  false -> ct:fail({different, Target, Ctx, Dirty})
              end
      end, py_test_util:answer_samples()),
    {error, {python, <<"builtins.ValueError">>, <<"math domain error">>, _}} =
        py:call({math, sqrt}, [-1], [], #{on => dirty}),
    2 = py:eval(<<"1 + 1">>, #{}, #{on => dirty}),
    H = py:eval(<<"__import__('datetime').date(2001, 2, 3)">>, #{}, #{on => dirty}),
    true = py_test_util:is_handle(H),
    2001 = py:attr(H, year),
    {ok, 2001} = py:call({H, '__getattribute__'}, [year], [], #{on => dirty}),
    ok
end).

dirty_no_callbacks(_Config) ->
    {error, {python, <<"builtins.RuntimeError">>, _, _}} =
        py:call('callbacks.call_self_pid', [], [], #{on => dirty}),
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => dirty}),
    ok.

dirty_timeout(_Config) ->
    T0 = now_ms(),
    {error, timeout} = py:call('builtins.exec', [<<"while True: pass">>, #{}], [],
                               #{on => dirty, timeout => 200}),
    Elapsed = now_ms() - T0,
    ct:log("dirty timeout after ~p ms", [Elapsed]),
    true = Elapsed >= 200 andalso Elapsed =< 300,
    {ok, 3} = py:call({operator, add}, [1, 2], [], #{on => dirty}),
    ok.

large_argument(Config) -> in_place(Config, fun() ->
    L = lists:seq(1, 1000000),
    {ok, 1000000} = py:call('builtins.len', [L]),
    {ok, 500000500000} = py:call('builtins.sum', [L]),
    {ok, 500000500000} = py:call('builtins.sum', [L], [], #{on => dirty}),
    {ok, 500000500000} = py:call('builtins.sum', [L], [], #{on => ?ONE}),
    L = py:eval(<<"list(range(1, 1000001))">>),
    Floats = [float(I) || I <- L],
    {ok, 1000000} = py:call('builtins.len', [Floats]),
    ok
end).

%% Copying a large argument must not hold a normal scheduler for long
%% (measured twice at most: see py_test_util:timing/1).
large_argument_scheduler(Config) -> in_place(Config, fun() ->
    L = lists:seq(1, 2000000),
    Big = #{list => L, bin => binary:copy(<<"x">>, 1000000), tuple => list_to_tuple(L)},
    py_test_util:timing(fun() ->
        Prev = erlang:system_monitor(self(), [{long_schedule, 50}]),
        try
            {ok, 3} = py:call('builtins.len', [Big])
        after
            _ = erlang:system_monitor(Prev)
        end,
        Long = [M || {monitor, _, long_schedule, _} = M <- py_test_util:flush()],
        [] = Long,
        ok
    end)
end).

%% Nor copying a large result back (a worker's comes in pieces: the port
%% copies each packet it reads without yielding).
large_result_scheduler(Config) -> in_place(Config, fun() ->
    Code = <<"(b'x' * 8000000, list(range(1000000)), tuple(range(1000000)),"
             " {i: -i for i in range(100000)})">>,
    py_test_util:timing(fun() ->
        Prev = erlang:system_monitor(self(), [{long_schedule, 50}]),
        Result = try
                     py:call('builtins.eval', [Code])
                 after
                     _ = erlang:system_monitor(Prev)
                 end,
        {ok, {Bin, List, Tuple, Map}} = Result,
        8000000 = byte_size(Bin),
        <<"xxx">> = binary:part(Bin, 7999997, 3),
        L = lists:seq(0, 999999),
        L = List,
        L = tuple_to_list(Tuple),
        100000 = map_size(Map),
        -99999 = maps:get(99999, Map),
        Long = [M || {monitor, _, long_schedule, _} = M <- py_test_util:flush()],
        [] = Long,
        ok
    end)
end).

%%% Helpers

now_ms() ->
    erlang:monotonic_time(millisecond).

%% How many of N calls made with py_nif:call/4 came back directly (the rest by
%% message, which is received here): every one must be right either way.
direct_count(Place, N) ->
    lists:sum([begin
                   Ref = make_ref(),
                   case py_nif:call(Place, Ref, ?ADD, term) of
                       {Ref, {ok, 3}} -> 1;
                       {ok, _JobRes} -> receive {Ref, {ok, 3}} -> 0 after 5000 -> error(lost) end
                   end
               end || _ <- lists:seq(1, N)]).

pool_sup(Pool) ->
    [Sup] = [P || {{py_pool, Name}, P, supervisor, _} <- supervisor:which_children(py_sup),
                  Name =:= Pool],
    Sup.

context_owner(Pool) ->
    case supervisor:which_children(pool_sup(Pool)) of
        [{0, Pid, worker, _}] -> Pid;
        Other -> Other
    end.

only_context(Pool) ->
    %% py_nif:pool_info/1 gives context ids, not Ctx resources (see the report).
    {ok, Ctx} = py_pool:context(Pool, 1),
    Ctx.

is_context_down({error, {context_down, _}}) -> true;
is_context_down(_) -> false.

to_ok(undefined) -> ok;
to_ok(Other) -> Other.
