"""Helpers the corpus tests run inside the embedded interpreter.

`same(a, b)` is a deep equality that also compares types (so that
erlang.Atom('a') is not taken for 'a', nor True for 1) and treats two NaNs
as equal. `check(value, expr)` evaluates a corpus expression with `erlang`
and `math` in scope and compares it with the converted value.
"""
import math

import erlang


def same(a, b):
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        if len(a) != len(b):
            return False
        for ka, va in a.items():
            # Atom('a') == 'a' and both hash alike, so look the key up by
            # type as well as by value.
            matches = [kb for kb in b if same(ka, kb)]
            if len(matches) != 1 or not same(va, b[matches[0]]):
                return False
        return True
    return a == b


def evaluate(expr):
    return eval(expr, {"erlang": erlang, "math": math})


def check(value, expr):
    return same(value, evaluate(expr))


def describe(value):
    """A readable account of a value and its types, for failure messages."""
    return "%s: %r" % (type(value).__name__, value)


def predicate(value, expr):
    """True when the corpus predicate `expr` holds for `v` = value."""
    return bool(eval(expr, {"erlang": erlang, "math": math, "v": value}))


def identity(value):
    return value
