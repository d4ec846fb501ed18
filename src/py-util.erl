%% @doc LFE py's `py-util' module, as far as it means something here: the
%% versions. (Its other functions built LFE py's wrappers or named its ErlPort
%% workers; docs/lfe.md says what replaces them.)
-module('py-util').

-export(['get-versions'/0, 'get-py-version'/0, 'get-python-version'/0]).

%% @doc The versions of Erlang/OTP, ERTS, the NIF, `py' and Python, as
%% py:get_versions/0 gives them. ``proplists:get_value(py, 'py-util':'get-versions'())''
%% gives `<<"0.1.0">>'.
-spec 'get-versions'() -> [{erlang | erts | nif | py | python, binary()}].
'get-versions'() ->
    py:get_versions().

%% @doc The version of `py'. ``'py-util':'get-py-version'()'' gives `<<"0.1.0">>'.
-spec 'get-py-version'() -> binary().
'get-py-version'() ->
    version(py).

%% @doc The version of the embedded Python.
%% ``'py-util':'get-python-version'()'' gives `<<"3.11.2">>'.
-spec 'get-python-version'() -> binary().
'get-python-version'() ->
    version(python).

version(Key) ->
    {Key, Version} = lists:keyfind(Key, 1, py:get_versions()),
    Version.
