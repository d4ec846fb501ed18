%% How the owner cuts a big packet into pieces (py_worker:split/2).
-module(py_worker_tests).

-include_lib("eunit/include/eunit.hrl").

%% The pieces join back into the packet, each at most the size asked for, every
%% one full but the last, whatever the iolist's shape.
split_keeps_bytes_and_order_test() ->
    Big = binary:copy(<<"0123456789">>, 1000),
    Shapes = [<<>>, [], Big, [Big], [<<1, 2, 3>>, Big],
              [[<<9>>, [[], 7 | <<"tail">>]], Big, [[Big]], 255 | <<"end">>],
              [Big, <<>>, [], Big]],
    [check_split(Data, Size) || Data <- Shapes, Size <- [1, 7, 10, 4096, 10000, 30000]],
    ok.

check_split(Data, Size) ->
    Pieces = py_worker:split(Data, Size),
    Bytes = iolist_to_binary(Data),
    ?assertEqual(Bytes, iolist_to_binary(Pieces)),
    Sizes = [iolist_size(P) || P <- Pieces],
    ?assertEqual(length(Sizes), (byte_size(Bytes) + Size - 1) div Size),
    case Sizes of
        [] -> ok;
        _ ->
            {Full, [Last]} = lists:split(length(Sizes) - 1, Sizes),
            ?assert(lists:all(fun(S) -> S =:= Size end, Full)),
            ?assert(Last > 0 andalso Last =< Size)
    end.

%% Pieces share the binaries they come from: a 1 MB binary cut in two is two
%% sub-binaries of it, not copies.
split_shares_binaries_test() ->
    Big = binary:copy(<<"x">>, 1000000),
    [[A], [B]] = py_worker:split(Big, 600000),
    ?assertEqual(1000000, binary:referenced_byte_size(A)),
    ?assertEqual(1000000, binary:referenced_byte_size(B)).
