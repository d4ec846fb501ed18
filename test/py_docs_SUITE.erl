%% @doc The shell sessions of the documentation run as written: every
%% `N> Expr.' line of an ```erlang block is evaluated in order, with the
%% bindings of the lines before it (as the shell keeps them), and its value
%% must be the result printed under it. `#Ref<...>' in a printed result
%% stands for any reference (a handle).
-module(py_docs_SUITE).

-include_lib("common_test/include/ct.hrl").

-export([all/0, suite/0, init_per_suite/1, end_per_suite/1]).
-export([getting_started/1, extractor_reads_sessions/1, extractor_matches_results/1]).

suite() ->
    [{timetrap, {minutes, 2}}].

all() ->
    [extractor_reads_sessions, extractor_matches_results, getting_started].

init_per_suite(Config) ->
    ok = py_test_util:start(),
    Config.

end_per_suite(_Config) ->
    ok.

getting_started(_Config) ->
    Examples = examples(filename:join([py_test_util:repo_root(), "docs", "getting-started.md"])),
    %% Every numbered line of the page, 1 to the last, is here: none was skipped
    %% by a mistake of the extractor.
    Numbers = [N || {N, _, _} <- Examples],
    Numbers = lists:seq(1, length(Numbers)),
    true = length(Numbers) >= 17,
    run(Examples).

%% The extractor itself: prompts, multi-line results, text outside blocks.
extractor_reads_sessions(_Config) ->
    Text = <<"Some text 1> not.this.\n"
             "```erlang\n"
             "1> X = 1 + 1.\n"
             "2\n"
             "2> {X,\n"
             "   <<\"a\">>}.\n"
             "{2,\n"
             " <<\"a\">>}\n"
             "```\n"
             "```sh\n"
             "3> not erlang.\n"
             "```\n">>,
    [{1, "X = 1 + 1.", "2"}, {2, "{X,\n   <<\"a\">>}.", "{2,\n <<\"a\">>}"}] =
        parse(Text).

extractor_matches_results(_Config) ->
    true = matches(term("{ok,#Ref<0.1.2.3>}"), {ok, make_ref()}),
    true = matches(term("[#Ref<...>, 1]"), [make_ref(), 1]),
    false = matches(term("#Ref<...>"), 1),
    false = matches(term("{ok,1}"), {ok, 2}),
    %% 1 and 1.0 are different results.
    false = matches(term("1"), 1.0),
    true = matches(term("<<\"a/b\">>"), <<"a/b">>),
    ok.

%%% Helpers

examples(File) ->
    {ok, Text} = file:read_file(File),
    parse(Text).

%% [{N, Expr, Printed}] from the ```erlang blocks.
parse(Text) ->
    Lines = string:split(unicode:characters_to_list(Text), "\n", all),
    blocks(Lines, []).

blocks([], Acc) ->
    lists:append(lists:reverse(Acc));
blocks(["```erlang" ++ _ | Rest], Acc) ->
    {Block, After} = lists:splitwith(fun(L) -> not lists:prefix("```", L) end, Rest),
    blocks(tl_or_empty(After), [session(Block) | Acc]);
blocks([_ | Rest], Acc) ->
    blocks(Rest, Acc).

tl_or_empty([]) -> [];
tl_or_empty([_ | T]) -> T.

%% A prompt line starts an expression, which runs to the line ending in `.';
%% the lines up to the next prompt are what the shell printed.
session([]) ->
    [];
session([Line | Rest]) ->
    case prompt(Line) of
        {N, First} ->
            {ExprLines, Rest1} = until_full_stop([First | Rest], []),
            {Printed, Rest2} = lists:splitwith(fun(L) -> prompt(L) =:= false end, Rest1),
            [{N, lists:flatten(lists:join("\n", ExprLines)),
              lists:flatten(string:trim(lists:join("\n", Printed)))}
             | session(Rest2)];
        false ->
            session(Rest)
    end.

prompt(Line) ->
    case re:run(Line, "^([0-9]+)> (.*)$", [{capture, all_but_first, list}, unicode]) of
        {match, [N, Expr]} -> {list_to_integer(N), Expr};
        nomatch -> false
    end.

until_full_stop([Line | Rest], Acc) ->
    case lists:suffix(".", string:trim(Line, trailing)) of
        true -> {lists:reverse([Line | Acc]), Rest};
        false -> until_full_stop(Rest, [Line | Acc])
    end;
until_full_stop([], Acc) ->
    {lists:reverse(Acc), []}.

run(Examples) ->
    lists:foldl(fun({N, Expr, Printed}, Bindings) ->
                        ct:log("~b> ~ts~n~ts", [N, Expr, Printed]),
                        {Value, Bindings1} = eval(N, Expr, Bindings),
                        Expected = term(Printed),
                        case matches(Expected, Value) of
                            true -> Bindings1;
                            false -> ct:fail({example, N, Expr, {printed, Printed},
                                              {got, Value}})
                        end
                end, erl_eval:new_bindings(), Examples),
    ok.

eval(N, Expr, Bindings) ->
    {ok, Tokens, _} = erl_scan:string(Expr),
    {ok, Exprs} = erl_parse:parse_exprs(Tokens),
    try erl_eval:exprs(Exprs, Bindings) of
        {value, Value, Bindings1} -> {Value, Bindings1}
    catch
        Class:Reason:Stack -> ct:fail({example, N, Expr, {raised, Class, Reason, Stack}})
    end.

%% The printed result as a term; a reference, which cannot be read back,
%% becomes the atom '$ref'.
term(Printed) ->
    Readable = re:replace(Printed, "#Ref<[^>]*>", "'$ref'", [global, {return, list}, unicode]),
    {ok, Tokens, _} = erl_scan:string(Readable ++ "."),
    {ok, [Expr]} = erl_parse:parse_exprs(Tokens),
    {value, Term, _} = erl_eval:expr(Expr, erl_eval:new_bindings()),
    Term.

matches('$ref', Value) ->
    is_reference(Value);
matches(Expected, Value) when is_list(Expected), is_list(Value),
                              length(Expected) =:= length(Value) ->
    lists:all(fun({E, V}) -> matches(E, V) end, lists:zip(Expected, Value));
matches(Expected, Value) when is_tuple(Expected), is_tuple(Value),
                              tuple_size(Expected) =:= tuple_size(Value) ->
    matches(tuple_to_list(Expected), tuple_to_list(Value));
matches(Expected, Value) when is_map(Expected), is_map(Value),
                              map_size(Expected) =:= map_size(Value) ->
    lists:all(fun({K, E}) -> maps:is_key(K, Value) andalso matches(E, maps:get(K, Value)) end,
              maps:to_list(Expected));
matches(Expected, Value) ->
    Expected =:= Value.
