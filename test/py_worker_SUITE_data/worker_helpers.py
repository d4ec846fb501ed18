"""Python halves of the py_worker_SUITE cases (on the workers' sys.path)."""
import os

import erlang

SUITE = erlang.Atom("py_worker_SUITE")


def pid():
    """The OS pid of the worker that runs the call."""
    return os.getpid()


def pid_with(*_objects):
    """The same, with objects as arguments (to see where a call with handles runs)."""
    return os.getpid()


def spin(n):
    """Pure-Python work that holds the GIL between bytecodes: n iterations."""
    total = 0
    for i in range(n):
        total += i & 7
    return total


def nest(n, pool):
    """One level of Erlang -> Python -> Erlang -> ...: [(n, os pid, erlang.self()), ...]."""
    here = (n, os.getpid(), erlang.self())
    return [here] + erlang.call(SUITE, erlang.Atom("nest"), [n - 1, pool])


def echo_via_erlang(x):
    """x, through a callback into the calling process."""
    return erlang.call(SUITE, erlang.Atom("identity"), [x])


def slow_echo_via_erlang(x, ms):
    """x, through a callback that takes ms milliseconds."""
    return erlang.call(SUITE, erlang.Atom("slow_identity"), [x, ms])


def apply_fun(fun, *args):
    return erlang.call(fun, list(args))


def cast_to(pid, value):
    erlang.cast(SUITE, erlang.Atom("cast_target"), [pid, value])


class Tracked:
    """An object that counts the live instances of its class."""

    live = 0

    def __init__(self):
        Tracked.live += 1

    def __del__(self):
        Tracked.live -= 1


def live():
    return Tracked.live
