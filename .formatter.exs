[
  inputs: [
    "{mix,.formatter}.exs",
    "config/*.exs",
    "lib/**/*.{ex,exs}",
    "test/elixir/**/*.{ex,exs}",
    "test/deps_projects/mix_dep/mix.exs"
  ]
]
