"""Python code that py_safety_SUITE's regression tests (issue 11) call."""

import multiprocessing
import subprocess
import time

#: Set by a blocking or looping ``__del__`` when it starts, so the suite knows
#: the finaliser is running (a float: ``time.monotonic()`` at entry).
del_started = None


class SleepyDel:
    """An object whose finaliser blocks in C for 30 s (GIL released)."""

    def __del__(self):
        global del_started
        del_started = time.monotonic()
        time.sleep(30)


class SpinningDel:
    """An object whose finaliser never returns (pure Python, GIL held in turns)."""

    def __del__(self):
        global del_started
        del_started = time.monotonic()
        while True:
            pass


def del_running():
    """True once a finaliser of this module has started."""
    return del_started is not None


def recurse(n):
    """Ordinary recursion, ``n`` Python frames deep (each through ``map``, a C frame)."""
    return sum(map(recurse, [n - 1])) if n else 0


def shared_tree(levels):
    """A tuple of 2**levels leaves that takes only ``levels`` objects."""
    t = ()
    for _ in range(levels):
        t = (t, t)
    return t


def int_list(n):
    """``list(range(n))``."""
    return list(range(n))


def pool_map():
    """``multiprocessing`` with its default start method."""
    with multiprocessing.Pool(2) as pool:
        return pool.map(abs, [-1, -2, -3])


def echo_hi():
    """A subprocess that prints."""
    return subprocess.run(["echo", "hi"], capture_output=True).stdout


def print_lines(n):
    """Prints ``0`` .. ``n - 1``, one per line."""
    for i in range(n):
        print(i)


def raise_odd_class(name, message):
    """Raises an exception of a new class whose ``__qualname__`` is ``name``
    (which may hold lone surrogates: CPython refuses them in ``type()``'s
    name, not in ``__qualname__``)."""
    def inner():
        cls = type("Odd", (Exception,), {})
        cls.__qualname__ = name
        raise cls(message)
    inner()


def work(x, ms):
    """Returns ``2 * x`` after about ``ms`` milliseconds of Python bytecode."""
    end = time.monotonic() + ms / 1000.0
    while time.monotonic() < end:
        pass
    return 2 * x


def c_sum(n):
    """``sum(range(n))``: one long C loop that never releases the GIL."""
    return sum(range(n))


def nested(depth):
    """A list nested ``depth`` lists deep (``nested(1)`` is ``[]``)."""
    x = []
    for _ in range(depth - 1):
        x = [x]
    return x
