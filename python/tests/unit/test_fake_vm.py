"""The package against a recording fake of ``_erlang``."""

import io
import logging
import sys

import pytest


def test_native_types_are_reexported(fake_vm):
    fake, m = fake_vm
    assert m._native is fake
    assert (m.Pid, m.Ref, m.Port, m.Fun) == (fake.Pid, fake.Ref, fake.Port, fake.Fun)


def test_call_module_function_args(fake_vm):
    fake, m = fake_vm
    fake.result = 3
    assert m.call("erlang", "abs", [-3]) == 3
    assert m.call(m.Atom("lists"), m.Atom("reverse"), ([1, 2],)) == 3
    assert m.call("erlang", "node") == 3
    assert fake.calls == [
        ("call", "erlang", "abs", [-3]),
        ("call", "lists", "reverse", [[1, 2]]),
        ("call", "erlang", "node", []),
    ]
    # A tuple of arguments must reach Erlang as a list, not as a tuple.
    assert type(fake.calls[1][3]) is list
    assert type(fake.calls[1][1]) is m.Atom


def test_call_fun(fake_vm):
    fake, m = fake_vm
    fun = fake.Fun()
    fake.result = "r"
    assert m.call(fun, [1, 2]) == "r"
    assert m.call(fun) == "r"
    assert m.call(fun, args=(3,)) == "r"
    assert m.call(fun, []) == "r"
    assert fake.calls == [
        ("call", fun, None, [1, 2]),
        ("call", fun, None, []),
        ("call", fun, None, [3]),
        ("call", fun, None, []),
    ]


@pytest.mark.parametrize(
    "args, match",
    [
        (("erlang",), "function must be a str or Atom, got NoneType"),
        (("erlang", 3, []), "function must be a str or Atom, got int"),
        ((3, "f", []), "target must be a module name"),
        ((None, "f", []), "target must be a module name"),
        (("m", "f", "abc"), "args must be a list or tuple, got str"),
        (("m", "f", {"a": 1}), "args must be a list or tuple, got dict"),
        (("m", "f", 5), "args must be a list or tuple, got int"),
    ],
)
def test_call_bad_shapes(fake_vm, args, match):
    fake, m = fake_vm
    with pytest.raises(TypeError, match=match):
        m.call(*args)
    with pytest.raises(TypeError, match=match):
        m.cast(*args)
    assert fake.calls == []


def test_call_fun_bad_shapes(fake_vm):
    fake, m = fake_vm
    fun = fake.Fun()
    with pytest.raises(TypeError, match="too many arguments"):
        m.call(fun, [1], [2])
    with pytest.raises(TypeError, match="args must be a list or tuple, got int"):
        m.call(fun, 1)
    with pytest.raises(TypeError, match="too many arguments"):
        m.cast(fun, [1], [2])
    assert fake.calls == []


def test_call_error_propagates(fake_vm):
    fake, m = fake_vm
    err = m.Error(m.Atom("error"), m.Atom("badarg"), [])
    fake.raises = err
    with pytest.raises(m.Error) as info:
        m.call("erlang", "abs", [m.Atom("x")])
    assert info.value is err


def test_cast(fake_vm):
    fake, m = fake_vm
    fun = fake.Fun()
    assert m.cast("io", "format", ["hi~n"]) is None
    assert m.cast(fun, [1]) is None
    assert fake.calls == [("cast", "io", "format", ["hi~n"]), ("cast", fun, None, [1])]


def test_send_and_self(fake_vm):
    fake, m = fake_vm
    me = m.self()
    assert me == fake.Pid(7)
    assert m.send(me, (m.Atom("hello"), 1)) is None
    assert fake.calls == [("self",), ("send", fake.Pid(7), ("hello", 1))]


def test_writer_basics(fake_vm):
    fake, m = fake_vm
    w = m._Writer(1, "<stdout>")
    assert w.write("héllo\n") == 6
    assert w.write("") == 0
    assert w.flush() is None
    assert fake.calls == [("write", 1, "héllo\n")]
    assert w.encoding == "utf-8"
    assert w.writable() is True
    assert w.readable() is False
    assert w.isatty() is False
    assert w.name == "<stdout>"
    with pytest.raises(io.UnsupportedOperation):
        w.fileno()
    with pytest.raises(TypeError, match="must be str, not bytes"):
        w.write(b"x")
    assert isinstance(w, io.TextIOBase)


