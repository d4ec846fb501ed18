# `mix test` starts :py already; this also makes the suite fail early, with the
# reason, when the application cannot start (no NIF, no Python).
{:ok, _} = Application.ensure_all_started(:py)
ExUnit.start()
