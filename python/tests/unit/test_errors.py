import pickle

import pytest


def test_error_fields(plain):
    e = plain.Error(plain.Atom("error"), plain.Atom("badarg"), [])
    assert isinstance(e, Exception)
    assert e.class_ == "error" and type(e.class_) is plain.Atom
    assert e.reason == "badarg"
    assert e.stacktrace == []
    assert e.args == ("error", "badarg", [])


def test_error_stacktrace_defaults_to_empty(plain):
    e = plain.Error("throw", 42)
    assert e.stacktrace == ()
    assert str(e) == "throw: 42"


def test_error_str_names_class_and_reason(plain):
    e = plain.Error(plain.Atom("exit"), (plain.Atom("noproc"), 1), [])
    assert str(e) == "exit: (Atom('noproc'), 1)"


def test_error_str_shows_first_frame(plain):
    A = plain.Atom
    file = [ord(c) for c in "src/m.erl"]
    stack = [
        (A("m"), A("f"), 2, [(A("file"), file), (A("line"), 12)]),
        (A("m"), A("g"), [1, 2, 3], []),
    ]
    e = plain.Error(A("error"), A("boom"), stack)
    assert str(e) == "error: Atom('boom') in m:f/2 (src/m.erl:12)"
    e2 = plain.Error(A("error"), A("boom"), stack[1:])
    assert str(e2) == "error: Atom('boom') in m:g/3"
    e3 = plain.Error(A("error"), A("boom"), [(A("m"), A("h"), 0, [(A("file"), "x.erl")])])
    assert str(e3) == "error: Atom('boom') in m:h/0 (x.erl)"


@pytest.mark.parametrize(
    "stack",
    [[("odd",)], ["text"], [(1, 2, 3, [(None, None), 5])], 12, [(1, 2, 3, [("file", [-1])])]],
)
def test_error_str_never_fails(plain, stack):
    assert str(plain.Error("error", "r", stack)).startswith("error: 'r'")


def test_error_raise_and_catch(plain):
    with pytest.raises(plain.Error) as info:
        raise plain.Error(plain.Atom("throw"), 1, [])
    assert info.value.class_ == "throw" and info.value.reason == 1


def test_error_pickles(plain):
    e = plain.Error(plain.Atom("error"), plain.Atom("badarg"), [])
    back = pickle.loads(pickle.dumps(e))
    assert type(back) is plain.Error
    assert (back.class_, back.reason, back.stacktrace) == ("error", "badarg", [])


def test_cancelled_is_not_an_exception(plain):
    assert issubclass(plain.Cancelled, BaseException)
    assert not issubclass(plain.Cancelled, Exception)
    # The NIF injects the class itself, so it must build without arguments.
    assert isinstance(plain.Cancelled(), BaseException)


def test_cancelled_passes_except_exception(plain):
    caught = []

    def work():
        try:
            raise plain.Cancelled()
        except Exception:
            caught.append("swallowed")

    with pytest.raises(plain.Cancelled):
        work()
    assert caught == []
