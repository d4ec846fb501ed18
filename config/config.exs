import Config

# Read by this repository's own `iex -S mix` and `mix test` only (a project that
# depends on py has its own config): Python uses the project's virtualenv, as
# `make shell` and `rebar3 shell` do (config/shell.config).
venv = Path.expand("../.venv", __DIR__)

if File.exists?(Path.join(venv, "pyvenv.cfg")) do
  config :py, venv: venv
end
