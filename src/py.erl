%% @doc Call Python from Erlang and LFE.
%%
%% The LFE py surface (`func', `const', `init', `method', `attr', `pycall',
%% the builtins and the operators), `eval'/`exec'/`import' and the value
%% helpers return the value and raise `error(Reason)' when the call fails;
%% a Python exception is `error({python, Type, Message, Traceback})'.
%% `call/2,3,4' takes options and returns `{ok, Value} | {error, Reason}'.
%% Names are atoms or binaries; a dotted name (`` 'os.path' '') is imported as
%% far as it is a module and walked with `getattr' for the rest.
-module(py).

-compile({no_auto_import, [float/1, round/1, abs/1, min/2, max/2]}).

%% The LFE py surface
-export([func/1, func/2, func/3, func/4,
         const/1, const/2, const/3,
         init/1, init/2, init/3, init/4,
         method/2, method/3, method/4,
         attr/2,
         pycall/2, pycall/3, pycall/4,
         get_versions/0]).
%% LFE py's server functions and REPL helpers
-export([start/0, stop/0, restart/0, 'add-server'/1, 'get-sup-pid'/0,
         'get-python-pids'/0, ptype/1, prepr/1]).
%% builtins (src/py_builtins.hrl; bytes/1 is below, with the values)
-export([abs/1, all/1, any/1, ascii/1, bin/1, bool/0, bool/1,
         bytearray/0, bytearray/1, bytearray/2, bytearray/3, bytes/0, bytes/2, bytes/3,
         callable/1, chr/1, compile/3, compile/4, complex/0, complex/1, complex/2,
         dict/0, dict/1, dir/1, pdir/1, divmod/2, enumerate/1, enumerate/2, filter/2,
         float/0, float/1, format/1, format/2, frozenset/0, frozenset/1,
         getattr/2, getattr/3, hasattr/2, hash/1, help/1, hex/1, id/1, int/1, int/2,
         isinstance/2, issubclass/2, iter/1, iter/2, len/1, map/2, map/3,
         max/1, max/2, max/3, max/4, memoryview/1, min/1, min/2, min/3, min/4,
         next/1, next/2, object/0, oct/1, open/1, open/2, ord/1, pow/2, pow/3,
         print/1, print/2, property/1, pylist/0, pylist/1, range/1, range/2, range/3,
         repr/1, reversed/1, round/1, round/2, set/0, set/1,
         slice/1, slice/2, slice/3, sorted/1, sorted/2, sorted/3, str/1, str/2,
         sum/1, sum/2, super/1, super/2, tuple/0, tuple/1, type/1, type/3,
         vars/1, pvars/1, zip/1, zip/2, zip/3]).
%% operators (abs/1 is the builtin, which is the same function)
-export([add/2, sub/2, mul/2, truediv/2, floordiv/2, mod/2, neg/1, pos/1, index/1,
         inv/1, invert/1, lshift/2, rshift/2, 'and-'/2, 'or-'/2, 'xor'/2,
         eq/2, ne/2, lt/2, le/2, gt/2, ge/2, 'not-'/1, truth/1,
         contains/2, countOf/2, indexOf/2, getitem/2, concat/2, length_hint/1, length_hint/2,
         is/2, 'is-'/2, is_not/2, 'is-not'/2, attrgetter/1, itemgetter/1,
         methodcaller/1, methodcaller/2]).
%% the general call, source text and values
-export([call/2, call/3, call/4,
         async_call/4, await/1, cancel/1,
         eval/1, eval/2, eval/3, exec/1, exec/2, exec/3, namespace/0, namespace/1,
         import/1, value/1, to_binary/1, bytes/1, buffer/1,
         array/1, ndarray/1, ndarray/2]).
%% pools and defaults
-export([start_pool/2, stop_pool/1, stop_pool/2, pool_info/1, pools/0, set_call_timeout/1]).
%% the cluster: parallel calls, a target for a block, handles made portable
-export([broadcast/3, with_target/2, export/1, handle/1]).
%% (map/3, the parallel map, shares its name with Python's map/3: see py_builtins.hrl)
%% errors as text
-export([format_error/1, format_error/2]).

-export_type([pool_info/0]).

%% What py:pool_info/1 tells of a pool of contexts, or of workers.
-type pool_info() ::
        #{kind := context, size := pos_integer(), strategy := py_nif:strategy(),
          busy := non_neg_integer(), queued := non_neg_integer(),
          restarts := non_neg_integer(), handles := non_neg_integer(),
          contexts := [#{id := pos_integer(), busy := boolean(),
                         queued := non_neg_integer(),
                         running_ms := non_neg_integer() | undefined} | undefined],
          gil := #{stuck_ms := non_neg_integer() | undefined}}
      | #{kind := worker, size := pos_integer(), strategy := py_nif:strategy(),
          busy := non_neg_integer(), queued := non_neg_integer(),
          restarts := non_neg_integer(), handles := non_neg_integer(),
          workers := [#{os_pid := non_neg_integer(), busy := boolean(),
                        queued := non_neg_integer(), restarts := non_neg_integer(),
                        handles := non_neg_integer(), generation := non_neg_integer()}
                      | undefined]}.

-export_type([name/0, kwargs/0, handle/0, opts/0, array/0]).

%% A name: an atom or a binary; a string (charlist) is accepted too.
-type name() :: atom() | binary() | string().
%% Keyword arguments; a charlist key (an LFE string) is taken as a binary.
-type kwargs() :: #{name() => term()} | [{name(), term()}].
-type handle() :: py_nif:handle().
%% `#{timeout => timeout(), return => term | handle, on => py_exec:on()}'
-type opts() :: map().
%% A numpy array as py:array/1 gives it and py:ndarray/1,2 takes it: the shape,
%% numpy's `dtype.str' (`<<"<f8">>', `<<"|u1">>', ...) and the items in C order.
-type array() :: #{shape := [non_neg_integer()], dtype := binary(), data := binary()}.

%%% The LFE py surface

%% @doc Calls a callable given by one dotted name, without arguments.
%% ``py:func('os.getcwd')'' gives the current directory as a binary.
-spec func(name()) -> term().
func(Dotted) ->
    func(Dotted, [], []).

%% @doc `func(Dotted, Args)' or `func(Mod, Fun)': a list second argument is the arguments.
%% ``py:func('math.pow', [2, 16])'' gives `65536.0'.
%% (One contract: a string is both a name and a list.)
-spec func(name(), name() | list()) -> term().
func(Mod, Fun) when is_list(Mod), is_list(Fun) ->
    %% Names given as strings ("os", "getcwd"): both are names.
    case py_lib:is_text(Mod) andalso py_lib:is_text(Fun) of
        true -> func(Mod, Fun, [], []);
        false -> func(Mod, Fun, [])
    end;
func(Dotted, Args) when is_list(Args) ->
    func(Dotted, Args, []);
func(Mod, Fun) ->
    func(Mod, Fun, [], []).

%% @doc `func(Dotted, Args, Kwargs)' or `func(Mod, Fun, Args)'.
%% `py:func(math, pow, [2, 16])' gives `65536.0'.
-spec func(name(), name() | list(), kwargs() | list()) -> term().
func(A, B, C) when is_list(B) ->
    case names_given_as_strings(A, B, C) of
        true -> func(A, B, C, []);
        false -> run_call(py_lib:name(A), B, C)
    end;
func(Mod, Fun, Args) ->
    func(Mod, Fun, Args, []).

%% `func("math", "pow", [2, 16])', `func(math, "pow", [2, 16])': a string in
%% the second place is a function name, not an argument list, when the first
%% is a string too, or when the third cannot be keyword arguments. (A list in
%% the second place stays the argument list otherwise: `func(chr, [65], [])'.)
names_given_as_strings(A, B, C) ->
    py_lib:is_text(B) andalso (py_lib:is_text(A) orelse not kwargs_like(C)).

kwargs_like(K) when is_map(K) -> true;
kwargs_like(K) when is_list(K) -> lists:all(fun({_, _}) -> true; (_) -> false end, K);
kwargs_like(_) -> false.

%% @doc Calls `Mod.Fun(*Args, **Kwargs)'.
%% `py:func(builtins, int, [<<"ff">>], [{base, 16}])' gives `255'.
-spec func(name(), name(), list(), kwargs()) -> term().
func(Mod, Fun, Args, Kwargs) ->
    run_call(py_lib:dotted(Mod, Fun), Args, Kwargs).

%% @doc A module attribute by dotted name.
%% ``py:const('math.pi')'' gives `3.141592653589793'.
-spec const(name()) -> term().
const(Dotted) ->
    direct(py_job:const(py_lib:name(Dotted))).

%% @doc A module attribute. `py:const(math, pi)' gives `3.141592653589793'.
-spec const(name(), name()) -> term().
const(Mod, Name) ->
    direct(py_job:const(py_lib:dotted(Mod, Name))).

%% @doc A module attribute cast with Python's `int', `float' or `str'.
%% `py:const(math, pi, int)' gives `3'.
-spec const(name(), name(), int | float | str) -> term().
const(Mod, Name, Type) ->
    Cast = py_lib:cast_name(Type),
    %% As a handle: the cast then runs where the value lives, whatever it is.
    Value = direct(py_job:const(py_lib:dotted(Mod, Name)), #{return => handle}),
    run_call(Cast, [Value], []).

%% @doc Instantiates a class given by one dotted name.
%% ``py:init('collections.OrderedDict')'' gives an empty `OrderedDict' (a map).
-spec init(name()) -> term().
init(Dotted) ->
    func(Dotted).

%% @doc `init(Dotted, Args)' or `init(Mod, Class)'.
%% ``py:init('datetime.date', [1923, 4, 2])'' gives a handle to the date.
-spec init(name(), name() | list()) -> term().
init(DottedOrMod, ArgsOrClass) ->
    func(DottedOrMod, ArgsOrClass).

%% @doc `init(Dotted, Args, Kwargs)' or `init(Mod, Class, Args)'.
%% `py:init(datetime, date, [1923, 4, 2])' gives a handle to the date.
-spec init(name(), name() | list(), kwargs() | list()) -> term().
init(A, B, C) ->
    func(A, B, C).

%% @doc Instantiates `Mod.Class(*Args, **Kwargs)'.
%% `py:init(datetime, timedelta, [], #{hours => 1})' gives a handle to the timedelta.
-spec init(name(), name(), list(), kwargs()) -> term().
init(Mod, Class, Args, Kwargs) ->
    func(Mod, Class, Args, Kwargs).

%% @doc Calls a method without arguments. `py:method(Now, isoformat)' gives a binary.
-spec method(term(), name()) -> term().
method(Obj, Name) ->
    method(Obj, Name, [], []).

%% @doc Calls a method. `py:method(Now, strftime, [<<"%Y">>])' gives `<<"2024">>'.
-spec method(term(), name(), list()) -> term().
method(Obj, Name, Args) ->
    method(Obj, Name, Args, []).

%% @doc Calls a method with keyword arguments.
%% `py:method(Now, replace, [], #{year => 2000})' gives a handle to the new datetime.
-spec method(term(), name(), list(), kwargs()) -> term().
method(Obj, Name, Args, Kwargs) ->
    direct(py_job:method(Obj, py_lib:name(Name), Args, Kwargs)).

%% @doc Reads an attribute. `py:attr(Now, year)' gives the year as an integer.
-spec attr(term(), name()) -> term().
attr(Obj, Name) ->
    direct(py_job:getattr(Obj, py_lib:name(Name))).

%% @doc Calls a dotted path inside a module.
%% ``py:pycall(datetime, 'datetime.now')'' gives a handle to the current datetime.
-spec pycall(name(), name()) -> term().
pycall(Mod, Callable) ->
    pycall(Mod, Callable, [], []).

%% @doc Calls a dotted path inside a module with arguments.
%% ``py:pycall(os, 'path.join', [<<"a">>, <<"b">>])'' gives `<<"a/b">>'.
-spec pycall(name(), name(), list()) -> term().
pycall(Mod, Callable, Args) ->
    pycall(Mod, Callable, Args, []).

%% @doc Calls a dotted path inside a module with arguments and keyword arguments.
%% `py:pycall(json, dumps, [[1]], #{indent => 1})' gives `<<"[\n 1\n]">>'.
-spec pycall(name(), name(), list(), kwargs()) -> term().
pycall(Mod, Callable, Args, Kwargs) ->
    func(Mod, Callable, Args, Kwargs).

%% @doc The versions of Erlang/OTP, ERTS, the NIF, `py' and Python, all binaries.
%% `py:get_versions()' gives `[{erlang, <<"25">>}, {erts, <<"13.1.5">>}, ...]'.
-spec get_versions() -> [{erlang | erts | nif | py | python, binary()}].
get_versions() ->
    #{python := Python, nif := Nif} = py_nif:versions(),
    [{erlang, list_to_binary(erlang:system_info(otp_release))},
     {erts, list_to_binary(erlang:system_info(version))},
     {nif, Nif},
     {py, app_vsn()},
     {python, Python}].

app_vsn() ->
    _ = application:load(py),
    case application:get_key(py, vsn) of
        {ok, Vsn} -> list_to_binary(Vsn);
        undefined -> <<"unknown">>
    end.

%%% LFE py's server functions and REPL helpers

%% @doc Starts `py' and what it needs, as LFE py's `(py:start)' did (so
%% `erl -s py' works too). `py:start()' gives `{ok, started}'.
-spec start() -> {ok, started} | {error, term()}.
start() ->
    case application:ensure_all_started(py) of
        {ok, _} -> {ok, started};
        {error, _} = Error -> Error
    end.

%% @doc Stops `py' and every pool (those of start_pool/2 are not started
%% again by start/0). `py:stop()' gives `{ok, stopped}' (also when `py' was
%% not running).
-spec stop() -> {ok, stopped} | {error, term()}.
stop() ->
    case application:stop(py) of
        ok -> {ok, stopped};
        {error, {not_started, py}} -> {ok, stopped};
        {error, _} = Error -> Error
    end.

%% @doc stop/0 then start/0; the interpreter itself lives on (CPython cannot
%% be started twice in one process), its contexts are new.
%% `py:restart()' gives `{ok, restarted}'.
-spec restart() -> {ok, restarted} | {error, term()}.
restart() ->
    case stop() of
        {ok, stopped} ->
            case start() of
                {ok, started} -> {ok, restarted};
                {error, _} = Error -> Error
            end;
        {error, _} = Error ->
            Error
    end.

%% @doc LFE py added a Python server to the round robin of every call; here
%% that is a pool of one context named `Name', reached with `#{on => Name}'
%% (the default pool's size is the application env `pool_size').
%% ``py:'add-server'(extra)'' gives `{ok, Pid}'.
-spec 'add-server'(atom()) -> {ok, pid()} | {error, term()}.
'add-server'(Name) ->
    start_pool(Name, #{size => 1}).

%% @doc The top supervisor of `py', `undefined' when it is not running.
%% ``is_pid(py:'get-sup-pid'())'' is `true'.
-spec 'get-sup-pid'() -> pid() | undefined.
'get-sup-pid'() ->
    whereis(py_sup).

%% @doc The processes that own the contexts of the default pool (LFE py's
%% Python servers), in slot order. ``length(py:'get-python-pids'())'' is the pool size.
-spec 'get-python-pids'() -> [pid()].
'get-python-pids'() ->
    py_pool:owners(default).

%% @doc The qualified name of the class of `X', as a binary (LFE py made an
%% atom; no atom is made from what Python names). `py:ptype(1)' gives `<<"int">>',
%% ``py:ptype(py:func('datetime.date', today))'' gives `<<"datetime.date">>'.
-spec ptype(term()) -> binary().
ptype(X) ->
    Class = builtin_handle(type, [X]),
    Qualname = attr(Class, '__qualname__'),
    case attr(Class, '__module__') of
        <<"builtins">> -> Qualname;
        Module -> <<Module/binary, ".", Qualname/binary>>
    end.

%% @doc Prints `repr(X)' on a line of its own and returns `ok' (LFE py printed
%% the pickled form of an ErlPort opaque term; a handle has none).
%% `py:prepr(py:complex(1, 2))' prints `(1+2j)'.
-spec prepr(term()) -> ok.
prepr(X) ->
    io:format("~ts~n", [repr(X)]).

%%% The general call

%% @doc `call(Target, Args, [], #{})'. `py:call({math, pow}, [2, 16])' gives `{ok, 65536.0}'.
-spec call(py_lib:target(), list()) -> {ok, term()} | {error, term()}.
call(Target, Args) ->
    call(Target, Args, [], #{}).

%% @doc `call(Target, Args, Kwargs, #{})', or `call(Mod, Fun, Args)' (the shape
%% erlang_python users know) when the second argument is a name.
%% ``py:call('builtins.int', [<<"ff">>], #{base => 16})'' gives `{ok, 255}';
%% `py:call(math, sqrt, [16])' gives `{ok, 4.0}'.
-spec call(py_lib:target(), name() | list(), kwargs() | list()) ->
          {ok, term()} | {error, term()}.
call(Mod, Fun, Args) when is_atom(Fun); is_binary(Fun) ->
    call({Mod, Fun}, Args, [], #{});
call(Mod, Fun, Args) when is_list(Fun), is_list(Args) ->
    case names_given_as_strings(Mod, Fun, Args) of
        true -> call({Mod, Fun}, Args, [], #{});
        false -> call(Mod, Fun, Args, #{})
    end;
call(Target, Args, Kwargs) ->
    call(Target, Args, Kwargs, #{}).

%% @doc Calls `{Mod, Fun}', a dotted name or `{Handle, Method}' with options
%% (`timeout', `return', `on'); never raises for a failed call.
%% `py:call({time, sleep}, [1], [], #{timeout => 10})' gives `{error, timeout}'.
-spec call(py_lib:target(), list(), kwargs(), opts()) -> {ok, term()} | {error, term()}.
call(Target, Args, Kwargs, Opts) ->
    case py_job:target(Target, Args, Kwargs) of
        {ok, Job} -> py_exec:run(Job, Opts);
        {error, _} = Error -> Error
    end.

%% @doc Starts a call like call/4 and returns at once, so that it can be awaited
%% later and cancelled meanwhile, from any process. On a context only (not
%% `on => dirty' nor `{node, N}'). The process that started it must await it.
%% `{ok, R} = py:async_call({time, sleep}, [10], [], #{timeout => infinity})'.
-spec async_call(py_lib:target(), list(), kwargs(), opts()) ->
          {ok, py_exec:request()} | {error, term()}.
async_call(Target, Args, Kwargs, Opts) ->
    case py_job:target(Target, Args, Kwargs) of
        {ok, Job} -> py_exec:async(Job, Opts);
        {error, _} = Error -> Error
    end.

%% @doc Waits for a call started by async_call/4: `{ok, Value}', or `{error, Reason}'
%% with `timeout' once its deadline passed and `cancelled' after cancel/1.
%% `{ok, 3} = py:await(element(2, py:async_call({operator, add}, [1, 2], [], #{})))'.
-spec await(py_exec:request()) -> {ok, term()} | {error, term()}.
await(Request) ->
    py_exec:await(Request).

%% @doc Cancels a call started by async_call/4: Python code that runs is
%% interrupted (code blocked inside C runs on until it returns, and its context
%% is busy until then), and await/1 gives `{error, cancelled}'.
%% `ok = py:cancel(R)'.
-spec cancel(py_exec:request()) -> ok.
cancel(Request) ->
    py_exec:cancel(Request).

%% @doc Evaluates an expression, or a block of statements whose value is that
%% of its last expression statement (`undefined' when it ends with another
%% statement). It runs in this process's namespace: what its `exec' and `eval'
%% calls define is there for its next ones, wherever the pool sends them, and
%% no other process sees it. `py:eval(<<"1 + 1">>)' gives `2';
%% `py:eval("import os\nos.sep")' gives `<<"/">>'.
-spec eval(unicode:chardata()) -> term().
eval(Code) ->
    eval(Code, #{}, #{}).

%% @doc Evaluates with names bound for this call only: a binding the code did not
%% assign is gone afterwards. `py:eval("x * 2", #{x => 21})' gives `42'.
-spec eval(unicode:chardata(), #{name() => term()}) -> term().
eval(Code, Bindings) ->
    eval(Code, Bindings, #{}).

%% @doc Evaluates with call options; `#{namespace => Ns}' runs it in the namespace
%% `Ns' (namespace/0) instead of this process's own.
%% `py:eval("[1, 2]", #{}, #{return => handle})' gives a handle to the list.
-spec eval(unicode:chardata(), #{name() => term()}, opts()) -> term().
eval(Code, Bindings, Opts) ->
    direct(py_job:eval(py_lib:code(Code), py_lib:bindings(Bindings)), Opts).

%% @doc Runs statements in this process's namespace (see eval/1).
%% `py:exec("import os")' gives `ok'.
-spec exec(unicode:chardata()) -> ok.
exec(Code) ->
    exec(Code, #{}, #{}).

%% @doc Runs statements with names bound. `py:exec("y = x + 1", #{x => 1})' gives `ok'.
-spec exec(unicode:chardata(), #{name() => term()}) -> ok.
exec(Code, Bindings) ->
    exec(Code, Bindings, #{}).

%% @doc Runs statements with call options.
%% `py:exec("while True: pass", #{}, #{timeout => 100})' raises `error(timeout)'.
-spec exec(unicode:chardata(), #{name() => term()}, opts()) -> ok.
exec(Code, Bindings, Opts) ->
    _ = direct(py_job:exec(py_lib:code(Code), py_lib:bindings(Bindings)), Opts),
    ok.

%% @doc A new namespace: the globals of `eval' and `exec', as a handle, to pass
%% in their options (`#{namespace => Ns}') and share between processes on
%% purpose. Calls that name it run on the context that holds it; a call
%% (`call/4') that names it looks its function up there first. It lives while
%% a copy of the handle does. `Ns = py:namespace(), ok = py:exec("x = 1", #{},
%% #{namespace => Ns}), 1 = py:eval("x", #{}, #{namespace => Ns})'.
-spec namespace() -> handle().
namespace() ->
    namespace(#{}).

%% @doc A new namespace where the options say (`#{on => Pool}').
-spec namespace(opts()) -> handle().
namespace(Opts) ->
    case py_exec:validate_opts(Opts) of
        {ok, #{on := On}} ->
            case py_exec:new_namespace(On) of
                {ok, Ns} -> Ns;
                {error, Reason} -> error(Reason)
            end;
        {error, Reason} ->
            error(Reason)
    end.

%% @doc Imports a module, as a handle. ``py:import('os.path')'' gives a handle.
-spec import(name()) -> term().
import(Mod) ->
    direct(py_job:import(py_lib:name(Mod))).

%% @doc Converts a handle to a term with the registered encoders.
%% `py:value(py:eval("[1]", #{}, #{return => handle}))' gives `[1]'.
-spec value(handle()) -> term().
value(Handle) ->
    direct(py_job:value(Handle)).

%% @doc Copies a buffer-protocol object (bytes, bytearray, memoryview, numpy
%% array) into one binary. `py:to_binary(py:bytes(<<1, 2>>))' gives `<<1, 2>>'.
-spec to_binary(term()) -> binary().
to_binary(Obj) ->
    direct(py_job:to_binary(Obj)).

%% @doc Marks a binary as Python `bytes'. `py:func(builtins, len, [py:bytes(<<1, 2>>)])' gives `2'.
-spec bytes(binary()) -> py_nif:marker().
bytes(Bin) when is_binary(Bin) ->
    py_nif:bytes(Bin).

%% @doc Marks a binary as a read-only `memoryview' over it (no copy).
%% ``py:func('numpy.frombuffer', [py:buffer(Bin)], #{dtype => <<"uint8">>})'' gives a handle.
-spec buffer(binary()) -> py_nif:marker().
buffer(Bin) when is_binary(Bin) ->
    py_nif:buffer(Bin).

%% @doc A numpy array's shape, dtype (numpy's `dtype.str') and memory. `data'
%% is not a copy when the array is C-contiguous: the binary points into the
%% array, keeps it alive, and shows what Python writes to the array later
%% (`binary:copy/1' when that matters). Any other layout is copied once, in C
%% order. An object with the buffer protocol that is not an array (bytes,
%% `array.array', a `py:buffer/1') is read through `numpy.asarray(memoryview(Obj))'.
%% Raises `TypeError' for anything else and for dtypes whose items are not data
%% (object, structured), `ModuleNotFoundError' without numpy.
%% ``py:array(py:func(numpy, arange, [3], #{dtype => int32}))'' gives
%% `#{shape => [3], dtype => <<"<i4">>, data => <<0:32/little, 1:32/little, 2:32/little>>}'.
-spec array(term()) -> array().
array(Obj) ->
    direct(py_job:array(Obj)).

%% @doc `ndarray(Array, #{})'. A read-only numpy array over the binary, no copy.
%% `py:ndarray(#{shape => [2], dtype => <<"<f8">>, data => <<1.0:64/float-little, 2.0:64/float-little>>})'
%% gives a handle to `array([1., 2.])'.
-spec ndarray(array()) -> handle().
ndarray(Array) ->
    ndarray(Array, #{}).

%% @doc A numpy array (a handle) over `data' with `shape' and `dtype' (a binary
%% numpy knows, or an atom such as `float64'): read-only and sharing the
%% binary's memory, or with `#{writable => true}' a writable copy. Other keys
%% of the map are ignored. A missing or wrong field raises
%% `{bad_array, Key, Why}' (`data' when its size is not what shape and dtype
%% need); a bad option `{bad_option, Key}'.
%% `py:ndarray(py:array(A), #{writable => true})' gives a writable copy of `A'.
-spec ndarray(array(), #{writable => boolean()}) -> handle().
ndarray(Array, Opts) when is_map(Array), is_map(Opts) ->
    Writable = case maps:to_list(Opts) of
                   [] -> false;
                   [{writable, W}] when is_boolean(W) -> W;
                   [{Key, _} | _] -> error({bad_option, Key})
               end,
    Shape = array_field(shape, Array),
    DType = array_field(dtype, Array),
    Data = array_field(data, Array),
    direct(py_job:ndarray(Data, Shape, DType, Writable), #{return => handle}).

%% One field of py:ndarray's map, checked; the NIF checks what needs numpy.
array_field(Key, Array) ->
    case {Key, maps:find(Key, Array)} of
        {_, error} ->
            error({bad_array, Key, <<"missing">>});
        {shape, {ok, Shape}} when is_list(Shape) ->
            case lists:all(fun(D) -> is_integer(D) andalso D >= 0 end, Shape) of
                true -> Shape;
                false -> error({bad_array, shape, <<"not a list of non-negative integers">>})
            end;
        {dtype, {ok, DType}} when is_binary(DType) -> DType;
        {dtype, {ok, DType}} when is_atom(DType) -> atom_to_binary(DType, utf8);
        {data, {ok, Data}} when is_binary(Data) -> Data;
        {shape, _} -> error({bad_array, shape, <<"not a list of non-negative integers">>});
        {dtype, _} -> error({bad_array, dtype, <<"not a binary nor an atom">>});
        {data, _} -> error({bad_array, data, <<"not a binary">>})
    end.

%%% Pools

%% @doc Starts a named pool of contexts: `#{size => pos_integer(),
%% strategy => round_robin | least_busy}'. A pool of size 1 is one context
%% with its own globals, for state that must stay together. `kind => worker'
%% starts workers (OS processes; docs/workers.md); `node => Node' starts the
%% pool on another node (py started there if needed; docs/cluster.md). A pool
%% is reached by its name from any node of the cluster.
%% `py:start_pool(mine, #{size => 1})' gives `{ok, Pid}'; then `#{on => mine}'.
-spec start_pool(atom(), map()) -> {ok, pid()} | {error, term()}.
start_pool(Name, #{node := Node} = Opts) when Node =/= node() ->
    case is_atom(Node) of
        true -> py_cluster:start_pool(Node, Name, maps:remove(node, Opts));
        false -> {error, {bad_option, node}}
    end;
start_pool(Name, Opts) when is_map(Opts) ->
    py_sup:start_pool(Name, maps:remove(node, Opts));
start_pool(Name, Opts) ->
    py_sup:start_pool(Name, Opts).

%% @doc Every pool of the cluster (this node's and those of the connected nodes
%% that run py): name, node, kind and size.
%% `py:pools()' gives `[#{name => default, node => nonode@nohost, kind => context, size => 2}]'.
-spec pools() -> [#{name := atom(), node := node(), kind := context | worker,
                    size := pos_integer()}].
pools() ->
    py_cluster:pools().

%% @doc The same call on every server of a pool (LFE py's identical calls: to
%% import a module or set a seed everywhere): `[{{Node, Pool, N}, Result}]'.
%% Options as map/3.
%% `py:broadcast({random, seed}, [42], #{on => default})' gives `{ok, [{{Node, default, 1}, {ok, undefined}}, ...]}'.
-spec broadcast(term(), list(), map()) ->
          {ok, [{py_cluster:server(), {ok, term()} | {error, py_error:reason()}}]}
          | {error, py_error:reason()}.
broadcast(Target, Args, Opts) ->
    py_cluster:broadcast(Target, Args, Opts).

%% @doc Runs `Fun' with every py call in it that names no `on' going to `On'
%% (uarray's `set_backend'): a pool, `{Pool, N}', `dirty' or a node. Blocks
%% nest, the inner wins; callbacks from Python run without it.
%% `py:with_target(workers, fun() -> py:func(math, sqrt, [2]) end)'.
-spec with_target(py_exec:on(), fun(() -> Result)) -> Result.
with_target(On, Fun) ->
    py_exec:with_defaults(#{on => On}, Fun).

%% @doc A handle as a term that can travel to any node (in a message, say),
%% where handle/1 makes it a handle again, for a minute. A handle sent as it
%% is arrives as a plain reference: OTP does not send resources between nodes.
%% `{ok, P} = py:export(H)', then on another node `{ok, H2} = py:handle(P)'.
-spec export(reference()) -> {ok, py_import:portable()} | {error, {not_a_handle, term()}}.
export(Handle) ->
    py_import:portable(Handle).

%% @doc The handle of a term made by export/1, on this node: a proxy handle
%% of the object on the node that exported it.
-spec handle(py_import:portable()) -> {ok, reference()} | {error, py_error:reason()}.
handle(Portable) ->
    py_import:from_portable(Portable).

%% @doc The state of a pool: its size and strategy, how many contexts are busy
%% and how many jobs wait, how many contexts were replaced after dying, the
%% handles alive in the VM, and per context whether it is busy and how long its
%% current job has run (`running_ms'). `gil => #{stuck_ms => N}' says that no
%% thread has been able to take the GIL for N ms (C code that holds it, such as
%% a catastrophic regex): every in-VM Python then waits, and the context whose
%% `running_ms' is about as long is the one running it. `undefined' when the
%% GIL changes hands normally.
%% A pool of workers has `workers' instead of `contexts' and `gil'; its
%% `handles' are the objects its workers keep for proxy handles.
%% `py:pool_info(default)' gives `#{kind => context, size => 2, busy => 0, ...}'.
-spec pool_info(atom()) -> pool_info() | {error, {no_pool, atom()}}.
pool_info(Name) ->
    case py_pool:lookup(Name) of
        undefined ->
            {error, {no_pool, Name}};
        {py_workers, _, _, _, _, _} = Workers ->
            py_worker_pool:info(Workers);
        Pool ->
            #{contexts := Contexts} = Info = py_nif:pool_info(Pool),
            Live = [C || #{} = C <- Contexts],
            Info#{kind => context,
                  busy => length([C || #{busy := true} = C <- Live]),
                  queued => lists:sum([Q || #{queued := Q} <- Live]),
                  handles => py_nif:handle_count()}
    end.

%% @doc Stops a named pool. `py:stop_pool(mine)' gives `ok'.
-spec stop_pool(atom()) -> ok | {error, not_found}.
stop_pool(Name) ->
    py_sup:stop_pool(Name).

%% @doc Stops the pool `Name' of another node. `py:stop_pool(mine, Node)' gives `ok'.
-spec stop_pool(atom(), node()) -> ok | {error, term()}.
stop_pool(Name, Node) when Node =:= node() ->
    stop_pool(Name);
stop_pool(Name, Node) ->
    py_cluster:stop_pool(Node, Name).

%% @doc Sets the default timeout of calls that give none (the application
%% env's `call_timeout' is read when `py' starts). In ms or `infinity'.
%% `py:set_call_timeout(10000)' gives `ok'.
-spec set_call_timeout(timeout()) -> ok | {error, {bad_option, timeout}}.
set_call_timeout(Timeout) ->
    py_exec:set_default_timeout(Timeout).

%%% Errors as text

%% @doc A reason `py' gave, as text for a person: a Python exception's type,
%% message and traceback lines, or a sentence (see `py_error').
%% `py:format_error({python, <<"builtins.KeyError">>, <<"'a'">>, []})' gives
%% `<<"builtins.KeyError: 'a'">>'.
-spec format_error(term()) -> binary().
format_error(Reason) ->
    case py_error:is_reason(Reason) of
        true -> py_error:format(Reason);
        false -> unicode:characters_to_binary(io_lib:format("~0tp", [Reason]))
    end.

%% @doc The `error_info' callback (OTP 24+): the shell prints an error raised by
%% a function of `py' with this text, the Python traceback as lines, instead of
%% a term cut with `...'.
-spec format_error(term(), erlang:stacktrace()) -> #{general => string(), reason => string()}.
format_error(Reason, _StackTrace) ->
    #{reason => unicode:characters_to_list(format_error(Reason))}.

%%% Internals

run_call(Name, Args, Kwargs) ->
    direct(py_job:call(Name, Args, Kwargs)).

builtin(Name, Args) ->
    run_call(py_lib:builtin(Name), Args, []).

builtin(Name, Args, Kwargs) ->
    run_call(py_lib:builtin(Name), Args, Kwargs).

builtin_handle(Name, Args) ->
    direct(py_job:call(py_lib:builtin(Name), Args, []), #{return => handle}).

%% The items of the iterator a builtin returns, as a list: made as a handle,
%% then listed where it lives.
items(Name, Args) ->
    builtin(list, [builtin_handle(Name, Args)]).

%% A class for isinstance/issubclass: a (dotted) name is resolved, a name
%% without a dot being a builtin; anything else is the class itself.
class(Class) when is_atom(Class); is_binary(Class) ->
    direct(py_job:const(py_lib:class_name(Class)), #{return => handle});
class(Class) ->
    Class.

op(Name, Args) ->
    run_call(py_lib:operator(Name), Args, []).

direct(Job) ->
    direct(Job, #{}).

direct(Job, Opts) ->
    case py_exec:run(Job, Opts) of
        {ok, Value} ->
            Value;
        {error, Reason} ->
            %% error_info: the shell asks format_error/2 how to print it.
            erlang:error(Reason, none, [{error_info, #{module => ?MODULE}}])
    end.

%% The builtins and operators, as LFE py keeps them in include files of their own.
-include("py_builtins.hrl").
