[
  inputs: [
    "{mix,.formatter}.exs",
    "lib/**/*.{ex,exs}",
    "test/elixir/**/*.{ex,exs}",
    "test/deps_projects/mix_dep/mix.exs"
  ]
]
