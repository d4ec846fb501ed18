%% The builtins and operators of `py' (LFE py's include/builtins.lfe and
%% include/operators.lfe, under the same names and arities), included by py.erl
%% only: they are functions of the module `py', kept in a file of their own so
%% that py.erl stays readable. Each calls `builtins.<name>' or
%% `operator.<name>' and raises what Python raises; docs/lfe.md lists them,
%% with what is left out and why.
%%
%% What comes back: data as docs/types.md says, anything else a handle. Where
%% Python returns an iterator (map, filter, zip, enumerate, reversed) the
%% function returns the list of its items: from Erlang the items are what is
%% wanted, and a lazy iterator is still at hand through `iter/1,2' (always a
%% handle) or `call/4' with `#{return => handle}'.

%%% Builtins

%% @doc Python's `abs(X)' (also `operator.abs'). `py:abs(-3)' gives `3'.
-spec abs(term()) -> term().
abs(X) -> builtin(abs, [X]).

%% @doc Python's `all(X)'. `py:all([0, 1])' gives `false'.
-spec all(term()) -> boolean().
all(X) -> builtin(all, [X]).

%% @doc Python's `any(X)'. `py:any([0, 1])' gives `true'.
-spec any(term()) -> boolean().
any(X) -> builtin(any, [X]).

%% @doc Python's `ascii(X)'. `py:ascii(<<"é"/utf8>>)' gives ``<<"'\\xe9'">>''.
-spec ascii(term()) -> binary().
ascii(X) -> builtin(ascii, [X]).

%% @doc Python's `bin(X)'. `py:bin(10)' gives `<<"0b1010">>'.
-spec bin(term()) -> binary().
bin(X) -> builtin(bin, [X]).

%% @doc Python's `bool()'. `py:bool()' gives `false'.
-spec bool() -> false.
bool() -> builtin(bool, []).

%% @doc Python's `bool(X)'. `py:bool([])' gives `false'.
-spec bool(term()) -> boolean().
bool(X) -> builtin(bool, [X]).

%% @doc Python's `bytearray()', an empty binary. `py:bytearray()' gives `<<>>'.
-spec bytearray() -> binary().
bytearray() -> builtin(bytearray, []).

%% @doc Python's `bytearray(X)' (a size, a list of bytes, `py:bytes/1'), a binary.
%% `py:bytearray([104, 105])' gives `<<"hi">>'.
-spec bytearray(term()) -> binary().
bytearray(X) -> builtin(bytearray, [X]).

%% @doc Python's `bytearray(Str, Encoding)', a binary.
%% `py:bytearray(<<"é"/utf8>>, <<"latin-1">>)' gives `<<233>>'.
-spec bytearray(term(), binary()) -> binary().
bytearray(X, Encoding) -> builtin(bytearray, [X, Encoding]).

%% @doc Python's `bytearray(Str, Encoding, Errors)', a binary.
%% `py:bytearray(<<"é"/utf8>>, <<"ascii">>, <<"replace">>)' gives `<<"?">>'.
-spec bytearray(term(), binary(), binary()) -> binary().
bytearray(X, Encoding, Errors) -> builtin(bytearray, [X, Encoding, Errors]).

