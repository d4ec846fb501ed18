"""Python halves of the py_exec_SUITE callback tests."""
import erlang

SUITE = erlang.Atom("py_exec_SUITE")


def catch_error(cls, reason):
    """Calls py_exec_SUITE:fail(cls, reason) and reports the erlang.Error."""
    try:
        erlang.call(SUITE, erlang.Atom("fail"), [cls, reason])
    except erlang.Error as e:
        return (e.class_, e.reason, isinstance(e.stacktrace, list), len(e.stacktrace) > 0)
    return "no exception"


def call_fail(cls, reason):
    """The same, uncaught: the caller sees the erlang.Error as a Python error."""
    return erlang.call(SUITE, erlang.Atom("fail"), [cls, reason])


def call_self_pid():
    """erlang:self() as seen by a callback: the calling process."""
    return erlang.call(erlang.Atom("erlang"), erlang.Atom("self"), [])


def apply_fun(fun, *args):
    return erlang.call(fun, list(args))


def callback_loop(n):
    """n trivial callbacks; returns their sum."""
    total = 0
    for i in range(n):
        total += erlang.call(SUITE, erlang.Atom("identity"), [i])
    return total


def cast_to(pid, value):
    erlang.cast(SUITE, erlang.Atom("cast_target"), [pid, value])


def interruptible_despite_except():
    """Cancelled is a BaseException: `except Exception` does not swallow it."""
    while True:
        try:
            while True:
                pass
        except Exception:
            pass
