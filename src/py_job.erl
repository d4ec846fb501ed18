%% @doc The job term: the one module that builds it, and the one place on the
%% Erlang side that reads its positions. The NIF decodes it once into a typed
%% value (`base::job' in native/py_nif); docs/internals.md ("Jobs") is the
%% contract between the two. Adding a kind of job means a builder here and a
%% variant there.
-module(py_job).

-export([call/3, const/1, method/4, getattr/2, call_obj/3, eval/2, exec/2,
         import/1, value/1, to_binary/1, array/1, ndarray/4, namespace/0, target/3,
         object/1, in_namespace/2, uses_namespace/1, check/1, args/1]).

-export_type([job/0, dotted/0, namespace/0]).

%% Where eval/exec run: a namespace handle, or `undefined' for a fresh one.
-type namespace() :: py_nif:handle() | undefined.

%% A dotted name: one binary (or atom), or `{Owner, Attr}', read as "Owner.Attr".
-type dotted() :: py_lib:name() | {py_lib:name(), py_lib:name()}.
-type job() :: {call, Name :: dotted(), Args :: list(), py_nif:kwargs()}
             | {const, Name :: dotted()}
             | {method, Obj :: term(), Name :: binary(), Args :: list(), py_nif:kwargs()}
             | {getattr, Obj :: term(), Name :: binary()}
             | {call_obj, Obj :: term(), Args :: list(), py_nif:kwargs()}
             | {call_in, Namespace :: py_nif:handle(), Name :: dotted(), Args :: list(),
                py_nif:kwargs()}
             | {eval, Code :: binary(), Bindings :: map(), Namespace :: namespace()}
             | {exec, Code :: binary(), Bindings :: map(), Namespace :: namespace()}
             | {namespace}
             | {import, Name :: binary()}
             | {value, py_nif:handle()}
             | {to_binary, Obj :: term()}
             | {array, Obj :: term()}
             | {ndarray, Data :: binary(), Shape :: [non_neg_integer()], DType :: binary(),
                Writable :: boolean()}.

%% @doc `Name(*Args, **Kwargs)'. `call({math, pow}, [2, 3], [])'. Keyword
%% names may be charlists (LFE strings) here: they become binaries (see
%% py_lib:string_keys/1), as in every builder below.
-spec call(dotted(), list(), py_nif:kwargs()) -> job().
call(Name, Args, Kwargs) -> {call, Name, Args, py_lib:string_keys(Kwargs)}.

%% @doc The value a dotted name resolves to. `const(<<"math.pi">>)'.
-spec const(dotted()) -> job().
const(Name) -> {const, Name}.

%% @doc `Obj.Name(*Args, **Kwargs)'.
-spec method(term(), binary(), list(), py_nif:kwargs()) -> job().
method(Obj, Name, Args, Kwargs) -> {method, Obj, Name, Args, py_lib:string_keys(Kwargs)}.

%% @doc `Obj.Name'.
-spec getattr(term(), binary()) -> job().
getattr(Obj, Name) -> {getattr, Obj, Name}.

%% @doc `Obj(*Args, **Kwargs)', for a callable object (a handle, usually).
-spec call_obj(term(), list(), py_nif:kwargs()) -> job().
call_obj(Obj, Args, Kwargs) -> {call_obj, Obj, Args, py_lib:string_keys(Kwargs)}.

%% @doc A block evaluated, its last expression's value the result, with
%% `Bindings' set for the call; in a fresh namespace until in_namespace/2.
-spec eval(binary(), map()) -> job().
eval(Code, Bindings) -> {eval, Code, Bindings, undefined}.

%% @doc Statements executed with `Bindings' set for the call.
-spec exec(binary(), map()) -> job().
exec(Code, Bindings) -> {exec, Code, Bindings, undefined}.

%% @doc A new namespace (the globals of eval/exec), always as a handle.
-spec namespace() -> job().
namespace() -> {namespace}.

%% @doc The job run in namespace `Ns': eval and exec run there, and a call's
%% name is looked up there first. Other jobs are left as they are.
%% `in_namespace(eval(<<"x">>, #{}), Ns)' gives `{eval, <<"x">>, #{}, Ns}'.
-spec in_namespace(job(), py_nif:handle()) -> job().
in_namespace({eval, Code, Bindings, _}, Ns) -> {eval, Code, Bindings, Ns};
in_namespace({exec, Code, Bindings, _}, Ns) -> {exec, Code, Bindings, Ns};
in_namespace({call, Name, Args, Kwargs}, Ns) -> {call_in, Ns, Name, Args, Kwargs};
in_namespace({call_in, _, Name, Args, Kwargs}, Ns) -> {call_in, Ns, Name, Args, Kwargs};
in_namespace(Job, _Ns) -> Job.

%% @doc Whether the job runs source code and names no namespace yet (it then
%% gets the calling process's own).
-spec uses_namespace(job()) -> boolean().
uses_namespace({eval, _, _, undefined}) -> true;
uses_namespace({exec, _, _, undefined}) -> true;
uses_namespace(_) -> false.

%% @doc A module, imported.
-spec import(binary()) -> job().
import(Name) -> {import, Name}.

%% @doc The object behind a handle, converted to data if it can be.
-spec value(term()) -> job().
value(Handle) -> {value, Handle}.

%% @doc A copy of a buffer-protocol object as a binary.
-spec to_binary(term()) -> job().
to_binary(Obj) -> {to_binary, Obj}.

%% @doc An array's shape, dtype and memory (`py:array/1').
%% `array(H)' gives `{array, H}'.
-spec array(term()) -> job().
array(Obj) -> {array, Obj}.

%% @doc A numpy array over a binary, read-only, or a writable copy (`py:ndarray/2').
%% `ndarray(<<0:64>>, [1], <<"<f8">>, false)' gives `{ndarray, <<0:64>>, [1], <<"<f8">>, false}'.
-spec ndarray(binary(), [non_neg_integer()], binary(), boolean()) -> job().
ndarray(Data, Shape, DType, Writable) -> {ndarray, Data, Shape, DType, Writable}.

%% @doc The job for `py:call/4'. A tuple whose first element is a name is
%% `{Module, Function}'; any other first element is an object with a method.
%% `target({math, pow}, [2, 3], [])' gives `{ok, {call, {math, pow}, [2, 3], []}}'.
-spec target(term(), list(), py_nif:kwargs()) -> {ok, job()} | {error, {bad_target, term()}}.
target(Target, Args, Kwargs) ->
    try
        {ok, target_job(Target, Args, Kwargs)}
    catch
        error:{bad_name, _} -> {error, {bad_target, Target}}
    end.

target_job({Mod, Fun}, Args, Kwargs) when is_atom(Mod); is_binary(Mod) ->
    call(py_lib:dotted(Mod, Fun), Args, Kwargs);
target_job({Mod, Fun}, Args, Kwargs) when is_list(Mod) ->
    %% A module named by a string; any other list is data with a method.
    case py_lib:is_text(Mod) of
        true -> call(py_lib:dotted(Mod, Fun), Args, Kwargs);
        false -> method(Mod, py_lib:name(Fun), Args, Kwargs)
    end;
target_job({Obj, Method}, Args, Kwargs) ->
    %% A module named by a string ("math") is a name; any other list is data
    %% with a method, like any other object.
    case py_lib:is_text(Obj) of
        true -> call(py_lib:dotted(Obj, Method), Args, Kwargs);
        false -> method(Obj, py_lib:name(Method), Args, Kwargs)
    end;
target_job(Dotted, Args, Kwargs) ->
    call(py_lib:name(Dotted), Args, Kwargs).

%% @doc `ok', or why the job cannot run: `{bad_args, Args}' for an argument
%% list that is not a list (`py:func(math, pow, 2, 16)').
-spec check(job()) -> ok | {error, {bad_args, term()}}.
check({call, _, Args, _}) when not is_list(Args) -> {error, {bad_args, Args}};
check({call_in, _, _, Args, _}) when not is_list(Args) -> {error, {bad_args, Args}};
check({method, _, _, Args, _}) when not is_list(Args) -> {error, {bad_args, Args}};
check({call_obj, _, Args, _}) when not is_list(Args) -> {error, {bad_args, Args}};
check(_) -> ok.

%% @doc The argument list of a job that calls something, or `[]'.
-spec args(job()) -> list().
args({call, _, Args, _}) when is_list(Args) -> Args;
args({call_in, _, _, Args, _}) when is_list(Args) -> Args;
args({method, _, _, Args, _}) when is_list(Args) -> Args;
args({call_obj, _, Args, _}) when is_list(Args) -> Args;
args(_) -> [].

%% @doc The object a job works on (a handle, usually), or `undefined'.
%% `object({getattr, H, <<"x">>})' gives `H'.
-spec object(job()) -> term().
object({method, Obj, _, _, _}) -> Obj;
object({getattr, Obj, _}) -> Obj;
object({call_obj, Obj, _, _}) -> Obj;
object({value, Obj}) -> Obj;
object({to_binary, Obj}) -> Obj;
object({array, Obj}) -> Obj;
object({call_in, Ns, _, _, _}) -> Ns;
object({eval, _, _, Ns}) when Ns =/= undefined -> Ns;
object({exec, _, _, Ns}) when Ns =/= undefined -> Ns;
object(_) -> undefined.
