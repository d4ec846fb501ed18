%% @doc The native functions behind `py' (see docs/internals.md, the contract).
%%
%% Users never call this module: `py' and `py_exec' do. Every function here is
%% replaced by the NIF when `priv/py_nif.so' loads; the Erlang bodies only
%% raise `nif_not_loaded'.
-module(py_nif).

-export([loaded_settings/0, priv_dir/0, python_pkg/0]).
-export([versions/0, set_server/1, handle_count/0,
         context_new/1, context_stop/1, context_info/1,
         pool_new/2, pool_set/3, pool_info/1,
         submit/4, call/4, submit_large/4, call_dirty/3, cancel/1, elapsed/1, callback_reply/2,
         output_ack/1, server_output_ack/0,
         bytes/1, buffer/1, is_handle/1,
         proxy_new/3, proxy_info/1, worker_write/2, worker_write_large/2,
         kill_os_process/1]).

-export_type([handle/0, proxy/0, written/0, marker/0, ctx/0, pool/0, job_res/0, place/0, job/0,
              return/0, kwargs/0, strategy/0, callback_result/0, chunks/0]).

-on_load(init/0).

%% NIF resources are (magic) references on OTP 25.
-type handle() :: reference().
-type marker() :: reference().
%% A handle to an object of a worker (docs/worker-protocol.md).
-type proxy() :: reference().
%% A job written for a worker: its bytes (an iolist when it refers to big
%% binaries instead of copying them), and the worker its proxies belong to.
-type written() :: {ok, iodata(), none | {pid(), non_neg_integer()}}
                 | too_large
                 | {error, {wrong_place, handle()}}.
-type ctx() :: reference().
-type pool() :: reference().
-type job_res() :: reference().
-type place() :: ctx() | pool() | job_res().
-type strategy() :: round_robin | least_busy.
-type kwargs() :: #{atom() | binary() => term()} | [{atom() | binary(), term()}].
%% The job term; py_job builds it.
-type job() :: py_job:job().
-type return() :: term | term_nil | handle.
%% Output written while the reader was behind, in order.
-type chunks() :: [{stdout | stderr, binary()}].
-type callback_result() :: {ok, term()}
                         | {error, {Class :: atom(), Reason :: term(), Stack :: list()}}.

%%% Loading

-spec init() -> ok | {error, term()}.
init() ->
    %% The application spec may not be loaded yet when the module is loaded
    %% directly (erl -pa ...), and its env holds the configuration.
    _ = application:load(py),
    case py_config:check() of
        {ok, Config, _Warnings} ->
            %% py_app has already logged the warnings, if it is the one starting.
            Settings = py_config:nif_settings(Config),
            PrivDir = priv_dir(),
            Info = Settings#{python_pkg => bin(python_pkg(PrivDir))},
            case erlang:load_nif(filename:join(PrivDir, "py_nif"), Info) of
                ok ->
                    %% The interpreter keeps these for the VM's life: py_app
                    %% compares them with the env when it starts again.
                    persistent_term:put({?MODULE, settings}, Settings);
                {error, _} = Error ->
                    Error
            end;
        {error, _} = Error ->
            Error
    end.

%% @doc The settings the NIF was loaded with (python, venv, path, env and the
%% conversion limits), or `undefined' before it loads. They hold until the VM
%% restarts. `#{venv := _} = py_nif:loaded_settings()' once py has started.
-spec loaded_settings() -> py_config:nif_settings() | undefined.
loaded_settings() ->
    persistent_term:get({?MODULE, settings}, undefined).

%% @doc Where the `erlang' Python package is: in `priv/python' once built.
-spec python_pkg() -> file:filename().
python_pkg() ->
    python_pkg(priv_dir()).

python_pkg(PrivDir) ->
    Installed = filename:join(PrivDir, "python"),
    case filelib:is_dir(Installed) of
        true -> Installed;
        false -> filename:join(app_dir(), "python")
    end.

