"""erlang.call / cast / send from Python code running inside the BEAM."""

import pytest

import erlang
from erlang import Atom


def test_call_abs():
    assert erlang.call("erlang", "abs", [-3]) == 3
    assert erlang.call(Atom("erlang"), Atom("abs"), (-4,)) == 4


def test_call_lists_reverse():
    assert erlang.call("lists", "reverse", [[1, 2, 3]]) == [3, 2, 1]
    assert erlang.call("lists", "reverse", [["a", Atom("b"), (1, 2)]]) == [(1, 2), "b", "a"]
    assert erlang.call("lists", "seq", [1, 5]) == [1, 2, 3, 4, 5]


def test_call_error_raises_erlang_error():
    with pytest.raises(erlang.Error) as info:
        erlang.call("erlang", "error", [Atom("boom")])
    err = info.value
    assert err.class_ == "error" and type(err.class_) is Atom
    assert err.reason == Atom("boom") and type(err.reason) is Atom
    assert isinstance(err.stacktrace, list) and len(err.stacktrace) >= 1
    assert str(err).startswith("error: Atom('boom')")


def test_call_throw_and_exit():
    with pytest.raises(erlang.Error) as info:
        erlang.call("erlang", "throw", [(Atom("thrown"), 42)])
    assert (info.value.class_, info.value.reason) == ("throw", ("thrown", 42))
    with pytest.raises(erlang.Error) as info:
        erlang.call("erlang", "exit", [Atom("bye")])
    assert (info.value.class_, info.value.reason) == ("exit", "bye")


def test_error_is_catchable_as_exception():
    try:
        erlang.call("erlang", "error", [Atom("badarg")])
    except Exception as exc:  # noqa: BLE001 - that is the point of the test
        assert isinstance(exc, erlang.Error)
    else:
        pytest.fail("no exception")
    # The caller survived the failed callback.
    assert erlang.call("erlang", "abs", [-1]) == 1


def test_call_wrong_shapes_raise_type_error():
    with pytest.raises(TypeError):
        erlang.call("erlang", "abs", -3)
    with pytest.raises(TypeError):
        erlang.call("erlang")


def test_send_to_self(suite):
    erlang.send(erlang.self(), (Atom("py_python_msg"), {"n": 42}))
    assert erlang.call(suite, "recv", [Atom("py_python_msg")]) == {"n": 42}


def test_send_to_other_process(suite):
    echo = erlang.call(suite, "spawn_echo", [])
    erlang.send(echo, (erlang.self(), Atom("py_python_echo"), [1, 2.5, "x"]))
    assert erlang.call(suite, "recv", [Atom("py_python_echo")]) == [1, 2.5, "x"]


def test_cast_runs_later(suite):
    assert erlang.cast(suite, "notify", [erlang.self(), Atom("py_python_cast"), 7]) is None
    assert erlang.call(suite, "recv", [Atom("py_python_cast")]) == 7


def test_cast_fun(suite):
    notify = erlang.call("erlang", "make_fun", [suite, Atom("notify"), 3])
    assert erlang.cast(notify, [erlang.self(), Atom("py_python_cast_fun"), "f"]) is None
    assert erlang.call(suite, "recv", [Atom("py_python_cast_fun")]) == "f"


def test_reentrant_erlang_python_erlang(suite):
    # Erlang (the runner) -> Python (pytest) -> Erlang (py_reenter) -> Python (operator.add).
    assert erlang.call(suite, "py_reenter", [3]) == 4


def test_call_is_refused_on_the_dirty_path(suite):
    # No Erlang process serves callbacks on a dirty scheduler.
    tag, reason = erlang.call(suite, "on_dirty", ["erlang.call", ["erlang", "abs", [-1]]])
    assert tag == "error"
    assert reason[:2] == ("python", "builtins.RuntimeError")
    assert "dirty" in reason[2]


def test_self_on_the_dirty_path(suite):
    # The dirty call is made by this same process (the callback runs in it).
    assert erlang.call(suite, "on_dirty", ["erlang.self", []]) == ("ok", erlang.self())


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


class Point3(Point):
    pass


def test_encoder_used_by_the_nif():
    erlang.register_encoder(Point, lambda p: (Atom("point"), p.x, p.y))
    try:
        back = erlang.call("erlang", "hd", [[Point(1, 2)]])
        assert back == ("point", 1, 2) and type(back[0]) is Atom
        # A subclass without its own encoder uses its base class's.
        assert erlang.call("erlang", "hd", [[Point3(3, 4)]]) == ("point", 3, 4)
    finally:
        erlang.unregister_encoder(Point)
    # Without an encoder the object goes to Erlang as a handle.
    assert erlang.call("erlang", "is_reference", [Point(1, 2)]) is True
