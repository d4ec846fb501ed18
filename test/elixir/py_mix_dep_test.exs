defmodule Py.MixDepTest do
  # A separate Mix project (test/deps_projects/mix_dep) lists py as a path
  # dependency, compiles it and calls Python, offline: no Hex, no network.
  use ExUnit.Case, async: true

  # Compiling py from scratch inside the other project (Erlang, Elixir and a
  # cargo check of the NIF) takes longer than ExUnit's default minute.
  @moduletag timeout: 600_000

  @project Path.expand("../deps_projects/mix_dep", __DIR__)

  defp mix(args) do
    System.cmd("mix", args,
      cd: @project,
      stderr_to_stdout: true,
      env: [
        {"MIX_ENV", "dev"},
        {"HEX_OFFLINE", "1"},
        # Whatever the outer `mix test` set must not redirect the inner build.
        {"MIX_BUILD_PATH", nil},
        {"MIX_BUILD_ROOT", nil},
        {"MIX_DEPS_PATH", nil},
        {"MIX_EXS", nil},
        {"MIX_TARGET", nil}
      ]
    )
  end

  test "a Mix project depending on py by path compiles and calls Python" do
    {output, status} = mix(["compile"])
    assert status == 0, output
    refute output =~ "Hex", output

    # The dependency is built inside that project, not in the root's _build.
    assert File.exists?(Path.join(@project, "_build/dev/lib/py/ebin/Elixir.Py.beam"))
    assert File.exists?(Path.join(@project, "_build/dev/lib/py/ebin/py.beam"))
    assert File.exists?(Path.join(@project, "_build/dev/lib/py/priv/py_nif.so"))

    {output, status} = mix(["run", "-e", "IO.inspect(Py.func(:math, :pow, [2, 16]))"])
    assert status == 0, output
    assert output |> String.trim_trailing() |> String.split("\n") |> List.last() == "65536.0"
  end
end
