defmodule Py.Error do
  @moduledoc """
  An error from `py`: a Python exception or a failure around the call.

  Fields:

    * `:type` - the qualified Python class name of the exception, such as
      `"builtins.ValueError"`; `nil` when the error did not come from Python
    * `:message` - `str(exception)` for a Python exception, otherwise a
      description of `:reason`
    * `:traceback` - the lines of the Python traceback
      (`traceback.format_exception`), one line each, without line ends; `[]`
      when the error did not come from Python
    * `:reason` - the Erlang error term as `py` gives it, such as
      `{:python, type, message, traceback}`, `{:bad_option, key}` or `:timeout`

  `Exception.message/1` shows the type, the message and the Python traceback:

      iex> {:error, error} = Py.call("math.sqrt", [-1])
      iex> error.type
      "builtins.ValueError"
      iex> Exception.message(error) =~ "ValueError: math domain error"
      true
  """

  defexception type: nil, message: "", traceback: [], reason: nil

  @type t :: %__MODULE__{
          type: String.t() | nil,
          message: String.t(),
          traceback: [String.t()],
          reason: term()
        }

  @doc """
  Builds the exception from the Erlang error term `py` gives.

  A Python exception `{:python, type, message, traceback}` fills `:type`,
  `:message` and `:traceback`; any other term is kept in `:reason` and
  described in `:message`.

      iex> Py.Error.exception({:python, "builtins.KeyError", "'a'", []}).type
      "builtins.KeyError"
      iex> Py.Error.exception(:timeout).message
      "timeout"
  """
  @impl Exception
  @spec exception(term()) :: t()
  def exception({:python, type, message, traceback} = reason)
      when is_binary(type) and is_binary(message) and is_list(traceback) do
    %__MODULE__{type: type, message: message, traceback: traceback, reason: reason}
  end

  def exception(reason) do
    %__MODULE__{message: describe(reason), reason: reason}
  end

  @doc """
  The Python type and message, then the Python traceback when there is one.

      iex> Py.Error.message(Py.Error.exception({:bad_option, :colour}))
      "bad option: :colour"
  """
  @impl Exception
  @spec message(t()) :: String.t()
  def message(%__MODULE__{type: nil, message: message}), do: message

  def message(%__MODULE__{type: type, message: message, traceback: []}),
    do: "#{type}: #{message}"

  def message(%__MODULE__{type: type, message: message, traceback: traceback}) do
    lines = Enum.map(traceback, &String.trim_trailing(&1, "\n"))
    "#{type}: #{message}\n\nPython traceback:\n" <> Enum.join(lines, "\n")
  end

  defp describe(:timeout), do: "timeout"
  defp describe(:cancelled), do: "cancelled"
  defp describe({:bad_option, key}), do: "bad option: #{inspect(key)}"

  defp describe({:unsupported, path, term}),
    do: "cannot convert #{inspect(term)} at #{inspect(path)}"

  defp describe({:too_deep, path}), do: "nesting too deep at #{inspect(path)}"
  defp describe({:cycle, path}), do: "cycle at #{inspect(path)}"

  defp describe({:too_large, path}),
    do: "conversion larger than max_terms at #{inspect(path)}"

  defp describe({:key_collision, path, key}),
    do: "key #{inspect(key)} collides with another key of the map at #{inspect(path)} in Python"

  defp describe({:bad_kwargs, kwargs}),
    do: "keyword arguments must be a map or a list of pairs: #{inspect(kwargs)}"

  defp describe({:bad_array, key, why}) when is_binary(why), do: "bad array: #{key}: #{why}"

  defp describe({:busy, %{gil_stuck_ms: ms}}),
    do: "refused: the GIL has not been released for #{ms} ms (C code holds it)"

  defp describe({:panic, msg}) when is_binary(msg), do: "internal error in the py NIF: #{msg}"
  defp describe({:context_down, reason}), do: "Python context down: #{inspect(reason)}"

  defp describe({:python_init_failed, msg}) when is_binary(msg),
    do: "Python failed to start: #{msg}"

  defp describe(:not_started),
    do:
      "py is not started: list :py in your application's dependencies, or call Application.ensure_all_started(:py)"

  defp describe({tag, _} = reason)
       when tag in [:worker_down, :wrong_place, :no_handle, :node_down, :namespace_lost],
       do: :py_error.format(reason)

  defp describe(reason), do: inspect(reason)
end