%% @doc Python's `bytes()', an empty binary. `py:bytes()' gives `<<>>'.
%% (`py:bytes/1' is not `bytes(X)': it marks a binary to reach Python as bytes.)
-spec bytes() -> binary().
bytes() -> builtin(bytes, []).

%% @doc Python's `bytes(Str, Encoding)', a binary.
%% `py:bytes(<<"é"/utf8>>, <<"utf-16-le">>)' gives `<<233, 0>>'.
-spec bytes(term(), binary()) -> binary().
bytes(X, Encoding) -> builtin(bytes, [X, Encoding]).

%% @doc Python's `bytes(Str, Encoding, Errors)', a binary.
%% `py:bytes(<<"é"/utf8>>, <<"ascii">>, <<"ignore">>)' gives `<<>>'.
-spec bytes(term(), binary(), binary()) -> binary().
bytes(X, Encoding, Errors) -> builtin(bytes, [X, Encoding, Errors]).

%% @doc Python's `callable(X)'. `py:callable(py:const(math, sqrt))' gives `true'.
-spec callable(term()) -> boolean().
callable(X) -> builtin(callable, [X]).

%% @doc Python's `chr(I)'. `py:chr(955)' gives `<<"λ"/utf8>>'.
-spec chr(integer()) -> binary().
chr(I) -> builtin(chr, [I]).

%% @doc Python's `compile(Source, Filename, Mode)', a code object (a handle).
%% ``py:func(builtins, eval, [py:compile(<<"6 * 7">>, <<"<erl>">>, <<"eval">>)])'' gives `42'.
-spec compile(term(), term(), binary()) -> handle().
compile(Source, Filename, Mode) -> builtin(compile, [Source, Filename, Mode]).

%% @doc Python's `compile(Source, Filename, Mode, **Kwargs)'.
%% `py:compile(<<"x = 1">>, <<"<erl>">>, <<"exec">>, #{dont_inherit => true})' gives a handle.
-spec compile(term(), term(), binary(), kwargs()) -> handle().
compile(Source, Filename, Mode, Kwargs) ->
    builtin(compile, [Source, Filename, Mode], Kwargs).

%% @doc Python's `complex()' (a handle: complex numbers are not data).
%% `py:repr(py:complex())' gives `<<"0j">>'.
-spec complex() -> handle().
complex() -> builtin(complex, []).

%% @doc Python's `complex(X)'. `py:attr(py:complex(<<"1+2j">>), imag)' gives `2.0'.
-spec complex(term()) -> handle().
complex(X) -> builtin(complex, [X]).

%% @doc Python's `complex(Real, Imag)'. `py:repr(py:complex(1, 2))' gives `<<"(1+2j)">>'.
-spec complex(term(), term()) -> handle().
complex(Real, Imag) -> builtin(complex, [Real, Imag]).

%% @doc An empty dict. `py:dict()' gives `#{}'.
-spec dict() -> map().
dict() -> builtin(dict, []).

%% @doc Python's `dict(X)': a map, or pairs whose charlist keys (LFE strings)
%% become `str' (as LFE py's keyword dict did); atom keys stay atoms.
%% `py:dict([{"a", 1}, {b, 2}])' gives `#{<<"a">> => 1, b => 2}'.
-spec dict(term()) -> map().
dict(X) when is_list(X) -> builtin(dict, [py_lib:string_keys(X)]);
dict(X) -> builtin(dict, [X]).

%% @doc Python's `dir(X)', at most 28 names then `{more, N}'.
%% `lists:last(py:dir(py:import(os)))' gives `{more, N}'.
-spec dir(term()) -> [binary() | {more, pos_integer()}].
dir(X) -> py_lib:elide_list(pdir(X)).

%% @doc Python's `dir(X)', every name. `length(py:pdir(py:import(os)))' gives N > 28.
-spec pdir(term()) -> [binary()].
pdir(X) -> builtin(dir, [X]).

%% @doc Python's `divmod(A, B)'. `py:divmod(-7, 2)' gives `{-4, 1}'.
-spec divmod(term(), term()) -> {term(), term()}.
divmod(A, B) -> builtin(divmod, [A, B]).

%% @doc Python's `enumerate(X)', as a list. `py:enumerate([a, b])' gives `[{0, a}, {1, b}]'.
-spec enumerate(term()) -> [{integer(), term()}].
enumerate(X) -> items(enumerate, [X]).

%% @doc Python's `enumerate(X, Start)', as a list.
%% `py:enumerate([a, b], 1)' gives `[{1, a}, {2, b}]'.
-spec enumerate(term(), integer()) -> [{integer(), term()}].
enumerate(X, Start) -> items(enumerate, [X, Start]).

%% @doc Python's `filter(Fun, X)', as a list; `Fun' is a Python callable (a
%% handle), an Erlang fun (called back for each item) or `undefined' (None:
%% keeps the true items).
%% `py:filter(undefined, [0, 1, <<>>, <<"a">>])' gives `[1, <<"a">>]'.
-spec filter(term(), term()) -> list().
filter(Fun, X) -> items(filter, [Fun, X]).

%% @doc Python's `float()'. `py:float()' gives `0.0'.
-spec float() -> float().
float() -> builtin(float, []).

%% @doc Python's `float(X)'. `py:float(<<"1.5">>)' gives `1.5'.
-spec float(term()) -> term().
float(X) -> builtin(float, [X]).

%% @doc Python's `format(X)'. `py:format(1.5)' gives `<<"1.5">>'.
-spec format(term()) -> binary().
format(X) -> builtin(format, [X]).

%% @doc Python's `format(X, Spec)'. `py:format(3.14159, <<".2f">>)' gives `<<"3.14">>'.
-spec format(term(), binary()) -> binary().
format(X, Spec) -> builtin(format, [X, Spec]).

