"""Helpers for py_cluster_SUITE: where a call ran, and calls that take time."""
import gc
import os
import time
import weakref

import erlang


def where(delay=0):
    """The Erlang node whose process ran this call (a callback), after `delay` s."""
    if delay:
        time.sleep(delay)
    return erlang.call("erlang", "node", [])


def pid_node():
    """This interpreter's OS pid and the Erlang node of the call."""
    return (os.getpid(), erlang.call("erlang", "node", []))


def slow_add(a, b, delay=0.0):
    if delay:
        time.sleep(delay)
    return a + b


def spin_add(a, b, seconds=0.0):
    """a + b after a busy loop of `seconds` (interruptible, unlike time.sleep)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return a + b


class Token:
    """An object whose live instances are counted (by a WeakSet)."""


_tokens = weakref.WeakSet()


def token():
    t = Token()
    _tokens.add(t)
    return t


def live_tokens():
    gc.collect()
    return len(_tokens)


def slow_token(delay=0.0):
    """A Token after `delay` s (time.sleep: not interruptible)."""
    if delay:
        time.sleep(delay)
    return token()


def where_of(obj):
    """The Erlang node whose process ran this call: where `obj` lives."""
    return erlang.call("erlang", "node", [])
