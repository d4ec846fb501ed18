defmodule MixDep.MixProject do
  use Mix.Project

  # A project of its own that uses py as a path dependency, offline: its build
  # directory stays inside it (_build/), apart from the root's _build/mix.
  def project do
    [
      app: :mix_dep,
      version: "0.1.0",
      elixir: "~> 1.14",
      deps: [{:py, path: "../../.."}]
    ]
  end

  def application do
    [extra_applications: [:logger]]
  end
end