def test_writer_escapes_lone_surrogates(fake_vm):
    fake, m = fake_vm
    w = m._Writer(1, "<stdout>")
    text = b"bad \xff byte\n".decode("utf-8", "surrogateescape")
    assert w.write(text) == len(text)
    assert w.write("\ud800!") == 2
    assert fake.writes(1) == "bad \\udcff byte\n\\ud800!"
    assert w.errors == "backslashreplace"


def test_writer_closed(fake_vm):
    fake, m = fake_vm
    w = m._Writer(2, "<stderr>")
    w.close()
    with pytest.raises(ValueError):
        w.write("x")
    with pytest.raises(ValueError):
        w.flush()
    assert fake.calls == []


def test_print_to_writer(fake_vm):
    fake, m = fake_vm
    w = m._Writer(2, "<stderr>")
    print("a", 1, m.Atom("b"), file=w)
    w.writelines(["x", "y\n"])
    assert fake.writes(2) == "a 1 b\nxy\n"
    assert fake.writes(1) == ""


def test_setup_installs_writers(installed):
    fake, m, root = installed
    assert m._setup({}) is None
    assert isinstance(sys.stdout, m._Writer) and isinstance(sys.stderr, m._Writer)
    print("to out")
    print("to err", file=sys.stderr)
    sys.stdout.write("more")
    assert fake.writes(1) == "to out\nmore"
    assert fake.writes(2) == "to err\n"


def test_setup_logging_default_level(installed):
    fake, m, root = installed
    m._setup({})
    ours = [h for h in root.handlers if isinstance(h, m.ErlangHandler)]
    assert len(ours) == 1
    assert root.level == logging.WARNING
    log = logging.getLogger("app.part")
    log.info("hidden")
    log.warning("hello %s", "world")
    log.error("bad")
    logging.getLogger().critical("top")
    assert fake.logs() == [
        (logging.WARNING, "app.part", "hello world"),
        (logging.ERROR, "app.part", "bad"),
        (logging.CRITICAL, "root", "top"),
    ]


def test_setup_log_level_from_config(installed):
    fake, m, root = installed
    m._setup({"log_level": logging.DEBUG})
    assert root.level == logging.DEBUG
    logging.getLogger("d").debug("dbg")
    logging.getLogger("d").log(25, "between")
    assert fake.logs() == [(logging.DEBUG, "d", "dbg"), (25, "d", "between")]


def test_setup_twice_keeps_one_handler(installed):
    fake, m, root = installed
    m._setup({})
    m._setup({"log_level": logging.ERROR})
    assert len([h for h in root.handlers if type(h).__name__ == "ErlangHandler"]) == 1
    assert root.level == logging.ERROR
    logging.getLogger("x").error("once")
    assert fake.logs() == [(logging.ERROR, "x", "once")]


def test_setup_rejects_non_dict(installed):
    fake, m, root = installed
    with pytest.raises(TypeError, match="config must be a dict"):
        m._setup([("log_level", 10)])


def test_handler_formats_exceptions(fake_vm):
    fake, m = fake_vm
    log = logging.getLogger("exc.test")
    handler = m.ErlangHandler()
    log.addHandler(handler)
    try:
        try:
            raise ValueError("nope")
        except ValueError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    [(level, name, message)] = fake.logs()
    assert (level, name) == (logging.ERROR, "exc.test")
    assert message.startswith("failed\nTraceback (most recent call last):")
    assert message.endswith("ValueError: nope")


def test_handler_failure_does_not_raise(fake_vm, monkeypatch):
    fake, m = fake_vm
    monkeypatch.setattr(logging, "raiseExceptions", False)
    fake.raises = RuntimeError("native log failed")
    record = logging.LogRecord("n", logging.ERROR, __file__, 1, "m", None, None)
    m.ErlangHandler().handle(record)
    assert fake.logs() == [(logging.ERROR, "n", "m")]