%% @doc The `priv' directory of `py' (also when run from a source tree).
-spec priv_dir() -> file:filename().
priv_dir() ->
    case code:priv_dir(py) of
        {error, bad_name} -> filename:join(app_dir(), "priv");
        Dir -> Dir
    end.

%% The directory above ebin/: code:lib_dir/1 only knows the application when
%% its directory is named like one, which a source checkout may not be.
app_dir() ->
    case code:which(?MODULE) of
        Beam when is_list(Beam) ->
            filename:dirname(filename:dirname(filename:absname(Beam)));
        _ ->
            case code:lib_dir(py) of
                {error, bad_name} -> filename:absname(".");
                Dir -> Dir
            end
    end.

bin(B) when is_binary(B) -> B;
bin(L) when is_list(L) -> unicode:characters_to_binary(L).

%%% Process-wide

%% @doc Python, NIF and interpreter-executable versions, or why Python did not start.
-spec versions() -> #{python := binary(), nif := binary(), executable := binary()}
                  | {error, {python_init_failed, binary()}}.
versions() -> erlang:nif_error(nif_not_loaded).

%% @doc Sets the process that receives logs, casts and output made outside any job.
-spec set_server(pid()) -> ok.
set_server(_Pid) -> erlang:nif_error(nif_not_loaded).

%% @doc The number of handles alive now (resources not yet destroyed).
-spec handle_count() -> non_neg_integer().
handle_count() -> erlang:nif_error(nif_not_loaded).

%%% Contexts and pools

%% @doc Starts a context thread owned (and monitored) by `Owner'.
-spec context_new(Owner :: pid()) -> ctx() | {error, term()}.
context_new(_Owner) -> erlang:nif_error(nif_not_loaded).

%% @doc Stops a context; its running and queued jobs get an error.
-spec context_stop(ctx()) -> ok.
context_stop(_Ctx) -> erlang:nif_error(nif_not_loaded).

%% @doc Id, liveness, busy flag and queue length of a context.
-spec context_info(ctx()) -> #{id := pos_integer(), alive := boolean(),
                               busy := boolean(), queued := non_neg_integer()}.
context_info(_Ctx) -> erlang:nif_error(nif_not_loaded).

%% @doc A fixed-size array of empty context slots.
-spec pool_new(Size :: pos_integer(), strategy()) -> pool().
pool_new(_Size, _Strategy) -> erlang:nif_error(nif_not_loaded).

%% @doc Puts a context in a 0-based slot of a pool.
-spec pool_set(pool(), Index :: non_neg_integer(), ctx()) -> ok.
pool_set(_Pool, _Index, _Ctx) -> erlang:nif_error(nif_not_loaded).

%% @doc Size, strategy, contexts (`undefined' for an empty slot), how many
%% times a slot's context was replaced, and how long the GIL has been held
%% without a release when that is past 100 ms (C code that does not let go).
%% `running_ms' is how long the context's current job has run.
-spec pool_info(pool()) ->
          #{size := pos_integer(), strategy := atom(), restarts := non_neg_integer(),
            contexts := [#{id := pos_integer(), busy := boolean(),
                           queued := non_neg_integer(),
                           running_ms := non_neg_integer() | undefined} | undefined],
            gil := #{stuck_ms := non_neg_integer() | undefined}}.
pool_info(_Pool) -> erlang:nif_error(nif_not_loaded).

%%% Jobs

%% @doc Queues a job; the result comes to the caller as `{Ref, {ok | error, _}}'.
-spec submit(place(), reference(), job(), return()) ->
          {ok, job_res()} | too_large | {error, term()}.
submit(_Place, _Ref, _Job, _Return) -> erlang:nif_error(nif_not_loaded).

%% @doc `submit/4' for a caller that waits at once: when an idle context
%% finishes the job within a few microseconds, its final message
%% `{Ref, {ok | error, _}}' is returned instead of sent.
-spec call(place(), reference(), job(), return()) ->
          {ok, job_res()} | {reference(), {ok, term()} | {error, term()}}
        | too_large | {error, term()}.