%% @doc Python's `frozenset()' (a list comes back). `py:frozenset()' gives `[]'.
-spec frozenset() -> [].
frozenset() -> builtin(frozenset, []).

%% @doc Python's `frozenset(X)' (a list comes back, in no particular order).
%% `py:frozenset([1, 1])' gives `[1]'.
-spec frozenset(term()) -> list().
frozenset(X) -> builtin(frozenset, [X]).

%% @doc Python's `getattr(Obj, Name)'. `py:getattr(1, real)' gives `1'.
-spec getattr(term(), name()) -> term().
getattr(Obj, Name) -> builtin(getattr, [Obj, Name]).

%% @doc Python's `getattr(Obj, Name, Default)'. `py:getattr(1, nope, 0)' gives `0'.
-spec getattr(term(), name(), term()) -> term().
getattr(Obj, Name, Default) -> builtin(getattr, [Obj, Name, Default]).

%% @doc Python's `hasattr(Obj, Name)'. `py:hasattr(1, real)' gives `true'.
-spec hasattr(term(), name()) -> boolean().
hasattr(Obj, Name) -> builtin(hasattr, [Obj, Name]).

%% @doc Python's `hash(X)'. `py:hash(1)' gives `1'.
-spec hash(term()) -> integer().
hash(X) -> builtin(hash, [X]).

%% @doc Python's `help(X)': the text goes to the caller's group leader (the
%% shell); `undefined' comes back. `py:help(py:import(math))' prints the help on `math'.
-spec help(term()) -> undefined.
help(X) -> builtin(help, [X]).

%% @doc Python's `hex(X)'. `py:hex(255)' gives `<<"0xff">>'.
-spec hex(term()) -> binary().
hex(X) -> builtin(hex, [X]).

%% @doc Python's `id(X)'. `is_integer(py:id(Handle))' is `true'.
-spec id(term()) -> integer().
id(X) -> builtin(id, [X]).

%% @doc Python's `int(X)'. `py:int(<<"42">>)' gives `42'.
-spec int(term()) -> term().
int(X) -> builtin(int, [X]).

%% @doc Python's `int(X, Base)', or `int(X, **Kwargs)' with keyword arguments
%% (a proplist or a map) as in LFE py. `py:int(<<"ff">>, 16)' gives `255',
%% `py:int(<<"101010">>, [{base, 2}])' gives `42'.
-spec int(term(), integer() | kwargs()) -> term().
int(X, Kwargs) when is_list(Kwargs); is_map(Kwargs) -> builtin(int, [X], Kwargs);
int(X, Base) -> builtin(int, [X, Base]).

%% @doc Python's `isinstance(Obj, Class)'; `Class' is a handle or a (dotted)
%% name, a name without a dot being a builtin. `py:isinstance(1, int)' gives `true'.
-spec isinstance(term(), term()) -> boolean().
isinstance(Obj, Class) -> builtin(isinstance, [Obj, class(Class)]).

%% @doc Python's `issubclass(Class, Base)'; both are handles or names as in
%% isinstance/2. `py:issubclass(bool, int)' gives `true'.
-spec issubclass(term(), term()) -> boolean().
issubclass(Class, Base) -> builtin(issubclass, [class(Class), class(Base)]).

%% @doc Python's `iter(X)', always a handle (for next/1,2).
%% `py:next(py:iter([1, 2]))' gives `1'.
-spec iter(term()) -> handle().
iter(X) -> builtin_handle(iter, [X]).

%% @doc Python's `iter(Callable, Sentinel)', always a handle: calls `Callable'
%% until it returns `Sentinel'. With `Next = py:attr(py:iter([1, 2, 0, 3]), '__next__')',
%% `py:pylist(py:iter(Next, 0))' gives `[1, 2]'.
-spec iter(term(), term()) -> handle().
iter(Callable, Sentinel) -> builtin_handle(iter, [Callable, Sentinel]).

%% @doc Python's `len(X)'. `py:len(py:range(7, 42))' gives `35'.
-spec len(term()) -> non_neg_integer().
len(X) -> builtin(len, [X]).

%% @doc Python's `map(Fun, X)', as a list; `Fun' is a Python callable (a handle)
%% or an Erlang fun (called back for each item).
%% `py:map(py:const(builtins, abs), [-1, 2])' gives `[1, 2]',
%% `py:map(fun(X) -> X * 2 end, [1, 2])' gives `[2, 4]'.
-spec map(term(), term()) -> list().
map(Fun, X) -> items(map, [Fun, X]).

