defmodule PyTest do
  use ExUnit.Case, async: true

  doctest Py
  doctest Py.Error

  # The last line of a Python traceback: the short class name and the message.
  defp last_line(%Py.Error{traceback: traceback}), do: List.last(traceback)

  describe "func" do
    test "every arity, module and dotted names, atoms and strings" do
      assert Py.func(:math, :pow, [2, 16]) === 65536.0
      assert Py.func("math", "pow", [2, 16]) === 65536.0
      assert Py.func(:"math.pow", [2, 16]) === 65536.0
      assert Py.func("os.path", :isdir, ["/tmp"]) === true
      assert Py.func(:"os.path", :join, ["a", "b", "c"]) === "a/b/c"
      assert Py.func(:os, :getcwd) === File.cwd!()
      assert Py.func("os.getcwd") === File.cwd!()
      assert Py.func(:builtins, :int, ["ff"], base: 16) === 255
      assert Py.func(:builtins, :int, ["ff"], %{base: 16}) === 255
      assert Py.func(:builtins, :int, ["ff"], %{"base" => 16}) === 255
      assert Py.func("builtins.int", ["ff"], base: 16) === 255
      assert Py.func(:builtins, :sorted, [[3, 1, 2]], reverse: true) === [3, 2, 1]
    end

    test "a name without a module is a builtin, and numpy works when installed" do
      assert Py.func(:len, [[1, 2, 3]]) === 3
      assert Py.func(:numpy, :sum, [[1, 2, 3]]) === 6
    end
  end

  describe "const" do
    test "every arity and the casts" do
      assert Py.const(:math, :pi) === 3.141592653589793
      assert Py.const("math.pi") === 3.141592653589793
      assert Py.const(:"os.path", :sep) === "/"
      assert Py.const(:math, :pi, :int) === 3
      assert Py.const(:math, :pi, :float) === 3.141592653589793
      assert Py.const(:math, :pi, :str) === "3.141592653589793"
      assert Py.const(:sys, :maxsize, :float) === 9.223372036854776e18
    end
  end

  describe "init, method, attr, pycall" do
    test "instances are handles; methods and attributes work on them" do
      date = Py.init(:datetime, :date, [1923, 4, 2])
      assert is_reference(date)
      assert Py.attr(date, :year) === 1923
      assert Py.method(date, :isoformat) === "1923-04-02"
      assert Py.method(date, :strftime, ["%d/%m/%Y"]) === "02/04/1923"
      assert Py.repr(Py.method(date, :replace, [], day: 9)) === "datetime.date(1923, 4, 9)"
      assert Py.repr(Py.init("datetime.date", [2000, 1, 31])) === "datetime.date(2000, 1, 31)"
      assert Py.attr(Py.init("datetime.timedelta", [], minutes: 2), :seconds) === 120
      assert Py.attr(Py.init(:datetime, :timedelta, [1], hours: 1), :days) === 1
      assert Py.repr(Py.init("fractions.Fraction")) === "Fraction(0, 1)"
      assert Py.repr(Py.init(:fractions, :Fraction, [6, 4])) === "Fraction(3, 2)"
      # An instance of a dict subclass is plain data: a map.
      assert Py.init("collections.Counter", ["abca"]) === %{"a" => 2, "b" => 1, "c" => 1}
      assert Py.init(:collections, :OrderedDict) === %{}
    end

    test "methods on plain data" do
      assert Py.method("a,b", :split, [","]) === ["a", "b"]
      assert Py.method("abc", :upper) === "ABC"
      assert Py.method(%{"k" => 1}, :get, ["missing", nil]) === nil
    end

    test "pycall walks a dotted path inside a module" do
      assert Py.pycall(:os, "path.join", ["x", "y"]) === "x/y"
      now = Py.pycall(:datetime, "datetime.now")
      assert is_reference(now)
      assert Py.attr(now, :year) === Date.utc_today().year
    end

    test "the datetime example" do
      now = Py.func("datetime.datetime", :now)
      year = Py.attr(now, :year)
      assert is_integer(year)
      assert Py.method(now, :strftime, ["%Y"]) === Integer.to_string(year)

      later = Py.add(now, Py.init(:datetime, :timedelta, [], seconds: 42))
      delta = Py.sub(later, now)
      assert is_reference(delta)
      assert Py.attr(delta, :seconds) === 42
      assert Py.attr(delta, :days) === 0
      assert Py.method(delta, :total_seconds) === 42.0
      assert Py.gt(later, now) === true
    end
  end

  describe "builtins agree with Python" do
    test "each builtin against the value Python computes" do
      for {result, python} <- [
            {Py.dict(), "dict()"},
            {Py.dict([{"a", 1}, {"b", 2}]), "dict([('a', 1), ('b', 2)])"},
            {Py.int("42"), "int('42')"},
            {Py.int(-3.9), "int(-3.9)"},
            {Py.int("777", 8), "int('777', 8)"},
            {Py.float("1e3"), "float('1e3')"},
            {Py.float(2), "float(2)"},
            {Py.str(42), "str(42)"},
            {Py.str(1.5), "str(1.5)"},
            {Py.bool([]), "bool([])"},
            {Py.bool("x"), "bool('x')"},
            {Py.pylist(), "list()"},
            {Py.pylist({1, 2}), "list((1, 2))"},
            {Py.tuple([1, [2]]), "tuple([1, [2]])"},
            {Py.set([7, 7]), "list(set([7, 7]))"},
            {Py.len("héllo"), "len('h\\u00e9llo')"},
            {Py.len(%{a: 1, b: 2}), "len({1: 1, 2: 2})"},
            {Py.any([0, "", nil]), "any([0, '', None])"},
            {Py.all([1, "x"]), "all([1, 'x'])"},
            {Py.pow(6, 42), "pow(6, 42)"},
            {Py.pow(2, -1), "pow(2, -1)"},
            {Py.pow(7, 300, 13), "pow(7, 300, 13)"},
            {Py.round(2.5), "round(2.5)"},
            {Py.round(3.5), "round(3.5)"},
            {Py.round(2.675, 2), "round(2.675, 2)"},
            {Py.abs(-Integer.pow(2, 70)), "abs(-2 ** 70)"},
            {Py.min([3, -1, 2]), "min([3, -1, 2])"},
            {Py.max(["b", "c", "a"]), "max(['b', 'c', 'a'])"},
            {Py.sum([0.1, 0.2]), "sum([0.1, 0.2])"},
            {Py.sorted([3, 1, 2]), "sorted([3, 1, 2])"},
            {Py.pylist(Py.range(4)), "list(range(4))"},
            {Py.len(Py.range(7, 42)), "len(range(7, 42))"},
            {Py.pylist(Py.range(7, 42)), "list(range(7, 42))"},
            {Py.pylist(Py.range(10, 0, -3)), "list(range(10, 0, -3))"},
            {Py.repr(Py.type(1)), "repr(type(1))"},
            {Py.repr(Py.type("s")), "repr(type('s'))"},
            {Py.pdir(1), "dir(1)"},
            {Py.pvars(Py.init("types.SimpleNamespace", [], a: 1, b: 2)),
             "vars(__import__('types').SimpleNamespace(a=1, b=2))"},
            {Py.repr("it's"), "repr(\"it's\")"},
            {Py.repr([1, nil]), "repr([1, None])"},
            {Py.hash(12345), "hash(12345)"},
            {Py.hash("abc"), "hash('abc')"},
            {Py.isinstance(true, :int), "isinstance(True, int)"},
            {Py.isinstance(1, :str), "isinstance(1, str)"},
            {Py.isinstance(Py.init(:fractions, :Fraction), "fractions.Fraction"), "True"},
            {Py.isinstance(Py.init(:fractions, :Fraction), Py.const(:numbers, :Rational)),
             "True"},
            {Py.callable(Py.const(:math, :sqrt)), "callable(__import__('math').sqrt)"},
            {Py.callable(1), "callable(1)"}
          ] do
        assert result === Py.eval(python), "#{python}: #{inspect(result)}"
      end
    end

    test "exact values, big integers included" do
      assert Py.pow(6, 42) === 481_229_803_398_374_426_442_198_455_156_736
      assert Py.pow(6, 42) === Integer.pow(6, 42)
      assert Py.pow(2, 200) === Integer.pow(2, 200)
      assert Py.pow(2, -1) === 0.5
      assert Py.pow(3, 200, 1000) === rem(Integer.pow(3, 200), 1000)
      assert Py.len(Py.range(7, 42)) === 35
      assert Py.pylist(Py.range(7, 42)) === Enum.to_list(7..41)
      assert is_reference(Py.range(7, 42))
      assert Py.round(2.5) === 2
      assert Py.round(2.675, 2) === 2.67
      assert Py.sum(Enum.to_list(1..100)) === 5050
      assert Py.len(Py.buffer("abcd")) === 4
      assert Py.int("ff", 16) === 255
    end

    test "dir and vars elide long results; pdir and pvars do not" do
      full = Py.pdir("")
      assert length(full) > 28
      assert Py.dir("") === Enum.take(full, 28) ++ [{:more, length(full) - 28}]
      few = Py.eval("type('Few', (), {'__dir__': lambda self: ['b', 'a']})()")
      assert Py.dir(few) === ["a", "b"]
      assert Py.pdir(few) === ["a", "b"]

      ns = Py.init("types.SimpleNamespace", [], Enum.map(1..30, &{:"k#{&1}", &1}))
      all = Py.pvars(ns)
      assert map_size(all) === 30
      short = Py.vars(ns)
      assert map_size(short) === 29
      assert short[:"$more"] === 2

      assert Map.delete(short, :"$more") ===
               Map.take(all, all |> Map.keys() |> Enum.sort() |> Enum.take(28))
    end

    test "vars of a module: the documented example" do
      all = Py.pvars(Py.import(:os))
      assert map_size(all) > 28
      assert all["sep"] === "/"
      assert Py.vars(Py.import(:os))[:"$more"] === map_size(all) - 28
    end

    test "id is the identity of the object" do
      none_id = Py.id(nil)
      assert is_integer(none_id)
      assert none_id === Py.eval("id(None)")
    end
  end

  describe "LFE py's builtins and operators" do
    test "each against the value Python computes" do
      abs = Py.const(:builtins, :abs)

      for {result, python} <- [
            {Py.int("101010", base: 2), "int('101010', base=2)"},
            {Py.int("101010", %{"base" => 2}), "int('101010', base=2)"},
            {Py.bool(), "bool()"},
            {Py.bytes("é", "utf-16-le"), "'é'.encode('utf-16-le')"},
            {Py.bytearray(3), "bytes(3)"},
            {Py.chr(955), "chr(955)"},
            {Py.ord("λ"), "ord('λ')"},
            {Py.hex(-255), "hex(-255)"},
            {Py.divmod(-7.5, 2), "divmod(-7.5, 2)"},
            {Py.enumerate("ab", 3), "list(enumerate('ab', 3))"},
            {Py.filter(abs, [0, -1]), "list(filter(abs, [0, -1]))"},
            {Py.map(abs, [-1, -2]), "list(map(abs, [-1, -2]))"},
            {Py.zip([1, 2], "ab"), "list(zip([1, 2], 'ab'))"},
            {Py.reversed("abc"), "list(reversed('abc'))"},
            {Py.max(1, 5, 3), "max(1, 5, 3)"},
            {Py.min("b", "a"), "min('b', 'a')"},
            {Py.sorted(["b", "A", "c"], key: Py.methodcaller(:lower)),
             "sorted(['b', 'A', 'c'], key=str.lower)"},
            {Py.sum([1, 2], 0.5), "sum([1, 2], 0.5)"},
            {Py.format(255, "x"), "format(255, 'x')"},
            {Py.frozenset([2, 2]), "list(frozenset([2, 2]))"},
            {Py.getattr(2, :imag, nil), "(2).imag"},
            {Py.issubclass("datetime.datetime", "datetime.date"),
             "issubclass(__import__('datetime').datetime, __import__('datetime').date)"},
            {Py.truth(""), "bool('')"},
            {Py.count_of("banana", "a"), "'banana'.count('a')"},
            {Py.index_of([3, 4], 4), "[3, 4].index(4)"},
            {Py.length_hint([1, 2, 3]), "__import__('operator').length_hint([1, 2, 3])"},
            {Py.map(Py.itemgetter(1), [[1, 2]]),
             "list(map(__import__('operator').itemgetter(1), [[1, 2]]))"}
          ] do
        assert result === Py.eval(python), "#{python}: got #{inspect(result)}"
      end
    end

    test "iterators: iter gives a handle, next walks it" do
      iterator = Py.iter([1, 2])
      assert is_reference(iterator)
      assert Py.next(iterator) === 1
      assert Py.next(iterator) === 2
      assert Py.next(iterator, :done) === :done
      error = assert_raise Py.Error, fn -> Py.next(iterator) end
      assert error.type === "builtins.StopIteration"
    end
  end

  describe "operators agree with Python" do
    test "each operator against the value Python computes" do
      for {result, python} <- [
            {Py.add(1, 2), "1 + 2"},
            {Py.add("a", "b"), "'a' + 'b'"},
            {Py.sub(10, 2.5), "10 - 2.5"},
            {Py.mul([1], 3), "[1] * 3"},
            {Py.truediv(7, 2), "7 / 2"},
            {Py.floordiv(-7, 2), "-7 // 2"},
            {Py.mod(-7, 3), "-7 % 3"},
            {Py.mod("%s!", "hi"), "'%s!' % 'hi'"},
            {Py.neg(5), "-5"},
            {Py.pos(-5), "+(-5)"},
            {Py.abs(-3.5), "abs(-3.5)"},
            {Py.inv(5), "~5"},
            {Py.inv(-Integer.pow(2, 80)), "~(-2 ** 80)"},
            {Py.lshift(1, 100), "1 << 100"},
            {Py.rshift(Integer.pow(2, 100), 98), "2 ** 100 >> 98"},
            {Py.and_(60, 13), "60 & 13"},
            {Py.or_(60, 13), "60 | 13"},
            {Py.xor(60, 13), "60 ^ 13"},
            {Py.eq(1, 1.0), "1 == 1.0"},
            {Py.ne("a", "a"), "'a' != 'a'"},
            {Py.lt(1, 2), "1 < 2"},
            {Py.le(2, 2), "2 <= 2"},
            {Py.gt([1, 2], [1]), "[1, 2] > [1]"},
            {Py.ge(1, 2), "1 >= 2"},
            {Py.not_(0), "not 0"},
            {Py.not_([1]), "not [1]"},
            {Py.contains([1, 2, 3], 2), "2 in [1, 2, 3]"},
            {Py.contains("hello", "z"), "'z' in 'hello'"},
            {Py.getitem([10, 20, 30], -1), "[10, 20, 30][-1]"},
            {Py.getitem(%{"k" => "v"}, "k"), "{'k': 'v'}['k']"},
            {Py.concat([1], [2, 3]), "[1] + [2, 3]"},
            {Py.is(nil, nil), "None is None"},
            {Py.is_not(1, nil), "[1][0] is not None"}
          ] do
        assert result === Py.eval(python), "#{python}: #{inspect(result)}"
      end
    end

    test "exact values" do
      assert Py.and_(60, 13) === 12
      assert Py.or_(60, 13) === 61
      assert Py.xor(60, 13) === 49
      assert Py.inv(60) === -61
      assert Py.lshift(60, 2) === 240
      assert Py.rshift(60, 2) === 15
      assert Py.lshift(1, 100) === Integer.pow(2, 100)
      assert Py.floordiv(-7, 2) === -4
      assert Py.mod(-7, 3) === 2
    end
  end

  describe "errors" do
    test "a missing module" do
      error = assert_raise Py.Error, fn -> Py.func(:no_such_module_py_test, :f) end
      assert error.type === "builtins.ModuleNotFoundError"
      assert error.message === "No module named 'no_such_module_py_test'"

      assert last_line(error) ===
               "ModuleNotFoundError: No module named 'no_such_module_py_test'"

      assert error.reason === {:python, error.type, error.message, error.traceback}
    end

    test "a missing attribute" do
      error = assert_raise Py.Error, fn -> Py.func(:math, :no_such_function) end
      assert error.type === "builtins.AttributeError"
      assert error.message === "module 'math' has no attribute 'no_such_function'"

      assert last_line(error) ===
               "AttributeError: module 'math' has no attribute 'no_such_function'"

      error =
        assert_raise Py.Error, fn -> Py.attr(Py.init(:datetime, :date, [2000, 1, 1]), :hour) end

      assert error.type === "builtins.AttributeError"
      assert error.message === "'datetime.date' object has no attribute 'hour'"
    end

    test "a call with the wrong number of arguments" do
      error = assert_raise Py.Error, fn -> Py.func(:math, :sqrt, [1, 2]) end
      assert error.type === "builtins.TypeError"
      assert error.message === "math.sqrt() takes exactly one argument (2 given)"
      assert last_line(error) === "TypeError: math.sqrt() takes exactly one argument (2 given)"
    end

    test "a bad option" do
      assert {:error, %Py.Error{type: nil, traceback: [], reason: {:bad_option, :colour}} = error} =
               Py.call({:math, :sqrt}, [4], [], colour: :red)

      assert Exception.message(error) === "bad option: :colour"

      assert {:error, %Py.Error{reason: {:bad_option, :timeout}}} =
               Py.call({:math, :sqrt}, [4], [], %{timeout: -1})

      assert {:error, %Py.Error{reason: {:bad_option, :return}}} =
               Py.call({:math, :sqrt}, [4], [], return: :maybe)

      error = assert_raise Py.Error, fn -> Py.call!({:math, :sqrt}, [4], [], colour: :red) end
      assert error.reason === {:bad_option, :colour}
    end

    test "a call before py starts says how to start it" do
      message = Exception.message(Py.Error.exception(:not_started))
      assert message =~ "py is not started"
      assert message =~ "Application.ensure_all_started(:py)"
    end

    test "the cluster's reasons read as sentences" do
      assert Exception.message(Py.Error.exception({:node_down, :py@gpu})) ===
               "node py@gpu went down or cannot be reached"

      assert Exception.message(Py.Error.exception({:namespace_lost, :gpu})) =~
               "namespace for pool gpu was on a pool that is gone"
    end

    test "the traceback shows where Python raised, and the message shows the traceback" do
      error = assert_raise Py.Error, fn -> Py.eval("(lambda: 1 // 0)()") end
      assert error.type === "builtins.ZeroDivisionError"
      assert error.message === "integer division or modulo by zero"
      assert hd(error.traceback) === "Traceback (most recent call last):"
      assert last_line(error) === "ZeroDivisionError: integer division or modulo by zero"
      assert Enum.any?(error.traceback, &(&1 =~ "in <lambda>"))

      assert Exception.message(error) ===
               "builtins.ZeroDivisionError: integer division or modulo by zero\n\nPython traceback:\n" <>
                 Enum.join(error.traceback, "\n")
    end

    test "a malformed argument is not a Python error and keeps its own class" do
      error = assert_raise ErlangError, fn -> Py.eval("1", %{1 => 2}) end
      assert error.original === {:bad_binding, 1}
    end
  end

  describe "call and call!" do
    test "every target shape" do
      assert Py.call({:math, :pow}, [2, 16]) === {:ok, 65536.0}
      assert Py.call("math.pow", [2, 16]) === {:ok, 65536.0}
      assert Py.call(:"os.getcwd") === {:ok, File.cwd!()}
      assert Py.call({"builtins", "int"}, ["ff"], base: 16) === {:ok, 255}
      date = Py.init(:datetime, :date, [1923, 4, 2])
      assert Py.call({date, :isoformat}) === {:ok, "1923-04-02"}

      assert Py.call({date, :replace}, [], [year: 1924], return: :handle) |> elem(1) |> Py.repr() ===
               "datetime.date(1924, 4, 2)"
    end

    test "options: return, timeout, on" do
      assert {:ok, handle} = Py.call("builtins.list", [[1, nil]], [], return: :handle)
      assert is_reference(handle)
      assert Py.value(handle) === [1, nil]
      assert Py.call("builtins.list", [[1]], [], %{return: :term}) === {:ok, [1]}
      assert Py.call("math.sqrt", [16], [], timeout: 2000, on: :dirty) === {:ok, 4.0}

      assert {:error, %Py.Error{reason: :timeout, type: nil, message: "timeout"}} =
               Py.call("builtins.exec", ["while True: pass", %{}], [], timeout: 100)

      error = assert_raise Py.Error, fn -> Py.exec("while True: pass", %{}, timeout: 100) end
      assert {error.reason, error.type, error.traceback} === {:timeout, nil, []}

      assert Py.call("math.sqrt", [16], [], timeout: :infinity) === {:ok, 4.0}
    end

    test "set_call_timeout changes the default timeout" do
      {:ok, %{timeout: old}} = :py_exec.validate_opts(%{})

      try do
        assert Py.set_call_timeout(100) === :ok

        assert {:error, %Py.Error{reason: :timeout}} =
                 Py.call("builtins.exec", ["while True: pass", %{}])

        assert Py.set_call_timeout(:soon) === {:error, {:bad_option, :timeout}}
        assert {:ok, %{timeout: 100}} = :py_exec.validate_opts(%{})
      after
        :ok = Py.set_call_timeout(old)
      end

      assert Py.call("math.sqrt", [16]) === {:ok, 4.0}
    end

    test "errors come back as Py.Error structs; call! raises them" do
      assert {:error, %Py.Error{} = error} = Py.call({:math, :sqrt}, [-1])
      assert error.type === "builtins.ValueError"
      assert error.message === "math domain error"
      assert last_line(error) === "ValueError: math domain error"

      raised = assert_raise Py.Error, fn -> Py.call!({:math, :sqrt}, [-1]) end
      assert raised === error

      assert Exception.message(raised) =~
               "builtins.ValueError: math domain error\n\nPython traceback:\n"

      assert Exception.message(raised) =~ "ValueError: math domain error"

      assert Py.call!("math.sqrt", [16]) === 4.0
      assert Py.call!({:builtins, :int}, ["11"], base: 2) === 3
    end
  end

  describe "nil and None" do
    test "nil goes to Python as None" do
      assert Py.eval("x is None", %{x: nil}) === true
      assert Py.func(:json, :dumps, [[nil, %{"k" => nil}]]) === ~S|[null, {"k": null}]|
    end

    test "None comes back as nil, at any depth" do
      assert Py.eval("None") === nil
      assert Py.func(:json, :loads, ["null"]) === nil

      assert Py.eval("[None, (None, 1), {None: None, 'a': [None]}]") === [
               nil,
               {nil, 1},
               %{nil => nil, "a" => [nil]}
             ]

      assert Py.call("json.loads", ["[null]"]) === {:ok, [nil]}
      assert Py.method(%{}, :get, ["k"]) === nil
      assert Py.exec("x = None") === :ok
    end

    test "large dicts and maps convert whole, both ways" do
      for n <- [128, 129, 1000] do
        map = Map.new(0..(n - 1), &{&1, Integer.to_string(&1)})
        assert Py.eval("{i: str(i) for i in range(n)}", n: n) === map
        assert Py.eval("v", v: map) === map
      end
    end

    test "results without None are returned as they are" do
      big = Enum.to_list(1..10_000)
      assert Py.eval("v", v: big) === big
      assert Py.eval("v", v: {:undefined_not, [:ok]}) === {:undefined_not, [:ok]}
    end

    test "None is nil at any depth, converted in the NIF; the atom undefined stays" do
      assert Py.eval("[None, (None, {None: None})]") === [nil, {nil, %{nil => nil}}]
      assert Py.call({:builtins, :eval}, ["[None]"]) === {:ok, [nil]}
      assert Py.eval("__import__('erlang').Atom('undefined')") === :undefined
      assert Py.eval("[__import__('erlang').Atom('undefined'), None]") === [:undefined, nil]
      {:ok, request} = Py.async_call({:builtins, :eval}, ["(None,)"])
      assert Py.await(request) === {:ok, {nil}}
      # Erlang callers keep undefined.
      assert :py.eval("[None]") === [:undefined]
    end

    test "a callback into Erlang runs without the wrapper's nil" do
      # The function called back is other code: :py there gives undefined, as for
      # any Erlang caller, while Py inside it gives nil again.
      erlang_side = fn -> Atom.to_string(:py.eval("None")) end
      elixir_side = fn -> inspect(Py.eval("None")) end
      assert Py.eval("__import__('erlang').call(f, [])", f: erlang_side) === "undefined"
      assert Py.eval("__import__('erlang').call(f, [])", f: elixir_side) === "nil"
    end
  end

  describe "namespaces" do
    test "a process's eval and exec share its namespace; other processes do not see it" do
      task =
        Task.async(fn ->
          :ok = Py.exec("mine = 1")
          for _ <- 1..4, do: 1 = Py.eval("mine")
          Py.eval("mine + 1", %{}, on: :dirty)
        end)

      assert Task.await(task) === 2
      error = assert_raise Py.Error, fn -> Py.eval("mine") end
      assert error.type === "builtins.NameError"
    end

    test "a block's last expression is its value; bindings are the call's own" do
      assert Py.eval("a = 2\nb = 3\na * b") === 6
      assert Py.eval("c = 1") === nil
      assert Py.eval("k * 2", k: 4) === 8
      assert Py.eval("'k' in globals()") === false
    end

    test "an explicit namespace is shared on purpose and names functions for call/4" do
      ns = Py.namespace()
      assert Py.exec("def inc(x): return x + 1", %{}, namespace: ns) === :ok
      assert Task.await(Task.async(fn -> Py.call("inc", [1], [], namespace: ns) end)) === {:ok, 2}
      assert {:error, %Py.Error{type: "builtins.AttributeError"}} = Py.call("inc", [1])
    end
  end

  describe "the error vocabulary" do
    test "every py reason is a Py.Error, a remote handle's too" do
      # A reference made on another node, as a handle from there arrives here.
      name = "other@host"
      ext = <<131, 90, 0, 1, 119, byte_size(name), name::binary, 1::32, 7::32>>
      remote = :erlang.binary_to_term(ext)
      assert node(remote) === :other@host
      error = assert_raise Py.Error, fn -> Py.attr(remote, :x) end
      assert error.reason === {:remote_handle, :other@host}
      assert {:error, %Py.Error{reason: {:remote_handle, _}}} = Py.call({remote, :m}, [])
    end

    test "new reasons are described" do
      for reason <- [
            {:too_large, [0]},
            {:key_collision, [0], "a"},
            {:bad_kwargs, [:a]},
            {:busy, %{gil_stuck_ms: 120}},
            {:panic, "bug"}
          ] do
        assert :py_error.is_reason(reason)
        error = Py.Error.exception(reason)
        assert error.reason === reason
        assert error.message != inspect(reason)
      end

      assert {:error, %Py.Error{reason: {:key_collision, [0], _}}} =
               Py.call({:builtins, :len}, [%{1 => :a, 1.0 => :b}])
    end
  end

  describe "values" do
    test "eval, exec and import" do
      assert Py.eval("a + b", a: 1, b: 2) === 3
      assert Py.eval("a + b", %{"a" => 1, "b" => 2}) === 3
      assert Py.exec("assert n == 3, n", n: 3) === :ok
      error = assert_raise Py.Error, fn -> Py.exec("assert n == 3, n", n: 4) end
      assert {error.type, error.message} === {"builtins.AssertionError", "4"}
      math = Py.import(:math)
      assert is_reference(math)
      assert Py.attr(math, :tau) === 6.283185307179586
      assert Py.method(math, :sqrt, [9]) === 3.0
    end

    test "bytes, buffer, to_binary and value" do
      assert Py.eval("type(b).__name__ + ':' + b.hex()", b: Py.bytes(<<0, 255>>)) === "bytes:00ff"

      assert Py.eval("type(b).__name__ + ':' + b.hex()", b: Py.buffer(<<1, 2>>)) ===
               "memoryview:0102"

      assert Py.func(:bytes, [Py.buffer("xyz")]) === "xyz"
      assert Py.func(:bytearray, [Py.bytes(<<9, 8>>)]) === <<9, 8>>

      assert Py.to_binary(Py.call!(:bytearray, [Py.bytes(<<9, 8>>)], [], return: :handle)) ===
               <<9, 8>>

      assert Py.to_binary(Py.func(:array, :array, ["B", [1, 2, 3]])) === <<1, 2, 3>>
      assert Py.value(Py.call!(:dict, [], [a: 1], return: :handle)) === %{"a" => 1}
    end

    test "array and ndarray: numpy arrays to maps over their memory, and back" do
      a = Py.eval("__import__('numpy').arange(6, dtype='<f8').reshape(2, 3)")
      %{shape: [2, 3], dtype: "<f8", data: data} = Py.array(a)
      assert data === for(i <- 0..5, into: <<>>, do: <<i * 1.0::float-64-little>>)
      # No copy: a write in Python shows in the binary.
      Py.exec("a[0, 0] = 42", a: a)
      assert <<42.0::float-64-little, _::binary>> = data

      back = Py.ndarray(Py.array(a))
      assert Py.eval("(a == b).all() and not b.flags.writeable", a: a, b: back) === true
      copy = Py.ndarray(Py.array(a), writable: true)
      Py.exec("c[0, 0] = -1", c: copy)
      assert <<42.0::float-64-little, _::binary>> = data
      assert Py.value(copy) === [[-1.0, 1.0, 2.0], [3.0, 4.0, 5.0]]

      assert Py.array(Py.bytes("ab")) === %{shape: [2], dtype: "|u1", data: "ab"}
      assert Py.value(Py.ndarray(%{shape: [], dtype: :int64, data: <<7::64-native>>})) === 7
    end

    test "array and ndarray errors" do
      error = assert_raise Py.Error, fn -> Py.array([1, 2]) end
      assert error.type === "builtins.TypeError"

      error =
        assert_raise Py.Error, fn -> Py.ndarray(%{shape: [3], dtype: "<f8", data: <<0::64>>}) end

      assert error.reason ===
               {:bad_array, :data, "8 bytes, where shape [3] of dtype <f8 needs 24"}

      assert Exception.message(error) =~ "bad array: data: 8 bytes"

      error = assert_raise Py.Error, fn -> Py.ndarray(%{shape: [1], data: <<0::64>>}) end
      assert error.reason === {:bad_array, :dtype, "missing"}

      error =
        assert_raise Py.Error, fn ->
          Py.ndarray(%{shape: [1], dtype: "<f8", data: <<0::64>>}, copy: true)
        end

      assert error.reason === {:bad_option, :copy}
    end

    test "get_versions" do
      versions = Py.get_versions()
      assert Keyword.keys(versions) === [:erlang, :erts, :nif, :py, :python]
      assert versions[:erlang] === List.to_string(:erlang.system_info(:otp_release))
      assert versions[:py] === "0.1.0"
      [major, minor | _] = String.split(versions[:python], ".")
      assert Py.eval("'%d.%d' % __import__('sys').version_info[:2]") === major <> "." <> minor
    end
  end
end
