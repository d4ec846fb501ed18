defmodule Py do
  @moduledoc """
  Call Python from Elixir: CPython runs inside the BEAM (see `docs/elixir.md`).

  `Py` is a thin layer over the Erlang module `:py`, with Elixir conventions:

    * Python raises -> `Py.Error` is raised (by `func/2`, `const/2`, `init/2`,
      `method/2`, `attr/2`, the builtins, the operators, `eval/2`, ...);
      `call/4` returns `{:ok, value}` or `{:error, %Py.Error{}}` instead, and
      `call!/4` raises.
    * Keyword arguments are keyword lists (or maps):
      `Py.func(:builtins, :int, ["ff"], base: 16)` is `int("ff", base=16)`.
    * `None` comes back as `nil`, at any depth (in lists, tuples and as map
      keys or values): the NIF converts it so as it converts the result (the
      `:none` option of `:py`, set by this module). An `erlang.Atom("undefined")`
      made in Python stays the atom `:undefined`. `nil` in arguments is `None`,
      and so is `:undefined`.
    * Module, function, class, attribute and method names are atoms or
      strings; a dotted name (`"os.path"`, `:"datetime.datetime"`) is imported
      as far as it can be and the rest is read with `getattr`.
    * A Python object that is not plain data (a `datetime`, a numpy array, a
      module) comes back as a handle, an opaque term that keeps the object
      alive; pass it back as an argument, to `method/2`, `attr/2` or `value/1`.

  Strings are binaries in both directions; values map as in `docs/types.md`.

  ## Names of the operators

  The functions keep the names of `:py`, except where `:py` ends a name with
  `-` to avoid an Erlang keyword: `py:'and-'/2`, `py:'or-'/2` and `py:'not-'/1`
  are `and_/2`, `or_/2` and `not_/1` here. `is/2` and `is_not/2` keep their
  names (`is` is not reserved in Elixir); LFE py's `is-` and `is-not` are the
  same functions and are not repeated here. `operator.countOf` and `indexOf`
  are `count_of/2` and `index_of/2`.

  Python's iterators come back as lists (`map/2`, `filter/2`, `zip/2`,
  `enumerate/1`, `reversed/1`); `iter/1` gives a handle for a lazy walk with
  `next/1`. Callables given to them are Python callables (handles such as
  `itemgetter/1` or `Py.const(:builtins, :abs)`) or Elixir functions, called
  back in the calling process for each item.

      iex> Py.and_(60, 13)
      12
      iex> Py.pow(6, 42)
      481229803398374426442198455156736
  """

  @typedoc "A module, function, class, attribute or method name; may be dotted."
  @type name :: atom() | String.t()

  @typedoc "An opaque reference to a Python object."
  @type handle :: reference()

  @typedoc "Positional arguments."
  @type args :: list()

  @typedoc "Keyword arguments: a keyword list, or a map with atom or string keys."
  @type kwargs :: [{atom() | String.t(), term()}] | %{optional(atom() | String.t()) => term()}

  @typedoc """
  What `call/4` calls: `{module, function}`, a dotted name, or
  `{handle, method}`.
  """
  @type target :: name() | {name(), name()} | {handle(), name()}

  @typedoc """
  Options of `call/4`, as a keyword list or a map:

    * `:timeout` - milliseconds or `:infinity` (default: the `:call_timeout`
      setting, 5000); on expiry the call returns
      `{:error, %Py.Error{reason: :timeout}}` and the Python code is
      interrupted at its next bytecode (a call into C finishes first)
    * `:return` - `:term` (default) or `:handle`, to keep the result in Python
    * `:on` - where the call runs: `:default` (the default pool), a pool name
      (`start_pool/2`), `{pool, n}` (the n-th context of a pool, from 1),
      `:dirty` (a dirty scheduler; lowest latency for short stateless calls)
      or `{:node, node}` (py on another node)
    * `:namespace` - a namespace from `namespace/0`: `eval/3` and `exec/3` run
      in it instead of the calling process's own, and `call/4` looks its
      function up there first
  """
  @type options ::
          [
            {:timeout, timeout()}
            | {:return, :term | :handle}
            | {:on, term()}
            | {:namespace, reference()}
          ]
          | %{optional(:timeout | :return | :on | :namespace) => term()}

  @typedoc """
  A numpy array as `array/1` gives it and `ndarray/2` takes it: the shape,
  numpy's `dtype.str` (`"<f8"`, `"|u1"`, `"<i4"`, ...) and the items in C order.
  """
  @type array :: %{shape: [non_neg_integer()], dtype: String.t(), data: binary()}

  @typedoc "Names bound for `eval/2` and `exec/2`: a map or keyword list."
  @type bindings :: %{optional(atom() | String.t()) => term()} | [{atom(), term()}]

  # Python's exceptions and py's own failures become Py.Error; anything else
  # (a badarg from a malformed argument, say) is a bug at the call site and
  # keeps its own class, reason and stack trace.
  defmacrop raising(expr) do
    quote do
      try do
        # None becomes nil in the NIF, as the result is converted.
        :py_exec.with_defaults(%{none: nil}, fn -> unquote(expr) end)
      catch
        :error, reason -> raise_error(reason, __STACKTRACE__)
      end
    end
  end

  ## Calling functions

  @doc """
  Calls a function given by one dotted name, without arguments; a name
  without a dot is a builtin.

      iex> Py.func("os.getcwd") == File.cwd!()
      true
  """
  @spec func(name()) :: term()
  def func(dotted), do: raising(:py.func(dotted))

  @doc """
  Calls a module-level function without arguments, or a dotted function with
  arguments.

  `func(module, function)` is `module.function()`; `func(dotted, args)` is
  `dotted(*args)`. Raises `Py.Error` when Python raises.

      iex> Py.func(:math, :pow, [2, 16])
      65536.0
      iex> Py.func("math.pow", [2, 16])
      65536.0
      iex> is_binary(Py.func(:os, :getcwd))
      true
  """
  @spec func(name(), name() | args()) :: term()
  def func(module_or_dotted, function_or_args),
    do: raising(:py.func(module_or_dotted, function_or_args))

  @doc """
  Calls `module.function(*args)`, or the dotted `dotted(*args, **kwargs)`.

      iex> Py.func(:math, :pow, [2, 16])
      65536.0
      iex> Py.func("builtins.int", ["ff"], base: 16)
      255
  """
  @spec func(name(), name() | args(), args() | kwargs()) :: term()
  def func(module_or_dotted, function_or_args, args_or_kwargs),
    do: raising(:py.func(module_or_dotted, function_or_args, args_or_kwargs))

  @doc """
  Calls `module.function(*args, **kwargs)`.

      iex> Py.func(:builtins, :int, ["ff"], base: 16)
      255
      iex> Py.func(:json, :dumps, [[1, nil]], separators: {",", ":"})
      "[1,null]"
  """
  @spec func(name(), name(), args(), kwargs()) :: term()
  def func(module, function, args, kwargs),
    do: raising(:py.func(module, function, args, kwargs))

  @doc """
  Reads a module attribute given by one dotted name.

      iex> Py.const("math.pi")
      3.141592653589793
  """
  @spec const(name()) :: term()
  def const(dotted), do: raising(:py.const(dotted))

  @doc """
  Reads the attribute `name` of `module`.

      iex> Py.const(:math, :pi)
      3.141592653589793
  """
  @spec const(name(), name()) :: term()
  def const(module, name), do: raising(:py.const(module, name))

  @doc """
  Reads the attribute `name` of `module` and casts it with Python's `int`,
  `float` or `str`.

      iex> Py.const(:math, :pi, :int)
      3
      iex> Py.const(:math, :pi, :str)
      "3.141592653589793"
  """
  @spec const(name(), name(), :int | :float | :str) :: term()
  def const(module, name, type), do: raising(:py.const(module, name, type))

  @doc """
  Instantiates a class given by one dotted name, without arguments.

      iex> Py.repr(Py.init("fractions.Fraction"))
      "Fraction(0, 1)"
  """
  @spec init(name()) :: term()
  def init(dotted), do: raising(:py.init(dotted))

  @doc """
  Instantiates `module.class()`, or the dotted `dotted(*args)`.

  The instance comes back as a handle unless it is plain data (an instance
  of a `dict` subclass such as `collections.Counter` is a map).

      iex> Py.repr(Py.init(:datetime, :date, [1923, 4, 2]))
      "datetime.date(1923, 4, 2)"
      iex> Py.repr(Py.init("fractions.Fraction", [3, 6]))
      "Fraction(1, 2)"
  """
  @spec init(name(), name() | args()) :: term()
  def init(module_or_dotted, class_or_args),
    do: raising(:py.init(module_or_dotted, class_or_args))

  @doc """
  Instantiates `module.class(*args)`, or the dotted `dotted(*args, **kwargs)`.

      iex> Py.attr(Py.init(:datetime, :date, [1923, 4, 2]), :year)
      1923
      iex> Py.attr(Py.init("datetime.timedelta", [], hours: 2), :seconds)
      7200
  """
  @spec init(name(), name() | args(), args() | kwargs()) :: term()
  def init(module_or_dotted, class_or_args, args_or_kwargs),
    do: raising(:py.init(module_or_dotted, class_or_args, args_or_kwargs))

  @doc """
  Instantiates `module.class(*args, **kwargs)`.

      iex> Py.attr(Py.init(:datetime, :timedelta, [1], hours: 2), :seconds)
      7200
  """
  @spec init(name(), name(), args(), kwargs()) :: term()
  def init(module, class, args, kwargs), do: raising(:py.init(module, class, args, kwargs))

  @doc """
  Calls the method `name` of `object` without arguments.

  `object` is usually a handle; plain data works too (it is converted first).

      iex> Py.method("hello", :upper)
      "HELLO"
  """
  @spec method(term(), name()) :: term()
  def method(object, name), do: raising(:py.method(object, name))

  @doc """
  Calls `object.name(*args)`.

      iex> Py.method(Py.init(:datetime, :date, [1923, 4, 2]), :strftime, ["%Y"])
      "1923"
  """
  @spec method(term(), name(), args()) :: term()
  def method(object, name, args), do: raising(:py.method(object, name, args))

  @doc """
  Calls `object.name(*args, **kwargs)`.

      iex> Py.method(Py.init(:datetime, :date, [1923, 4, 2]), :replace, [], year: 2000) |> Py.repr()
      "datetime.date(2000, 4, 2)"
  """
  @spec method(term(), name(), args(), kwargs()) :: term()
  def method(object, name, args, kwargs), do: raising(:py.method(object, name, args, kwargs))

  @doc """
  Reads the attribute `name` of `object`.

      iex> Py.attr(Py.init(:datetime, :date, [1923, 4, 2]), :month)
      4
  """
  @spec attr(term(), name()) :: term()
  def attr(object, name), do: raising(:py.attr(object, name))

  @doc """
  Calls the callable at the dotted path `callable` inside `module`, without
  arguments.

      iex> Py.attr(Py.pycall(:datetime, "datetime.now"), :year) >= 2024
      true
  """
  @spec pycall(name(), name()) :: term()
  def pycall(module, callable), do: raising(:py.pycall(module, callable))

  @doc """
  Calls `module.callable(*args)` where `callable` may be a dotted path.

      iex> Py.pycall(:os, "path.join", ["a", "b"])
      "a/b"
  """
  @spec pycall(name(), name(), args()) :: term()
  def pycall(module, callable, args), do: raising(:py.pycall(module, callable, args))

  @doc """
  Calls `module.callable(*args, **kwargs)` where `callable` may be a dotted path.

      iex> Py.pycall(:json, "dumps", [[1]], indent: 1)
      "[\\n 1\\n]"
  """
  @spec pycall(name(), name(), args(), kwargs()) :: term()
  def pycall(module, callable, args, kwargs),
    do: raising(:py.pycall(module, callable, args, kwargs))

  ## The general call

  @doc """
  Calls `target(*args, **kwargs)` with options; returns `{:ok, value}` or
  `{:error, %Py.Error{}}` and never raises for a Python exception.

  `target` is `{module, function}`, a dotted name, or `{handle, method}`.
  See `t:options/0` for `:timeout`, `:return` and `:on`; an unknown option
  gives `{:error, %Py.Error{reason: {:bad_option, key}}}`.

      iex> Py.call({:math, :pow}, [2, 16])
      {:ok, 65536.0}
      iex> Py.call("builtins.int", ["ff"], base: 16)
      {:ok, 255}
      iex> {:error, error} = Py.call("math.sqrt", [-1])
      iex> {error.type, error.message}
      {"builtins.ValueError", "math domain error"}
      iex> {:error, error} = Py.call("math.sqrt", [4], [], colour: :red)
      iex> error.reason
      {:bad_option, :colour}
  """
  @spec call(target(), args(), kwargs(), options()) :: {:ok, term()} | {:error, Py.Error.t()}
  def call(target, args \\ [], kwargs \\ [], options \\ []) do
    case :py.call(target, args, kwargs, options_map(options)) do
      {:ok, value} -> {:ok, value}
      {:error, reason} -> {:error, Py.Error.exception(reason)}
    end
  end

  @doc """
  Like `call/4` but returns the value and raises `Py.Error` on failure; the
  error's message shows the Python traceback.

      iex> Py.call!({:math, :pow}, [2, 16])
      65536.0
      iex> Py.call!("json.loads", ["[1, null]"])
      [1, nil]
  """
  @spec call!(target(), args(), kwargs(), options()) :: term()
  def call!(target, args \\ [], kwargs \\ [], options \\ []) do
    case call(target, args, kwargs, options) do
      {:ok, value} -> value
      {:error, error} -> raise error
    end
  end

  @typedoc "A call started by `async_call/4`, for `await/1` and `cancel/1`."
  @opaque request :: :py_exec.request()

  @doc """
  Starts a call like `call/4` and returns at once, so that it can be awaited
  later and cancelled meanwhile, from any process. Runs on a context (not
  `on: :dirty` nor `{:node, n}`); the process that started it must await it.

      iex> {:ok, request} = Py.async_call({:operator, :add}, [1, 2])
      iex> Py.await(request)
      {:ok, 3}
  """
  @spec async_call(target(), args(), kwargs(), options()) ::
          {:ok, request()} | {:error, Py.Error.t()}
  def async_call(target, args \\ [], kwargs \\ [], options \\ []) do
    case :py.async_call(target, args, kwargs, options_map(options)) do
      {:ok, request} -> {:ok, request}
      {:error, reason} -> {:error, Py.Error.exception(reason)}
    end
  end

  @doc """
  Waits for a call started by `async_call/4`: `{:ok, value}`, or an error whose
  reason is `:timeout` once its deadline passed, `:cancelled` after `cancel/1`.

      iex> {:ok, request} = Py.async_call("time.sleep", [5], [], timeout: :infinity)
      iex> Py.cancel(request)
      :ok
      iex> {:error, error} = Py.await(request)
      iex> error.reason
      :cancelled
  """
  @spec await(request()) :: {:ok, term()} | {:error, Py.Error.t()}
  def await(request) do
    case :py.await(request) do
      {:ok, value} -> {:ok, value}
      {:error, reason} -> {:error, Py.Error.exception(reason)}
    end
  end

  @doc """
  Cancels a call started by `async_call/4`, from any process. Running Python
  code is interrupted; code blocked inside C runs on until it returns, and its
  context stays busy until then.
  """
  @spec cancel(request()) :: :ok
  defdelegate cancel(request), to: :py

  ## Source code

  @doc """
  Evaluates a Python expression, or a block of statements whose value is that
  of its last expression statement (`nil` when it ends with another statement).
  It runs in the calling process's namespace: what its `exec/3` and `eval/3`
  define is there for its next calls, and no other process sees it. `bindings`
  are set for this call only. `options` are those of `call/4`.

      iex> Py.eval("import os\\nos.sep")
      "/"
      iex> Py.exec("def twice(x): return 2 * x")
      :ok
      iex> Py.eval("twice(21)")
      42

      iex> Py.eval("x * 2 + len(s)", %{x: 20, s: "ab"})
      42
      iex> Py.eval("None")
      nil
      iex> Py.eval("[1, 2]", %{}, return: :handle) |> Py.value()
      [1, 2]
  """
  @spec eval(String.t() | charlist(), bindings(), options()) :: term()
  def eval(code, bindings \\ %{}, options \\ []),
    do: raising(:py.eval(code, bindings_map(bindings), options_map(options)))

  @doc """
  A new namespace (the globals of `eval/3` and `exec/3`) to name in their
  options and share between processes on purpose; it lives while a copy of the
  handle does. `options` may say where (`on:`).

      iex> ns = Py.namespace()
      iex> Py.exec("shared = 42", %{}, namespace: ns)
      :ok
      iex> Task.async(fn -> Py.eval("shared", %{}, namespace: ns) end) |> Task.await()
      42
  """
  @spec namespace(options()) :: reference()
  def namespace(options \\ []), do: raising(:py.namespace(options_map(options)))

  @doc """
  Runs Python statements, with `bindings` merged into the globals of the
  context that runs it; returns `:ok`. `options` are those of `call/4`.

  Names the code assigns stay in that context's globals; a call may run on
  any context of the pool, so keep state that must be found again in a pool
  of one context (`start_pool/2`).

      iex> Py.exec("import math\\nassert math.gcd(a, 12) == 4", a: 8)
      :ok
  """
  @spec exec(String.t() | charlist(), bindings(), options()) :: :ok
  def exec(code, bindings \\ %{}, options \\ []),
    do: raising(:py.exec(code, bindings_map(bindings), options_map(options)))

  @doc """
  Imports a module and returns it as a handle.

      iex> math = Py.import(:math)
      iex> Py.attr(math, :e)
      2.718281828459045
  """
  @spec import(name()) :: handle()
  def import(module), do: raising(:py.import(module))

  ## Values

  @doc """
  Converts the object behind a handle into a term, with the encoders
  registered in Python (`erlang.register_encoder`).

      iex> Py.value(Py.call!("builtins.list", [[1, 2]], [], return: :handle))
      [1, 2]
  """
  @spec value(handle()) :: term()
  def value(handle), do: raising(:py.value(handle))

  @doc """
  Copies any object that supports Python's buffer protocol into a binary.

      iex> Py.to_binary(Py.func(:array, :array, ["B", [97, 98, 99]]))
      "abc"
  """
  @spec to_binary(term()) :: binary()
  def to_binary(object), do: raising(:py.to_binary(object))

  @doc """
  A numpy array's shape, dtype (numpy's `dtype.str`) and memory.

  `:data` is not a copy when the array is C-contiguous: the binary points
  into the array, keeps it alive, and shows what Python writes to the array
  later (`:binary.copy/1` it when that matters). Any other layout is copied
  once, in C order. An object with the buffer protocol that is not an array
  (`bytes`, `array.array`, a `buffer/1`) is read as
  `numpy.asarray(memoryview(obj))`. Raises `Py.Error` (`TypeError`) for
  anything else and for arrays whose items are not data (dtype object,
  structured dtypes); `ModuleNotFoundError` without numpy.

      iex> Py.array(Py.func(:numpy, :arange, [3], dtype: :int32))
      %{shape: [3], dtype: "<i4", data: <<0::32-little, 1::32-little, 2::32-little>>}
  """
  @spec array(term()) :: array()
  def array(object), do: raising(:py.array(object))

  @doc """
  A numpy array (a handle) over `array.data` with `array.shape` and
  `array.dtype` (a string numpy knows, such as `"<f8"` or `"float64"`, or an
  atom): read-only and sharing the binary's memory, or with `writable: true`
  a writable copy. A missing or wrong field raises `Py.Error` with the reason
  `{:bad_array, key, why}` (`:data` when its size is not what shape and dtype
  need); an unknown option `{:bad_option, key}`.

      iex> a = Py.ndarray(%{shape: [2, 2], dtype: "|u1", data: <<1, 2, 3, 4>>})
      iex> Py.value(a)
      [[1, 2], [3, 4]]
      iex> Py.eval("a.flags.writeable", a: a)
      false
      iex> Py.ndarray(Py.array(a), writable: true) |> Py.attr(:flags) |> Py.attr(:writeable)
      true
  """
  @spec ndarray(array(), [{:writable, boolean()}] | %{optional(:writable) => boolean()}) ::
          handle()
  def ndarray(array, options \\ []), do: raising(:py.ndarray(array, Map.new(options)))

  @doc """
  Marks a binary to reach Python as `bytes` (a plain binary becomes `str`).

      iex> Py.repr(Py.bytes(<<0, 255>>))
      "b'\\\\x00\\\\xff'"
  """
  @spec bytes(binary()) :: term()
  def bytes(binary), do: raising(:py.bytes(binary))

  @doc """
  Marks a binary to reach Python as a read-only `memoryview` over it, without
  a copy.

      iex> Py.len(Py.buffer("abcd"))
      4
  """
  @spec buffer(binary()) :: term()
  def buffer(binary), do: raising(:py.buffer(binary))

  @doc """
  The versions of Erlang/OTP, ERTS, the NIF, `py` and Python, as binaries.

      iex> Keyword.keys(Py.get_versions())
      [:erlang, :erts, :nif, :py, :python]
  """
  @spec get_versions() :: [{:erlang | :erts | :nif | :py | :python, String.t()}]
  def get_versions, do: raising(:py.get_versions())

  ## Pools

  @doc """
  Starts a named pool of contexts; `options` (a keyword list or map) are
  `:size` and `:strategy` (`:round_robin` or `:least_busy`). Run calls on it
  with the option `on: name`. A pool of one context keeps its globals for
  every call, for state that must stay together.

  `kind: :worker` starts a pool of workers instead: Python in OS processes
  of its own, so that a crash in C costs one worker and not the node, and
  CPU-bound Python uses every core. Workers also take `:python`, `:venv`,
  `:path`, `:env`, `:max_memory` (bytes) and `:kill_after` (ms); see
  docs/workers.md.

      iex> {:ok, _pid} = Py.start_pool(:doc_workers, kind: :worker, size: 1)
      iex> {:error, %Py.Error{reason: {:worker_down, {:exit, 3}}}} =
      ...>   Py.call("os._exit", [3], [], on: :doc_workers)
      iex> Py.call("operator.add", [1, 2], [], on: :doc_workers)
      {:ok, 3}
      iex> Py.stop_pool(:doc_workers)
      :ok

      iex> {:ok, _pid} = Py.start_pool(:doc_pool, size: 1)
      iex> Py.exec("counter = 41", %{}, on: :doc_pool)
      :ok
      iex> Py.eval("counter + 1", %{}, on: :doc_pool)
      42
      iex> Py.stop_pool(:doc_pool)
      :ok
  """
  @spec start_pool(atom(), keyword() | map()) :: {:ok, pid()} | {:error, term()}
  def start_pool(name, options), do: :py.start_pool(name, Map.new(options))

  @doc """
  The state of a pool: `:kind` (`:context` or `:worker`), `:size`, `:busy`,
  `:queued`, `:restarts` and live `:handles`, and per context or worker
  details; see `:py.pool_info/1`.

      iex> %{kind: :context, size: size} = Py.pool_info(:default)
      iex> size > 0
      true
      iex> Py.pool_info(:no_such_pool)
      {:error, {:no_pool, :no_such_pool}}
  """
  @spec pool_info(atom()) :: map() | {:error, {:no_pool, atom()}}
  defdelegate pool_info(name), to: :py

  @doc """
  Stops a pool started with `start_pool/2`.

      iex> Py.stop_pool(:no_such_pool)
      {:error, :not_found}
  """
  @spec stop_pool(atom()) :: :ok | {:error, :not_found}
  def stop_pool(name), do: :py.stop_pool(name)

  ## The cluster (docs/cluster.md)

  @doc """
  Every pool of the cluster: this node's and those of the connected nodes,
  each with its `:name`, `:node`, `:kind` and `:size`.

      iex> Enum.any?(Py.pools(), &(&1.name == :default and &1.node == node()))
      true
  """
  @spec pools() :: [%{name: atom(), node: node(), kind: :context | :worker, size: pos_integer()}]
  defdelegate pools(), to: :py

  @doc """
  One call of `target` per element of `list_of_args` (each an argument list),
  spread over the servers (contexts or workers) of the pool `on:`; the
  results in order, `{:ok, value}` or `{:error, %Py.Error{}}` each. Options as
  `:py.map/3`: `:on` (required), `:scope` (`:local` or `:cluster`: every pool
  of that name in the cluster), `:timeout` (per call), `:total_timeout`,
  `:retry` (for idempotent calls: shards whose server died run again
  elsewhere), `:in_flight` (calls per server at a time).

      iex> Py.parallel_map({:math, :sqrt}, [[1], [4], [9]], on: :default)
      {:ok, [{:ok, 1.0}, {:ok, 2.0}, {:ok, 3.0}]}
  """
  @spec parallel_map(target(), [args()], keyword() | map()) ::
          {:ok, [{:ok, term()} | {:error, Py.Error.t()}]} | {:error, Py.Error.t()}
  def parallel_map(target, list_of_args, options) do
    case :py.map(target, list_of_args, options_map(options)) do
      {:ok, results} -> {:ok, Enum.map(results, &shard/1)}
      {:error, reason} -> {:error, Py.Error.exception(reason)}
    end
  end

  @doc """
  The same call on every server of the pool `on:` (to import a module or set
  a seed everywhere): `{:ok, [{{node, pool, n}, result}]}`. Options as
  `parallel_map/3`.

      iex> {:ok, results} = Py.broadcast({:operator, :add}, [1, 2], on: :default)
      iex> Enum.all?(results, fn {{_node, :default, _n}, result} -> result == {:ok, 3} end)
      true
  """
  @spec broadcast(target(), args(), keyword() | map()) ::
          {:ok, [{{node(), atom(), pos_integer()}, {:ok, term()} | {:error, Py.Error.t()}}]}
          | {:error, Py.Error.t()}
  def broadcast(target, args, options) do
    case :py.broadcast(target, args, options_map(options)) do
      {:ok, results} -> {:ok, Enum.map(results, fn {server, r} -> {server, shard(r)} end)}
      {:error, reason} -> {:error, Py.Error.exception(reason)}
    end
  end

  defp shard({:ok, _} = ok), do: ok
  defp shard({:error, reason}), do: {:error, Py.Error.exception(reason)}

  @doc """
  Runs `fun` with every `Py` call in it that gives no `:on` going to `on`
  (a pool, `{pool, n}`, `:dirty`, `{:node, node}`). Blocks nest.

      iex> Py.with_target(:dirty, fn -> Py.call({:operator, :add}, [1, 2]) end)
      {:ok, 3}
  """
  @spec with_target(term(), (() -> result)) :: result when result: var
  defdelegate with_target(on, fun), to: :py

  @doc """
  A handle as a term that can travel to another node (in a message), where
  `handle/1` makes it a handle again, for a minute.

      iex> {:ok, portable} = Py.export(Py.func(:datetime, :date, [2024, 2, 29]))
      iex> {:ok, date} = Py.handle(portable)
      iex> Py.attr(date, :year)
      2024
  """
  @spec export(reference()) :: {:ok, term()} | {:error, term()}
  defdelegate export(handle), to: :py

  @doc """
  The handle of a term made by `export/1`, on this node.
  """
  @spec handle(term()) :: {:ok, reference()} | {:error, term()}
  defdelegate handle(portable), to: :py

  @doc """
  Sets the default timeout, in milliseconds or `:infinity`, of calls that
  give no `:timeout`. The `:call_timeout` application env is read when `:py`
  starts; this changes the default while it runs.

      iex> Py.set_call_timeout(-1)
      {:error, {:bad_option, :timeout}}
  """
  @spec set_call_timeout(timeout()) :: :ok | {:error, {:bad_option, :timeout}}
  defdelegate set_call_timeout(timeout), to: :py

  ## Builtins and operators, generated from one table:
  ## {name, :py function, parameters, description, example, result}

  @builtins [
    {:dict, :dict, [], "An empty `dict()`.", "Py.dict()", "%{}"},
    {:dict, :dict, [:iterable], "`dict(iterable)`: a mapping or pairs.", ~S|Py.dict([{"a", 1}])|,
     ~S|%{"a" => 1}|},
    {:int, :int, [:x], "`int(x)`.", ~S|Py.int("42")|, "42"},
    {:int, :int, [:x, :base_or_kwargs],
     "`int(x, base)`, or `int(x, **kwargs)` with a keyword list or map (`Py.int(\"ff\", 16)` is 255).",
     ~S|Py.int("101010", base: 2)|, "42"},
    {:float, :float, [:x], "`float(x)`.", ~S|Py.float("1.5")|, "1.5"},
    {:str, :str, [:x],
     "`str(x)`: the text of any value; a string or a charlist becomes a binary without Python.",
     "Py.str(42)", ~S|"42"|},
    {:bool, :bool, [:x], "`bool(x)`: Python's truth value.", ~S|Py.bool("")|, "false"},
    {:pylist, :pylist, [], "An empty `list()`.", "Py.pylist()", "[]"},
    {:pylist, :pylist, [:iterable], "`list(iterable)`.", "Py.pylist(Py.range(3))", "[0, 1, 2]"},
    {:tuple, :tuple, [:iterable], "`tuple(iterable)`.", "Py.tuple([1, 2])", "{1, 2}"},
    {:set, :set, [:iterable], "`set(iterable)`; a set comes back as a list, in no set order.",
     "Enum.sort(Py.set([3, 1, 3]))", "[1, 3]"},
    {:len, :len, [:x], "`len(x)`.", ~S|Py.len("héllo")|, "5"},
    {:any, :any, [:iterable], "`any(iterable)`.", "Py.any([0, nil, 3])", "true"},
    {:all, :all, [:iterable], "`all(iterable)`.", "Py.all([1, 0])", "false"},
    {:pow, :pow, [:base, :exp], "`pow(base, exp)`, big integers included.", "Py.pow(6, 42)",
     "481229803398374426442198455156736"},
    {:pow, :pow, [:base, :exp, :mod], "`pow(base, exp, mod)`.", "Py.pow(3, 200, 1000)", "1"},
    {:round, :round, [:x], "`round(x)`: to the nearest integer, ties to even.", "Py.round(2.5)",
     "2"},
    {:round, :round, [:x, :ndigits], "`round(x, ndigits)`.", "Py.round(3.14159, 2)", "3.14"},
    {:abs, :abs, [:x], "`abs(x)`.", "Py.abs(-7)", "7"},
    {:min, :min, [:iterable], "`min(iterable)`.", "Py.min([3, 1, 2])", "1"},
    {:max, :max, [:iterable], "`max(iterable)`.", "Py.max([3, 1, 2])", "3"},
    {:sum, :sum, [:iterable], "`sum(iterable)`.", "Py.sum([1, 2, 3.5])", "6.5"},
    {:sorted, :sorted, [:iterable], "`sorted(iterable)`.", ~S|Py.sorted(["b", "a"])|,
     ~S|["a", "b"]|},
    {:range, :range, [:stop], "`range(stop)`, as a handle.", "Py.len(Py.range(5))", "5"},
    {:range, :range, [:start, :stop], "`range(start, stop)`, as a handle.",
     "Py.len(Py.range(7, 42))", "35"},
    {:range, :range, [:start, :stop, :step], "`range(start, stop, step)`, as a handle.",
     "Py.pylist(Py.range(0, 10, 3))", "[0, 3, 6, 9]"},
    {:type, :type, [:x], "`type(x)`, as a handle.", "Py.repr(Py.type(1.0))",
     ~S|"<class 'float'>"|},
    {:dir, :dir, [:x],
     "`dir(x)`; a long result is cut to its first 28 names and `{:more, count}`; see `pdir/1`.",
     ~S|Enum.take(Py.dir(""), 2)|, ~S|["__add__", "__class__"]|},
    {:pdir, :pdir, [:x], "`dir(x)`, complete.", ~S|"upper" in Py.pdir("")|, "true"},
    {:vars, :vars, [:x],
     "`vars(x)`; a long result keeps its 28 smallest keys and `:\"$more\" => count`; see `pvars/1`.",
     ~S|Py.vars(Py.init("types.SimpleNamespace", [], a: 1))|, ~S|%{"a" => 1}|},
    {:pvars, :pvars, [:x], "`vars(x)`, complete.",
     ~S|Py.pvars(Py.init("types.SimpleNamespace", [], a: 1))|, ~S|%{"a" => 1}|},
    {:repr, :repr, [:x], "`repr(x)`.", ~S|Py.repr("a")|, ~S|"'a'"|},
    {:hash, :hash, [:x], "`hash(x)`.", "Py.hash(42)", "42"},
    {:isinstance, :isinstance, [:x, :class],
     "`isinstance(x, class)`; `class` is a handle or a name, without a dot a builtin.",
     ~S|Py.isinstance(true, :int)|, "true"},
    {:callable, :callable, [:x], "`callable(x)`.", ~S|Py.callable(Py.const(:math, :sqrt))|,
     "true"},
    {:id, :id, [:x], "`id(x)`, the identity of the object.", ~S|is_integer(Py.id(nil))|, "true"},
    {:ascii, :ascii, [:x], "`ascii(x)`.", ~S|Py.ascii("é")|, ~S|"'\\xe9'"|},
    {:bin, :bin, [:x], "`bin(x)`.", "Py.bin(10)", ~S|"0b1010"|},
    {:bool, :bool, [], "`bool()`.", "Py.bool()", "false"},
    {:bytearray, :bytearray, [], "`bytearray()`, a binary.", "Py.bytearray()", ~S|""|},
    {:bytearray, :bytearray, [:source],
     "`bytearray(source)` (a size, a list of bytes), a binary.", "Py.bytearray([104, 105])",
     ~S|"hi"|},
    {:bytearray, :bytearray, [:string, :encoding], "`bytearray(string, encoding)`, a binary.",
     ~S|Py.bytearray("é", "latin-1")|, "<<233>>"},
    {:bytearray, :bytearray, [:string, :encoding, :errors],
     "`bytearray(string, encoding, errors)`, a binary.",
     ~S|Py.bytearray("é", "ascii", "replace")|, ~S|"?"|},
    {:bytes, :bytes, [], "`bytes()`, a binary (`bytes/1` is the marker above).", "Py.bytes()",
     ~S|""|},
    {:bytes, :bytes, [:string, :encoding], "`bytes(string, encoding)`, a binary.",
     ~S|Py.bytes("é", "utf-16-le")|, "<<233, 0>>"},
    {:bytes, :bytes, [:string, :encoding, :errors],
     "`bytes(string, encoding, errors)`, a binary.", ~S|Py.bytes("é", "ascii", "ignore")|,
     ~S|""|},
    {:chr, :chr, [:i], "`chr(i)`.", "Py.chr(955)", ~S|"λ"|},
    {:compile, :compile, [:source, :filename, :mode],
     "`compile(source, filename, mode)`, a handle.",
     ~S|Py.func(:builtins, :eval, [Py.compile("6 * 7", "<ex>", "eval")])|, "42"},
    {:compile, :compile, [:source, :filename, :mode, :kwargs],
     "`compile(source, filename, mode, **kwargs)`, a handle.",
     ~S|Py.attr(Py.compile("x = 1", "<ex>", "exec", dont_inherit: true), :co_filename)|,
     ~S|"<ex>"|},
    {:complex, :complex, [], "`complex()`, a handle.", "Py.repr(Py.complex())", ~S|"0j"|},
    {:complex, :complex, [:x], "`complex(x)`, a handle.", ~S|Py.attr(Py.complex("1+2j"), :imag)|,
     "2.0"},
    {:complex, :complex, [:real, :imag], "`complex(real, imag)`, a handle.",
     "Py.repr(Py.complex(1, 2))", ~S|"(1+2j)"|},
    {:divmod, :divmod, [:a, :b], "`divmod(a, b)`.", "Py.divmod(-7, 2)", "{-4, 1}"},
    {:enumerate, :enumerate, [:iterable], "`enumerate(iterable)`, as a list.",
     "Py.enumerate([:a, :b])", "[{0, :a}, {1, :b}]"},
    {:enumerate, :enumerate, [:iterable, :start], "`enumerate(iterable, start)`, as a list.",
     "Py.enumerate([:a, :b], 1)", "[{1, :a}, {2, :b}]"},
    {:filter, :filter, [:function, :iterable],
     "`filter(function, iterable)`, as a list; `function` is a callable (a handle, a function) or `nil`.",
     ~S|Py.filter(nil, [0, 1, "", "a"])|, ~S|[1, "a"]|},
    {:float, :float, [], "`float()`.", "Py.float()", "0.0"},
    {:format, :format, [:x], "`format(x)`.", "Py.format(1.5)", ~S|"1.5"|},
    {:format, :format, [:x, :spec], "`format(x, spec)`.", ~S|Py.format(3.14159, ".2f")|,
     ~S|"3.14"|},
    {:frozenset, :frozenset, [], "`frozenset()`, as a list.", "Py.frozenset()", "[]"},
    {:frozenset, :frozenset, [:iterable], "`frozenset(iterable)`, as a list in no set order.",
     "Enum.sort(Py.frozenset([3, 1, 3]))", "[1, 3]"},
    {:getattr, :getattr, [:object, :name], "`getattr(object, name)`.", "Py.getattr(1, :real)",
     "1"},
    {:getattr, :getattr, [:object, :name, :default], "`getattr(object, name, default)`.",
     "Py.getattr(1, :nope, 0)", "0"},
    {:hasattr, :hasattr, [:object, :name], "`hasattr(object, name)`.", "Py.hasattr(1, :real)",
     "true"},
    {:help, :help, [:x], "`help(x)`: the text goes to the caller's group leader.",
     ~S|ExUnit.CaptureIO.capture_io(fn -> Py.help("len") end) =~ "len(obj, /)"|, "true"},
    {:hex, :hex, [:x], "`hex(x)`.", "Py.hex(255)", ~S|"0xff"|},
    {:issubclass, :issubclass, [:class, :base],
     "`issubclass(class, base)`; each a handle or a name, without a dot a builtin.",
     "Py.issubclass(:bool, :int)", "true"},
    {:iter, :iter, [:iterable], "`iter(iterable)`, always a handle.", "Py.next(Py.iter([1, 2]))",
     "1"},
    {:iter, :iter, [:callable, :sentinel],
     "`iter(callable, sentinel)`, always a handle: calls `callable` until it returns `sentinel`.",
     "Py.pylist(Py.iter(Py.attr(Py.iter([1, 2, 0, 3]), :__next__), 0))", "[1, 2]"},
    {:map, :map, [:function, :iterable],
     "`map(function, iterable)`, as a list; `function` is a Python callable (a handle) or a function.",
     "Py.map(&(&1 * 2), [1, 2])", "[2, 4]"},
    {:map, :map, [:function, :iterable1, :iterable2], "`map(function, iterable1, iterable2)`.",
     "Py.map(Py.const(:operator, :add), [1, 2], [10, 20])", "[11, 22]"},
    {:max, :max, [:a, :b], "`max(a, b)`.", "Py.max(1, 2)", "2"},
    {:max, :max, [:a, :b, :c], "`max(a, b, c)`.", "Py.max(1, 3, 2)", "3"},
    {:max, :max, [:a, :b, :c, :d], "`max(a, b, c, d)`.", "Py.max(1, 4, 3, 2)", "4"},
    {:memoryview, :memoryview, [:x], "`memoryview(x)`, a handle.",
     "Py.len(Py.memoryview(Py.bytes(<<1, 2>>)))", "2"},
    {:min, :min, [:a, :b], "`min(a, b)`.", "Py.min(2, 1)", "1"},
    {:min, :min, [:a, :b, :c], "`min(a, b, c)`.", "Py.min(3, 1, 2)", "1"},
    {:min, :min, [:a, :b, :c, :d], "`min(a, b, c, d)`.", "Py.min(4, 1, 3, 2)", "1"},
    {:next, :next, [:iterator], "`next(iterator)`; raises at the end (`StopIteration`).",
     "Py.next(Py.iter([1, 2]))", "1"},
    {:next, :next, [:iterator, :default], "`next(iterator, default)`.",
     "Py.next(Py.iter([]), :done)", ":done"},
    {:object, :object, [], "`object()`, a handle.", "Py.repr(Py.type(Py.object()))",
     ~S|"<class 'object'>"|},
    {:oct, :oct, [:x], "`oct(x)`.", "Py.oct(8)", ~S|"0o10"|},
    {:open, :open, [:file], "`open(file)`, a file object (a handle).",
     ~S|Py.method(Py.open("/dev/null"), :read)|, ~S|""|},
    {:open, :open, [:file, :kwargs], "`open(file, **kwargs)`, a handle.",
     ~S|Py.method(Py.open("/dev/null", mode: "rb"), :read)|, ~S|""|},
    {:ord, :ord, [:char], "`ord(char)`.", ~S|Py.ord("λ")|, "955"},
    {:print, :print, [:x], "`print(x)`, to the caller's group leader.",
     ~S|ExUnit.CaptureIO.capture_io(fn -> Py.print("hi") end)|, ~S|"hi\n"|},
    {:print, :print, [:x, :kwargs], "`print(x, **kwargs)`.",
     ~S|ExUnit.CaptureIO.capture_io(fn -> Py.print("hi", %{"end" => "!"}) end)|, ~S|"hi!"|},
    {:property, :property, [:kwargs], "`property(**kwargs)`, a handle.",
     ~S|Py.attr(Py.property(doc: "d"), :__doc__)|, ~S|"d"|},
    {:reversed, :reversed, [:sequence], "`reversed(sequence)`, as a list.",
     "Py.reversed([1, 2, 3])", "[3, 2, 1]"},
    {:set, :set, [], "`set()`, as a list.", "Py.set()", "[]"},
    {:slice, :slice, [:stop], "`slice(stop)`, a handle, for `getitem/2`.",
     "Py.getitem([1, 2, 3], Py.slice(2))", "[1, 2]"},
    {:slice, :slice, [:start, :stop], "`slice(start, stop)`, a handle.",
     ~S|Py.getitem("hello", Py.slice(1, 3))|, ~S|"el"|},
    {:slice, :slice, [:start, :stop, :step], "`slice(start, stop, step)`, a handle.",
     "Py.getitem([1, 2, 3], Py.slice(nil, nil, -1))", "[3, 2, 1]"},
    {:sorted, :sorted, [:iterable, :kwargs], "`sorted(iterable, **kwargs)` (`key`, `reverse`).",
     "Py.sorted([1, 3, 2], reverse: true)", "[3, 2, 1]"},
    {:sorted, :sorted, [:iterable, :key, :reverse],
     "`sorted(iterable, key=key, reverse=reverse)`; `key` is a callable or `nil`.",
     "Py.sorted([{1, :b}, {2, :a}], Py.itemgetter(1), false)", "[{2, :a}, {1, :b}]"},
    {:str, :str, [:x, :kwargs], "`str(x, **kwargs)` (`encoding`, `errors`).",
     ~S|Py.str(Py.bytes(<<233>>), encoding: "latin-1")|, ~S|"é"|},
    {:sum, :sum, [:iterable, :start], "`sum(iterable, start)`.", "Py.sum([[1], [2]], [])",
     "[1, 2]"},
    {:super, :super, [:class], "`super(class)`, a handle.", "Py.repr(Py.super(Py.type(true)))",
     ~S|"<super: <class 'bool'>, NULL>"|},
    {:super, :super, [:class, :object], "`super(class, object)`, a handle.",
     "Py.method(Py.super(Py.type(true), true), :__repr__)", ~S|"1"|},
    {:tuple, :tuple, [], "`tuple()`.", "Py.tuple()", "{}"},
    {:type, :type, [:name, :bases, :dict], "`type(name, bases, dict)`: a new class, a handle.",
     ~S|Py.attr(Py.type("Point", {}, %{x: 0}), :x)|, "0"},
    {:zip, :zip, [:iterable], "`zip(iterable)`, as a list.", "Py.zip([1, 2])", "[{1}, {2}]"},
    {:zip, :zip, [:iterable1, :iterable2], "`zip(iterable1, iterable2)`, as a list.",
     "Py.zip([1, 2], [:a, :b])", "[{1, :a}, {2, :b}]"},
    {:zip, :zip, [:iterable1, :iterable2, :iterable3], "`zip(iterable1, iterable2, iterable3)`.",
     "Py.zip([1], [:a], [:x])", "[{1, :a, :x}]"},
    # The operator module.
    {:add, :add, [:a, :b], "`a + b`.", "Py.add(1, 2)", "3"},
    {:sub, :sub, [:a, :b], "`a - b`.", "Py.sub(1, 2)", "-1"},
    {:mul, :mul, [:a, :b], "`a * b`.", ~S|Py.mul("ab", 2)|, ~S|"abab"|},
    {:truediv, :truediv, [:a, :b], "`a / b`.", "Py.truediv(7, 2)", "3.5"},
    {:floordiv, :floordiv, [:a, :b], "`a // b`.", "Py.floordiv(-7, 2)", "-4"},
    {:mod, :mod, [:a, :b], "`a % b`: the sign of `b`, unlike `rem/2`.", "Py.mod(-7, 3)", "2"},
    {:neg, :neg, [:a], "`-a`.", "Py.neg(5)", "-5"},
    {:pos, :pos, [:a], "`+a`.", "Py.pos(-5)", "-5"},
    {:inv, :inv, [:a], "`~a`.", "Py.inv(5)", "-6"},
    {:lshift, :lshift, [:a, :b], "`a << b`.", "Py.lshift(1, 100)",
     "1267650600228229401496703205376"},
    {:rshift, :rshift, [:a, :b], "`a >> b`.", "Py.rshift(1024, 3)", "128"},
    {:and_, :"and-", [:a, :b], "`a & b` (`py:'and-'/2`).", "Py.and_(60, 13)", "12"},
    {:or_, :"or-", [:a, :b], "`a | b` (`py:'or-'/2`).", "Py.or_(60, 13)", "61"},
    {:xor, :xor, [:a, :b], "`a ^ b`.", "Py.xor(60, 13)", "49"},
    {:eq, :eq, [:a, :b], "`a == b`.", "Py.eq(1, 1.0)", "true"},
    {:ne, :ne, [:a, :b], "`a != b`.", "Py.ne(1, 2)", "true"},
    {:lt, :lt, [:a, :b], "`a < b`.", "Py.lt([1, 2], [1, 3])", "true"},
    {:le, :le, [:a, :b], "`a <= b`.", "Py.le(2, 2)", "true"},
    {:gt, :gt, [:a, :b], "`a > b`.", ~S|Py.gt("b", "a")|, "true"},
    {:ge, :ge, [:a, :b], "`a >= b`.", "Py.ge(1, 2)", "false"},
    {:not_, :"not-", [:a], "`not a` (`py:'not-'/1`).", "Py.not_([])", "true"},
    {:contains, :contains, [:a, :b], "`b in a`.", ~S|Py.contains("hello", "ell")|, "true"},
    {:getitem, :getitem, [:a, :b], "`a[b]`.", ~S|Py.getitem(%{"k" => [1, 2]}, "k")|, "[1, 2]"},
    {:concat, :concat, [:a, :b], "`a + b` for sequences.", "Py.concat([1], [2])", "[1, 2]"},
    {:is, :is, [:a, :b], "`a is b`.", "Py.is(nil, nil)", "true"},
    {:is_not, :is_not, [:a, :b], "`a is not b`.", "Py.is_not(1, nil)", "true"},
    {:truth, :truth, [:a], "`bool(a)`.", "Py.truth([1])", "true"},
    {:index, :index, [:a], "`a` as an integer (`operator.index`).", "Py.index(true)", "1"},
    {:invert, :invert, [:a], "`~a`, as `inv/1`.", "Py.invert(60)", "-61"},
    {:count_of, :countOf, [:a, :b], "How often `b` is in `a` (`operator.countOf`).",
     "Py.count_of([1, 2, 1], 1)", "2"},
    {:index_of, :indexOf, [:a, :b], "Where `b` first is in `a` (`operator.indexOf`).",
     "Py.index_of([:a, :b], :b)", "1"},
    {:length_hint, :length_hint, [:a], "`operator.length_hint(a)`.",
     "Py.length_hint(Py.iter([1, 2]))", "2"},
    {:length_hint, :length_hint, [:a, :default], "`operator.length_hint(a, default)`.",
     "Py.length_hint(Py.object(), 7)", "7"},
    {:attrgetter, :attrgetter, [:name], "`operator.attrgetter(name)`, a callable (a handle).",
     "Py.map(Py.attrgetter(:imag), [1, 2])", "[0, 0]"},
    {:itemgetter, :itemgetter, [:item], "`operator.itemgetter(item)`, a callable (a handle).",
     "Py.map(Py.itemgetter(0), [{:a, 1}, {:b, 2}])", "[:a, :b]"},
    {:methodcaller, :methodcaller, [:name], "`operator.methodcaller(name)`, a callable.",
     ~S|Py.map(Py.methodcaller(:upper), ["a"])|, ~S|["A"]|},
    {:methodcaller, :methodcaller, [:name, :arg], "`operator.methodcaller(name, arg)`.",
     ~S|Py.map(Py.methodcaller(:split, ","), ["a,b"])|, ~S|[["a", "b"]]|}
  ]

  for {name, erlang_name, params, text, example, result} <- @builtins do
    vars = Enum.map(params, &Macro.var(&1, nil))
    types = Enum.map(params, fn _ -> quote(do: term()) end)

    @doc """
    #{text} Raises `Py.Error` when Python raises.

        iex> #{example}
        #{result}
    """
    @spec unquote(name)(unquote_splicing(types)) :: term()
    def unquote(name)(unquote_splicing(vars)),
      do: raising(:py.unquote(erlang_name)(unquote_splicing(vars)))
  end

  ## Helpers

  # None comes back as nil: the NIF converts it so, as it converts the result.
  defp options_map(options) when is_list(options) do
    # A keyword list keeps its first value for a repeated key; a map keeps the last.
    if Keyword.keyword?(options),
      do: options |> Enum.reverse() |> Map.new() |> Map.put_new(:none, nil),
      else: options
  end

  defp options_map(options) when is_map(options), do: Map.put_new(options, :none, nil)
  defp options_map(options), do: options

  defp bindings_map(bindings) when is_list(bindings), do: Map.new(bindings)
  defp bindings_map(bindings), do: bindings

  # py's own error reasons (the vocabulary is :py_error's) become Py.Error; a
  # misused argument ({:bad_name, _}, {:bad_binding, _}, badarg, ...) stays an
  # ErlangError, like any other misuse of a function.
  defp raise_error(reason, stacktrace) do
    if :py_error.is_reason(reason),
      do: py_raise(reason, stacktrace),
      else: :erlang.raise(:error, reason, stacktrace)
  end

  defp py_raise(reason, stacktrace), do: reraise(Py.Error.exception(reason), stacktrace)
end