%% @doc Python's `map(Fun, X, Y)', as a list; or, when the third argument is an
%% option map with `on', py's parallel map: one call of `Target' per element of
%% `ListOfArgs' (each an argument list), spread over the servers (contexts or
%% workers) of pool `on', with `scope => cluster' over every pool of that name
%% in the cluster; the results in order, `{ok, Value}' or `{error, Reason}'
%% each. Options: `on' (required), `scope' (`local' by default), `timeout' (per
%% call), `total_timeout' (the whole: shards not done by then are
%% `{error, timeout}'), `retry' (shards whose server died are run again
%% elsewhere, at most N times in all: only for idempotent calls), `in_flight'
%% (calls per server at a time, 8), `return', `none'.
%% `py:map(py:const(operator, add), [1, 2], [10, 20])' gives `[11, 22]';
%% `py:map({math, sqrt}, [[1], [4]], #{on => default})' gives `{ok, [{ok, 1.0}, {ok, 2.0}]}'.
-spec map(term(), term(), term()) -> list() | {ok, [{ok, term()} | {error, term()}]}
                                     | {error, py_error:reason()}.
map(Target, ListOfArgs, #{on := _} = Opts) -> py_cluster:map(Target, ListOfArgs, Opts);
map(Fun, X, Y) -> items(map, [Fun, X, Y]).

%% @doc Python's `max(Iterable)'. `py:max([3, 1, 2])' gives `3'.
-spec max(term()) -> term().
max(X) -> builtin(max, [X]).

%% @doc Python's `max(A, B)'. `py:max(1, 2)' gives `2'.
-spec max(term(), term()) -> term().
max(A, B) -> builtin(max, [A, B]).

%% @doc Python's `max(A, B, C)'. `py:max(1, 3, 2)' gives `3'.
-spec max(term(), term(), term()) -> term().
max(A, B, C) -> builtin(max, [A, B, C]).

%% @doc Python's `max(A, B, C, D)'. `py:max(1, 4, 3, 2)' gives `4'.
-spec max(term(), term(), term(), term()) -> term().
max(A, B, C, D) -> builtin(max, [A, B, C, D]).

%% @doc Python's `memoryview(X)' (a handle). `py:len(py:memoryview(py:bytes(<<1, 2>>)))' gives `2'.
-spec memoryview(term()) -> handle().
memoryview(X) -> builtin(memoryview, [X]).

%% @doc Python's `min(Iterable)'. `py:min([3, 1, 2])' gives `1'.
-spec min(term()) -> term().
min(X) -> builtin(min, [X]).

%% @doc Python's `min(A, B)'. `py:min(1, 2)' gives `1'.
-spec min(term(), term()) -> term().
min(A, B) -> builtin(min, [A, B]).

%% @doc Python's `min(A, B, C)'. `py:min(3, 1, 2)' gives `1'.
-spec min(term(), term(), term()) -> term().
min(A, B, C) -> builtin(min, [A, B, C]).

%% @doc Python's `min(A, B, C, D)'. `py:min(4, 1, 3, 2)' gives `1'.
-spec min(term(), term(), term(), term()) -> term().
min(A, B, C, D) -> builtin(min, [A, B, C, D]).

%% @doc Python's `next(Iterator)'; raises `StopIteration' at the end.
%% `py:next(py:iter([1, 2]))' gives `1'.
-spec next(term()) -> term().
next(Iterator) -> builtin(next, [Iterator]).

%% @doc Python's `next(Iterator, Default)'. `py:next(py:iter([]), done)' gives `done'.
-spec next(term(), term()) -> term().
next(Iterator, Default) -> builtin(next, [Iterator, Default]).

%% @doc Python's `object()', a handle. `py:repr(py:type(py:object()))' gives ``<<"<class 'object'>">>''.
-spec object() -> handle().
object() -> builtin(object, []).

%% @doc Python's `oct(X)'. `py:oct(8)' gives `<<"0o10">>'.
-spec oct(term()) -> binary().
oct(X) -> builtin(oct, [X]).

%% @doc Python's `open(File)', a file object (a handle; closed when the handle
%% is garbage-collected, or by its `close' method).
%% `py:method(py:open(<<"/etc/hostname">>), read)' gives the host name.
-spec open(term()) -> handle().
open(File) -> builtin(open, [File]).

%% @doc Python's `open(File, **Kwargs)'.
%% `py:open(<<"/tmp/x">>, #{mode => <<"w">>, encoding => <<"utf-8">>})' gives a handle.
-spec open(term(), kwargs()) -> handle().
open(File, Kwargs) -> builtin(open, [File], Kwargs).

%% @doc Python's `ord(Char)'. `py:ord(<<"λ"/utf8>>)' gives `955'.
-spec ord(term()) -> integer().
ord(Char) -> builtin(ord, [Char]).

%% @doc Python's `pow(X, Y)'. `py:pow(6, 42)' gives `481229803398374426442198455156736'.
-spec pow(term(), term()) -> term().
pow(X, Y) -> builtin(pow, [X, Y]).

%% @doc Python's `pow(X, Y, Mod)'. `py:pow(6, 42, 7)' gives `1'.
-spec pow(term(), term(), term()) -> term().
pow(X, Y, Mod) -> builtin(pow, [X, Y, Mod]).

%% @doc Python's `print(X)': to the caller's group leader. `py:print(<<"hi">>)'
%% prints `hi' and gives `undefined'.
-spec print(term()) -> undefined.
print(X) -> builtin(print, [X]).

%% @doc Python's `print(X, **Kwargs)'. `py:print(<<"hi">>, #{'end' => <<"!\n">>})' prints `hi!'.
-spec print(term(), kwargs()) -> undefined.
print(X, Kwargs) -> builtin(print, [X], Kwargs).

%% @doc Python's `property(**Kwargs)' (a handle), for type/3.
%% `py:property(#{doc => <<"d">>})' gives a handle.
-spec property(kwargs()) -> handle().
property(Kwargs) -> builtin(property, [], Kwargs).

%% @doc An empty list. `py:pylist()' gives `[]'.
-spec pylist() -> list().
pylist() -> builtin(list, []).

%% @doc Python's `list(X)'. `py:pylist(py:range(3))' gives `[0, 1, 2]'.
-spec pylist(term()) -> term().
pylist(X) -> builtin(list, [X]).

%% @doc Python's `range(Stop)', as a handle. `py:pylist(py:range(3))' gives `[0, 1, 2]'.
-spec range(integer()) -> handle().
range(Stop) -> builtin_handle(range, [Stop]).

%% @doc Python's `range(Start, Stop)', as a handle. `py:len(py:range(7, 42))' gives `35'.
-spec range(integer(), integer()) -> handle().
range(Start, Stop) -> builtin_handle(range, [Start, Stop]).

%% @doc Python's `range(Start, Stop, Step)', as a handle.
%% `py:pylist(py:range(0, 10, 5))' gives `[0, 5]'.
-spec range(integer(), integer(), integer()) -> handle().
range(Start, Stop, Step) -> builtin_handle(range, [Start, Stop, Step]).

%% @doc Python's `repr(X)'. `py:repr(<<"a">>)' gives ``<<"'a'">>''.
-spec repr(term()) -> binary().
repr(X) -> builtin(repr, [X]).

%% @doc Python's `reversed(X)', as a list. `py:reversed(py:range(3))' gives `[2, 1, 0]'.
-spec reversed(term()) -> list().
reversed(X) -> items(reversed, [X]).

%% @doc Python's `round(X)'. `py:round(2.5)' gives `2'.
-spec round(term()) -> term().
round(X) -> builtin(round, [X]).

%% @doc Python's `round(X, Digits)'. `py:round(3.14159, 2)' gives `3.14'.
-spec round(term(), integer()) -> term().
round(X, Digits) -> builtin(round, [X, Digits]).

%% @doc Python's `set()' (a list comes back). `py:set()' gives `[]'.
-spec set() -> [].
set() -> builtin(set, []).

%% @doc Python's `set(X)' (a list comes back, in no particular order).
%% `py:set([1, 1, 2])' gives `[1, 2]'.
-spec set(term()) -> term().
set(X) -> builtin(set, [X]).

%% @doc Python's `slice(Stop)' (a handle), for getitem/2.
%% `py:getitem([1, 2, 3], py:slice(2))' gives `[1, 2]'.
-spec slice(term()) -> handle().
slice(Stop) -> builtin(slice, [Stop]).

%% @doc Python's `slice(Start, Stop)'. `py:getitem(<<"hello">>, py:slice(1, 3))' gives `<<"el">>'.
-spec slice(term(), term()) -> handle().
slice(Start, Stop) -> builtin(slice, [Start, Stop]).

%% @doc Python's `slice(Start, Stop, Step)'.
%% `py:getitem([1, 2, 3], py:slice(undefined, undefined, -1))' gives `[3, 2, 1]'.
-spec slice(term(), term(), term()) -> handle().
slice(Start, Stop, Step) -> builtin(slice, [Start, Stop, Step]).

%% @doc Python's `sorted(Iterable)'. `py:sorted([3, 1, 2])' gives `[1, 2, 3]'.
-spec sorted(term()) -> list().
sorted(X) -> builtin(sorted, [X]).

%% @doc Python's `sorted(Iterable, **Kwargs)' (`key', `reverse'); Python 3 takes
%% no other positional argument. `py:sorted([1, 3, 2], #{reverse => true})' gives `[3, 2, 1]'.
-spec sorted(term(), kwargs()) -> list().
sorted(X, Kwargs) -> builtin(sorted, [X], Kwargs).

%% @doc Python's `sorted(Iterable, key=Key, reverse=Reverse)'; `Key' is a
%% Python callable (a handle), an Erlang fun or `undefined'.
%% `py:sorted([{1, b}, {2, a}], py:itemgetter(1), false)' gives `[{2, a}, {1, b}]'.
-spec sorted(term(), term(), boolean()) -> list().
sorted(X, Key, Reverse) -> builtin(sorted, [X], #{key => Key, reverse => Reverse}).

%% @doc A Python `str': chardata becomes a binary here; anything else goes
%% through Python's `str'. `py:str("héllo")' gives `<<"héllo"/utf8>>',
%% `py:str(42)' gives `<<"42">>'. Invalid chardata raises `badarg'.
-spec str(term()) -> binary().
str(X) when is_list(X) ->
    case unicode:characters_to_binary(X) of
        Bin when is_binary(Bin) -> Bin;
        _ -> error(badarg, [X])
    end;
str(X) when is_binary(X) ->
    %% A binary already is a str, and str() of a str is itself.
    X;
str(X) ->
    builtin(str, [X]).

%% @doc Python's `str(X, **Kwargs)' (`encoding', `errors').
%% `py:str(py:bytes(<<233>>), #{encoding => <<"latin-1">>})' gives `<<"é"/utf8>>'.
-spec str(term(), kwargs()) -> binary().
str(X, Kwargs) -> builtin(str, [X], Kwargs).

%% @doc Python's `sum(Iterable)'. `py:sum([1, 2, 3])' gives `6'.
-spec sum(term()) -> term().
sum(X) -> builtin(sum, [X]).

%% @doc Python's `sum(Iterable, Start)'. `py:sum([[1], [2]], [])' gives `[1, 2]'.
-spec sum(term(), term()) -> term().
sum(X, Start) -> builtin(sum, [X, Start]).

%% @doc Python's `super(Class)', an unbound super object (a handle).
%% `py:super(py:type(true))' gives a handle.
-spec super(term()) -> handle().
super(Class) -> builtin(super, [Class]).

%% @doc Python's `super(Class, Obj)' (a handle): methods of the parent class on `Obj'.
%% `py:method(py:super(py:type(true), true), '__repr__')' gives `<<"1">>'.
-spec super(term(), term()) -> handle().
super(Class, Obj) -> builtin(super, [Class, Obj]).

%% @doc Python's `tuple()'. `py:tuple()' gives `{}'.
-spec tuple() -> {}.
tuple() -> builtin(tuple, []).

%% @doc Python's `tuple(X)'. `py:tuple([1, 2])' gives `{1, 2}'.
-spec tuple(term()) -> term().
tuple(X) -> builtin(tuple, [X]).

%% @doc Python's `type(X)', a handle to the class. `py:repr(py:type(1))' gives ``<<"<class 'int'>">>''.
-spec type(term()) -> term().
type(X) -> builtin(type, [X]).

%% @doc Python's `type(Name, Bases, Dict)': a new class (a handle).
%% `py:attr(py:type(<<"Point">>, {}, #{x => 0}), x)' gives `0'.
-spec type(term(), tuple(), map()) -> handle().
type(Name, Bases, Dict) -> builtin(type, [Name, Bases, Dict]).

%% @doc Python's `vars(X)', at most 28 entries then `` '$more' => N ''.
%% ``maps:get('$more', py:vars(py:import(os)))'' gives a count.
-spec vars(term()) -> map().
vars(X) -> py_lib:elide_map(pvars(X)).

%% @doc Python's `vars(X)', every entry. `maps:is_key(<<"sep">>, py:pvars(py:import(os)))' gives `true'.
-spec pvars(term()) -> map().
pvars(X) -> builtin(vars, [X]).

%% @doc Python's `zip(X)', as a list of 1-tuples. `py:zip([1, 2])' gives `[{1}, {2}]'.
-spec zip(term()) -> [{term()}].
zip(X) -> items(zip, [X]).

%% @doc Python's `zip(X, Y)', as a list (not in LFE py).
%% `py:zip([1, 2], [a, b])' gives `[{1, a}, {2, b}]'.
-spec zip(term(), term()) -> [{term(), term()}].
zip(X, Y) -> items(zip, [X, Y]).

%% @doc Python's `zip(X, Y, Z)', as a list (not in LFE py).
%% `py:zip([1], [a], [x])' gives `[{1, a, x}]'.
-spec zip(term(), term(), term()) -> [{term(), term(), term()}].
zip(X, Y, Z) -> items(zip, [X, Y, Z]).

%%% Operators

%% @doc `operator.add'. `py:add(1, 2)' gives `3'.
-spec add(term(), term()) -> term().
add(A, B) -> op(add, [A, B]).

%% @doc `operator.sub'. `py:sub(Later, Now)' gives a timedelta handle.
-spec sub(term(), term()) -> term().
sub(A, B) -> op(sub, [A, B]).

%% @doc `operator.mul'. `py:mul(6, 7)' gives `42'.
-spec mul(term(), term()) -> term().
mul(A, B) -> op(mul, [A, B]).

%% @doc `operator.truediv'. `py:truediv(7, 2)' gives `3.5'.
-spec truediv(term(), term()) -> term().
truediv(A, B) -> op(truediv, [A, B]).

%% @doc `operator.floordiv'. `py:floordiv(7, 2)' gives `3'.
-spec floordiv(term(), term()) -> term().
floordiv(A, B) -> op(floordiv, [A, B]).

%% @doc `operator.mod'. `py:mod(-7, 3)' gives `2'.
-spec mod(term(), term()) -> term().
mod(A, B) -> op(mod, [A, B]).

%% @doc `operator.neg'. `py:neg(3)' gives `-3'.
-spec neg(term()) -> term().
neg(A) -> op(neg, [A]).

%% @doc `operator.pos'. `py:pos(-3)' gives `-3'.
-spec pos(term()) -> term().
pos(A) -> op(pos, [A]).

%% @doc `operator.index': `A' as an integer, for objects that are one.
%% `py:index(true)' gives `1'.
-spec index(term()) -> integer().
index(A) -> op(index, [A]).

%% @doc `operator.inv'. `py:inv(60)' gives `-61'.
-spec inv(term()) -> term().
inv(A) -> op(inv, [A]).

%% @doc `operator.invert', the same as inv/1. `py:invert(60)' gives `-61'.
-spec invert(term()) -> term().
invert(A) -> op(invert, [A]).

%% @doc `operator.lshift'. `py:lshift(60, 2)' gives `240'.
-spec lshift(term(), term()) -> term().
lshift(A, B) -> op(lshift, [A, B]).

%% @doc `operator.rshift'. `py:rshift(60, 2)' gives `15'.
-spec rshift(term(), term()) -> term().
rshift(A, B) -> op(rshift, [A, B]).

%% @doc `operator.and_'. ``py:'and-'(60, 13)'' gives `12'.
-spec 'and-'(term(), term()) -> term().
'and-'(A, B) -> op('and-', [A, B]).

%% @doc `operator.or_'. ``py:'or-'(60, 13)'' gives `61'.
-spec 'or-'(term(), term()) -> term().
'or-'(A, B) -> op('or-', [A, B]).

%% @doc `operator.xor'. ``py:'xor'(60, 13)'' gives `49'.
-spec 'xor'(term(), term()) -> term().
'xor'(A, B) -> op('xor', [A, B]).

%% @doc `operator.eq'. `py:eq(1, 1.0)' gives `true'.
-spec eq(term(), term()) -> term().
eq(A, B) -> op(eq, [A, B]).

%% @doc `operator.ne'. `py:ne(1, 2)' gives `true'.
-spec ne(term(), term()) -> term().
ne(A, B) -> op(ne, [A, B]).

%% @doc `operator.lt'. `py:lt(1, 2)' gives `true'.
-spec lt(term(), term()) -> term().
lt(A, B) -> op(lt, [A, B]).

%% @doc `operator.le'. `py:le(2, 2)' gives `true'.
-spec le(term(), term()) -> term().
le(A, B) -> op(le, [A, B]).

%% @doc `operator.gt'. `py:gt(1, 2)' gives `false'.
-spec gt(term(), term()) -> term().
gt(A, B) -> op(gt, [A, B]).

%% @doc `operator.ge'. `py:ge(1, 2)' gives `false'.
-spec ge(term(), term()) -> term().
ge(A, B) -> op(ge, [A, B]).

%% @doc `operator.not_'. ``py:'not-'([])'' gives `true'.
-spec 'not-'(term()) -> boolean().
'not-'(A) -> op('not-', [A]).

%% @doc `operator.truth'. `py:truth([1])' gives `true'.
-spec truth(term()) -> boolean().
truth(A) -> op(truth, [A]).

%% @doc `operator.contains'. `py:contains([1, 2], 2)' gives `true'.
-spec contains(term(), term()) -> boolean().
contains(A, B) -> op(contains, [A, B]).

%% @doc `operator.countOf'. `py:countOf([1, 2, 1], 1)' gives `2'.
-spec countOf(term(), term()) -> non_neg_integer().
countOf(A, B) -> op(countOf, [A, B]).

%% @doc `operator.indexOf'; raises `ValueError' when `B' is not there.
%% `py:indexOf([a, b], b)' gives `1'.
-spec indexOf(term(), term()) -> non_neg_integer().
indexOf(A, B) -> op(indexOf, [A, B]).

%% @doc `operator.getitem'. `py:getitem(#{a => 1}, a)' gives `1'.
-spec getitem(term(), term()) -> term().
getitem(A, B) -> op(getitem, [A, B]).

%% @doc `operator.concat'. `py:concat([1], [2])' gives `[1, 2]'.
-spec concat(term(), term()) -> term().
concat(A, B) -> op(concat, [A, B]).

%% @doc `operator.length_hint'. `py:length_hint(py:iter([1, 2]))' gives `2'.
-spec length_hint(term()) -> non_neg_integer().
length_hint(A) -> op(length_hint, [A]).

%% @doc `operator.length_hint(A, Default)'. `py:length_hint(py:object(), 7)' gives `7'.
-spec length_hint(term(), non_neg_integer()) -> non_neg_integer().
length_hint(A, Default) -> op(length_hint, [A, Default]).

%% @doc `operator.is_'. `py:is(undefined, undefined)' gives `true'.
-spec is(term(), term()) -> boolean().
is(A, B) -> op(is, [A, B]).

%% @doc `operator.is_' under LFE py's name. ``py:'is-'(undefined, undefined)'' gives `true'.
-spec 'is-'(term(), term()) -> boolean().
'is-'(A, B) -> op('is-', [A, B]).

%% @doc `operator.is_not'. `py:is_not(1, undefined)' gives `true'.
-spec is_not(term(), term()) -> boolean().
is_not(A, B) -> op(is_not, [A, B]).

%% @doc `operator.is_not' under LFE py's name. ``py:'is-not'(1, undefined)'' gives `true'.
-spec 'is-not'(term(), term()) -> boolean().
'is-not'(A, B) -> op('is-not', [A, B]).

%% @doc `operator.attrgetter(Name)', a callable (a handle) for `key', map/2...
%% `py:map(py:attrgetter(imag), [1, 2])' gives `[0, 0]'.
-spec attrgetter(name()) -> handle().
attrgetter(Name) -> op(attrgetter, [Name]).

%% @doc `operator.itemgetter(Item)', a callable (a handle).
%% `py:map(py:itemgetter(0), [{a, 1}, {b, 2}])' gives `[a, b]'.
-spec itemgetter(term()) -> handle().
itemgetter(Item) -> op(itemgetter, [Item]).

%% @doc `operator.methodcaller(Name)', a callable (a handle).
%% `py:map(py:methodcaller(upper), [<<"a">>])' gives `[<<"A">>]'.
-spec methodcaller(name()) -> handle().
methodcaller(Name) -> op(methodcaller, [Name]).

%% @doc `operator.methodcaller(Name, Arg)': calls `Name(Arg)' on its argument.
%% `py:map(py:methodcaller(split, <<",">>), [<<"a,b">>])' gives `[[<<"a">>, <<"b">>]]'.
-spec methodcaller(name(), term()) -> handle().
methodcaller(Name, Arg) -> op(methodcaller, [Name, Arg]).
