defmodule Mix.Tasks.Compile.PyNative do
  @moduledoc false
  # Builds the NIF and fills priv/ before the Erlang and Elixir compilers run,
  # both at the root and when py is a path dependency of another Mix project.
  use Mix.Task.Compiler

  @root __DIR__

  @impl Mix.Task.Compiler
  def run(_args) do
    before = nif_digest()

    case System.cmd("sh", ["scripts/build-native.sh"],
           cd: @root,
           stderr_to_stdout: true,
           into: IO.stream(:stdio, :line)
         ) do
      {_, 0} ->
        # Mix links priv/ into the build directory before any compiler runs, so
        # on a fresh checkout (no priv/ yet) the link is made here, once it exists.
        Mix.Project.build_structure()
        # The script copies the library every time; only a new one is news to Mix.
        {if(nif_digest() == before, do: :noop, else: :ok), []}

      {_, status} ->
        Mix.raise("scripts/build-native.sh failed (exit status #{status}) in #{@root}")
    end
  end

  defp nif_digest do
    case File.read(Path.join(@root, "priv/py_nif.so")) do
      {:ok, binary} -> :erlang.md5(binary)
      {:error, _} -> nil
    end
  end
end

defmodule Mix.Tasks.Compile.PyDocs do
  @moduledoc false
  # Puts the modules' documentation into their .beam files after the Erlang
  # compiler ran, so that h(py, func) in the Erlang shell and IEx's h :py.func
  # show it (scripts/doc-chunks.sh).
  use Mix.Task.Compiler

  @root __DIR__

  @impl Mix.Task.Compiler
  def run(_args) do
    case System.cmd("sh", ["scripts/doc-chunks.sh", Mix.Project.compile_path()],
           cd: @root,
           stderr_to_stdout: true
         ) do
      {_, 0} -> {:noop, []}
      {out, status} -> Mix.raise("scripts/doc-chunks.sh failed (#{status}): #{out}")
    end
  end
end

defmodule Py.MixProject do
  use Mix.Project

  def project do
    [
      app: :py,
      version: "0.1.0",
      elixir: "~> 1.14",
      # rebar3 owns _build/default and _build/test; Mix must never share them.
      build_path: "_build/mix",
      erlc_paths: ["src"],
      erlc_options: [:debug_info, :warn_missing_spec, :warnings_as_errors],
      elixirc_paths: ["lib"],
      test_paths: ["test/elixir"],
      compilers: [:py_native | Mix.compilers()] ++ [:py_docs],
      deps: []
    ]
  end

  # Mix writes ebin/py.app from this and ignores src/py.app.src, so the
  # description, registered names, callback module and env defaults are read
  # from the .app.src: one source of truth for rebar3 and Mix.
  def application do
    {:ok, [{:application, :py, app}]} = :file.consult(Path.join(__DIR__, "src/py.app.src"))

    [
      description: Keyword.fetch!(app, :description),
      registered: Keyword.fetch!(app, :registered),
      mod: Keyword.fetch!(app, :mod),
      extra_applications: [:logger | Keyword.fetch!(app, :applications) -- [:kernel, :stdlib]],
      env: Keyword.fetch!(app, :env)
    ]
  end
end