call(_Place, _Ref, _Job, _Return) -> erlang:nif_error(nif_not_loaded).

%% @doc `submit/4' for large arguments (a dirty CPU NIF copies them).
-spec submit_large(place(), reference(), job(), return()) ->
          {ok, job_res()} | {error, term()}.
submit_large(_Place, _Ref, _Job, _Return) -> erlang:nif_error(nif_not_loaded).

%% @doc Runs a job on a dirty CPU scheduler and returns its result.
-spec call_dirty(job(), return(), Timeout :: non_neg_integer() | infinity) ->
          {ok, term()} | {error, term()}.
call_dirty(_Job, _Return, _Timeout) -> erlang:nif_error(nif_not_loaded).

%% @doc Cancels a job: `ok' (no reply will come) or `sent' (the final reply must be received).
-spec cancel(job_res()) -> ok | sent.
cancel(_JobRes) -> erlang:nif_error(nif_not_loaded).

%% @doc Milliseconds since the job was submitted: the deadline of a wait
%% resumed after a callback counts from there.
-spec elapsed(job_res()) -> non_neg_integer().
elapsed(_JobRes) -> erlang:nif_error(nif_not_loaded).

%% @doc The caller wrote one `{Ref, {output, _, _}}' message of a job: what
%% the job wrote meanwhile, for the caller to write at once.
-spec output_ack(job_res()) -> chunks().
output_ack(_JobRes) -> erlang:nif_error(nif_not_loaded).

%% @doc The server wrote one `{py_output, _, _}' message: what was written
%% meanwhile, for it to write at once.
-spec server_output_ack() -> chunks().
server_output_ack() -> erlang:nif_error(nif_not_loaded).

%% @doc Answers a `{Ref, {callback, _}}' message of a job.
-spec callback_reply(job_res(), callback_result()) -> ok.
callback_reply(_JobRes, _Result) -> erlang:nif_error(nif_not_loaded).

%%% Values

%% @doc A marker that becomes Python `bytes'.
-spec bytes(binary()) -> marker().
bytes(_Bin) -> erlang:nif_error(nif_not_loaded).

%% @doc A marker that becomes a read-only `memoryview' over the binary (no copy).
-spec buffer(binary()) -> marker().
buffer(_Bin) -> erlang:nif_error(nif_not_loaded).

%% @doc True when the term is a handle to a Python object.
-spec is_handle(term()) -> boolean().
is_handle(_Term) -> erlang:nif_error(nif_not_loaded).

%%% Workers (docs/worker-protocol.md)

%% @doc A proxy handle for object `Id' of the worker that `Owner' runs in
%% generation `Gen'. When it is collected, `Owner' gets `{py_release, Gen, Id}'.
-spec proxy_new(pid(), non_neg_integer(), non_neg_integer()) -> proxy().
proxy_new(_Owner, _Gen, _Id) -> erlang:nif_error(nif_not_loaded).

%% @doc `{Owner, Gen, Id}' of a proxy handle, or `false' for any other term.
-spec proxy_info(term()) -> {pid(), non_neg_integer(), non_neg_integer()} | false.
proxy_info(_Term) -> erlang:nif_error(nif_not_loaded).

%% @doc `Term' in the external term format, its proxies and markers written as
%% `{Marker, Kind, Payload}' tuples; `too_large' when it is too big for a normal
%% scheduler (then worker_write_large/2).
-spec worker_write(term(), reference()) -> written().
worker_write(_Term, _Marker) -> erlang:nif_error(nif_not_loaded).

%% @doc worker_write/2 on a dirty scheduler, for any size.
-spec worker_write_large(term(), reference()) -> written().
worker_write_large(_Term, _Marker) -> erlang:nif_error(nif_not_loaded).

%% @doc Sends `SIGKILL' to a worker's OS process; `true' if it was sent.
-spec kill_os_process(integer()) -> boolean().
kill_os_process(_OsPid) -> erlang:nif_error(nif_not_loaded).
