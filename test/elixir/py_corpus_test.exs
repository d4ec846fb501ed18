defmodule Py.CorpusTest do
  # Round trips driven by the shared corpus in test/corpus, the same entries the
  # Erlang suites use, seen from Elixir: what goes in is what Python gets, and
  # what comes back is the documented term, with nil where Erlang has undefined.
  use ExUnit.Case, async: true

  @corpus_dir Path.expand("../corpus", __DIR__)

  setup_all do
    # corpus_check.py holds the typed deep equality shared with the Erlang suites;
    # sys.path is process-wide, so every context of the pool sees it.
    Py.exec(
      "import sys\nif corpus_dir not in sys.path:\n    sys.path.insert(0, corpus_dir)\n",
      corpus_dir: @corpus_dir
    )

    :ok
  end

  defp consult(file) do
    {:ok, entries} = :file.consult(String.to_charlist(Path.join(@corpus_dir, file)))
    entries
  end

  # Written independently of Py's own conversion, so the test does not check
  # the library with itself.
  defp elixir_view(:undefined), do: nil
  defp elixir_view(list) when is_list(list), do: list_view(list)

  defp elixir_view(tuple) when is_tuple(tuple),
    do: List.to_tuple(for x <- Tuple.to_list(tuple), do: elixir_view(x))

  defp elixir_view(map) when is_map(map),
    do: Map.new(for {k, v} <- map, do: {elixir_view(k), elixir_view(v)})

  defp elixir_view(other), do: other

  defp list_view([]), do: []
  defp list_view([h | t]), do: [elixir_view(h) | list_view(t)]

  test "the corpus files are there and not empty" do
    assert length(consult("corpus.eterm")) > 50
    assert length(consult("from_python.eterm")) > 20
  end

  describe "corpus.eterm: Elixir -> Python -> Elixir" do
    for {name, term, expr, back} <-
          :file.consult(Path.expand("../corpus/corpus.eterm", __DIR__)) |> elem(1) do
      @entry {name, term, expr, back}
      test "#{name}" do
        {name, term, expr, back} = @entry
        expected = elixir_view(if back == :same, do: term, else: back)

        assert Py.func(:corpus_check, :check, [term, expr]) == true,
               "#{name}: Python got #{Py.func(:corpus_check, :describe, [term])}, expected #{expr}"

        assert Py.eval("v", %{v: term}) === expected
        assert Py.call({:builtins, :list}, [[term]]) === {:ok, [expected]}
        assert Py.func(:corpus_check, :evaluate, [expr]) === expected
      end
    end
  end

  describe "from_python.eterm: Python -> Elixir" do
    for {name, expr, expected} <-
          :file.consult(Path.expand("../corpus/from_python.eterm", __DIR__)) |> elem(1) do
      @entry {name, expr, expected}
      test "#{name}" do
        {_name, expr, expected} = @entry

        # The set samples hold at most one element, so their order is fixed.
        assert Py.func(:corpus_check, :evaluate, [expr]) === elixir_view(expected)
      end
    end
  end

  describe "values made at run time" do
    test "pids, references, ports and funs come back as the same terms" do
      port = hd(Port.list())
      fun = fn x -> x + 1 end

      for {term, predicate} <- [
            {self(), "isinstance(v, erlang.Pid) and hash(v) == hash(v)"},
            {make_ref(), "isinstance(v, erlang.Ref)"},
            {port, "isinstance(v, erlang.Port)"},
            {fun, "isinstance(v, erlang.Fun)"},
            {&Enum.reverse/1, "isinstance(v, erlang.Fun)"},
            {%{self() => [nil, {port}]}, "isinstance(list(v)[0], erlang.Pid)"}
          ] do
        assert Py.func(:corpus_check, :predicate, [term, predicate]) == true
        assert Py.eval("v", v: term) === elixir_view(term)
      end
    end
  end
end
