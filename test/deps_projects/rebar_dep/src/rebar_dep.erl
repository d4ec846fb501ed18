%% @doc Calls Python through py, as a project that depends on it would.
-module(rebar_dep).

-export([pow/0]).

%% @doc 2 ** 16 computed by Python's math.pow.
-spec pow() -> float().
pow() ->
    py:func(math, pow, [2, 16]).
