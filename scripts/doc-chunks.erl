%% Puts each module's documentation (EEP 48, made by edoc from its @doc comments)
%% into its .beam file as a "Docs" chunk, so that the shell's h(py, func) shows it
%% however py was built (rebar3, Mix, as a dependency): code:get_doc/1 reads that
%% chunk first. Run after compiling, with the ebin directory and the source
%% directory; a .beam that already has the chunk is left alone, so a second run
%% costs a look at each file.
-module('doc-chunks').
-export([main/1]).

main([Ebin, Src, Tmp]) ->
    Beams = filelib:wildcard(filename:join(Ebin, "*.beam")),
    Todo = [B || B <- Beams, not has_docs(B)],
    lists:foreach(fun(Beam) -> add_docs(Beam, Src, Tmp) end, Todo).

has_docs(Beam) ->
    case beam_lib:chunks(Beam, ["Docs"]) of
        {ok, _} -> true;
        {error, beam_lib, _} -> false
    end.

add_docs(Beam, Src, Out) ->
    Mod = filename:basename(Beam, ".beam"),
    File = filename:join(Src, Mod ++ ".erl"),
    case filelib:is_file(File) of
        false ->
            ok;
        true ->
            Opts = [{doclet, edoc_doclet_chunks}, {layout, edoc_layout_chunks},
                    {preprocess, true}, {dir, Out}, {includes, [Src]}],
            case catch edoc:files([File], Opts) of
                ok ->
                    Chunk = filename:join([Out, "chunks", Mod ++ ".chunk"]),
                    {ok, Docs} = file:read_file(Chunk),
                    {ok, _, Chunks} = beam_lib:all_chunks(Beam),
                    {ok, New} = beam_lib:build_module(Chunks ++ [{"Docs", Docs}]),
                    ok = file:write_file(Beam, New);
                Error ->
                    %% Documentation is a convenience: a module it fails on
                    %% keeps its code, and the build goes on.
                    io:format(standard_error, "doc-chunks: no docs for ~s: ~p~n", [Mod, Error])
            end
    end.
