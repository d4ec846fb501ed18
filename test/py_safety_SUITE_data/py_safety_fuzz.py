"""Helpers of py_safety_SUITE (the reliability suite of issue 11).

``sample(seed, index)`` makes one random Python value from ``random.Random``
seeded with ``(seed, index)``, so any single sample can be made again, and
returns it together with the Erlang term it must become, encoded here in the
Erlang external term format (written out by hand below, independently of the
NIF). The mapping is the one of docs/types.md (Python -> Erlang):

* ``None`` -> ``undefined``; ``bool`` -> ``true``/``false``;
* ``int`` and subclasses (``IntEnum``, numpy integers) -> integer;
* ``float`` and subclasses (numpy floats) -> float; ``nan``, ``inf`` and
  ``-inf`` -> the atoms ``nan``, ``inf`` and ``'-inf'``;
* ``str`` -> UTF-8 binary (lone surrogates made by ``surrogateescape`` go back
  to their bytes); ``bytes``, ``bytearray`` -> binary;
* ``tuple`` (namedtuples too) -> tuple; ``list`` -> list; ``dict`` and
  subclasses -> map; ``erlang.Atom`` -> atom;
* ``set``, ``frozenset`` -> list in an unspecified order: the expected term is
  then ``{'$py_set', Elements}`` and the suite compares it as a multiset.

Dict keys and set elements are kept apart when they would become the same
Erlang term (``inf`` and ``Atom('inf')``, ``'a'`` and ``b'a'``): such dicts
are an error by the contract, not a value, and are tested on their own.
"""

import collections
import enum
import math
import random
import struct

import erlang

try:
    import numpy
except ImportError:  # the suite's venv has numpy; without it, no numpy scalars
    numpy = None


class Colour(enum.IntEnum):
    RED = 1
    GREEN = 2
    DEEP = -(2 ** 70)


class MyFloat(float):
    pass


class MyDict(dict):
    pass


Point = collections.namedtuple("Point", "x y")

ATOM_NAMES = ["a", "ok", "error", "hello", "Hello World", "", "nan", "inf", "none",
              "h\u00e9llo", "\u65e5\u672c\u8a9e", "\U0001f40d", "x" * 255, "undefined_not"]


# ---------------------------------------------------------------- the external term format

def _etf(term):
    return b"\x83" + _enc(term)


def _atom(name):
    data = name.encode("utf-8")
    if len(data) < 256:
        return b"\x77" + bytes([len(data)]) + data          # SMALL_ATOM_UTF8_EXT
    return b"\x76" + struct.pack(">H", len(data)) + data     # ATOM_UTF8_EXT


def _int(n):
    if 0 <= n < 256:
        return b"\x61" + bytes([n])                          # SMALL_INTEGER_EXT
    if -2 ** 31 <= n < 2 ** 31:
        return b"\x62" + struct.pack(">i", n)                # INTEGER_EXT
    sign = 1 if n < 0 else 0
    mag = -n if n < 0 else n
    digits = mag.to_bytes((mag.bit_length() + 7) // 8, "little")
    if len(digits) < 256:
        return b"\x6e" + bytes([len(digits), sign]) + digits  # SMALL_BIG_EXT
    return b"\x6f" + struct.pack(">I", len(digits)) + bytes([sign]) + digits  # LARGE_BIG_EXT


class _Exp:
    """Expected-term nodes that Python values cannot express directly."""

    def __init__(self, kind, value):
        self.kind = kind
        self.value = value


def _enc(t):
    if isinstance(t, _Exp):
        if t.kind == "atom":
            return _atom(t.value)
        if t.kind == "binary":
            return b"\x6d" + struct.pack(">I", len(t.value)) + t.value   # BINARY_EXT
        if t.kind == "float":
            return b"\x46" + struct.pack(">d", t.value)                 # NEW_FLOAT_EXT
        if t.kind == "int":
            return _int(t.value)
        if t.kind == "tuple":
            items = t.value
            head = (b"\x68" + bytes([len(items)]) if len(items) < 256
                    else b"\x69" + struct.pack(">I", len(items)))
            return head + b"".join(_enc(x) for x in items)
        if t.kind == "list":
            if not t.value:
                return b"\x6a"                                          # NIL_EXT
            return (b"\x6c" + struct.pack(">I", len(t.value))
                    + b"".join(_enc(x) for x in t.value) + b"\x6a")
        if t.kind == "map":
            return (b"\x74" + struct.pack(">I", len(t.value))
                    + b"".join(_enc(k) + _enc(v) for k, v in t.value))
    raise TypeError("not an expected-term node: %r" % (t,))


def A(name):
    return _Exp("atom", name)


def B(data):
    return _Exp("binary", bytes(data))


def I(n):
    return _Exp("int", int(n))


def F(x):
    return _Exp("float", float(x))


def T(items):
    return _Exp("tuple", list(items))


def L(items):
    return _Exp("list", list(items))


def M(pairs):
    return _Exp("map", list(pairs))


# ---------------------------------------------------------------- the generator

class Gen:
    def __init__(self, rng):
        self.r = rng
        self.budget = rng.choice([4, 16, 40, 120])

    def value(self, depth):
        r = self.r
        self.budget -= 1
        if depth >= 6 or self.budget <= 0 or r.random() < 0.45:
            return self.scalar()
        return self.container(depth)

    # Each returns (value, expected node).
    def scalar(self):
        r = self.r
        kind = r.randrange(17)
        if kind == 0:
            return None, A("undefined")
        if kind == 1:
            b = r.random() < 0.5
            return b, A("true" if b else "false")
        if kind == 2:
            n = r.randint(-300, 300)
            return n, I(n)
        if kind == 3:
            n = r.choice([2 ** 27, 2 ** 31 - 1, -2 ** 31, 2 ** 31, 2 ** 59 - 1, 2 ** 59, 2 ** 63 - 1,
                          -2 ** 63, 2 ** 63, 2 ** 64 - 1, 2 ** 64, -2 ** 64 - 1])
            n += r.randint(-2, 2)
            return n, I(n)
        if kind == 4:
            n = r.getrandbits(r.randint(1, 3000)) * r.choice([1, -1])
            return n, I(n)
        if kind == 5:
            x = self.float_bits()
            return x, self.float_exp(x)
        if kind == 6:
            x = r.choice([0.0, -0.0, 1.5, -2.5, 1e300, 5e-324, 1.7976931348623157e308,
                          math.inf, -math.inf, math.nan, r.uniform(-1e6, 1e6)])
            return x, self.float_exp(x)
        if kind == 7:
            s = self.text()
            return s, B(s.encode("utf-8"))
        if kind == 8:
            raw = self.raw_bytes()
            return raw.decode("utf-8", "surrogateescape"), B(raw)
        if kind == 9:
            raw = self.raw_bytes(big=r.random() < 0.3)
            return raw, B(raw)
        if kind == 10:
            raw = self.raw_bytes()
            return bytearray(raw), B(raw)
        if kind == 11:
            name = r.choice(ATOM_NAMES)
            return erlang.Atom(name), A(name)
        if kind == 12:
            c = r.choice(list(Colour))
            return c, I(int(c))
        if kind == 13:
            x = MyFloat(r.uniform(-10, 10))
            return x, F(float(x))
        if kind == 14 and numpy is not None:
            return self.numpy_scalar()
        if kind == 15:
            x = r.choice([math.nan, math.inf, -math.inf])
            return x, self.float_exp(x)
        n = r.randint(0, 255)
        return n, I(n)

    def float_bits(self):
        return struct.unpack(">d", self.r.getrandbits(64).to_bytes(8, "big"))[0]

    @staticmethod
    def float_exp(x):
        if math.isnan(x):
            return A("nan")
        if math.isinf(x):
            return A("inf" if x > 0 else "-inf")
        return F(x)

    def numpy_scalar(self):
        r = self.r
        k = r.randrange(5)
        if k == 0:
            n = r.randint(-2 ** 63, 2 ** 63 - 1)
            return numpy.int64(n), I(n)
        if k == 1:
            n = r.randint(0, 255)
            return numpy.uint8(n), I(n)
        if k == 2:
            x = numpy.float32(r.uniform(-1e3, 1e3))
            return x, F(float(x))
        if k == 3:
            x = numpy.float64(self.float_bits())
            return x, self.float_exp(float(x))
        b = numpy.bool_(r.random() < 0.5)
        return b, A("true" if b else "false")

    def text(self):
        r = self.r
        n = r.choice([0, 1, 3, 10, 40])
        chars = []
        for _ in range(n):
            c = r.choice([r.randint(0x20, 0x7e), r.randint(0, 0x7ff), r.randint(0x800, 0xffff),
                          r.randint(0x10000, 0x10ffff)])
            if 0xd800 <= c <= 0xdfff:     # lone surrogates are not text (tested apart)
                c = 0x41
            chars.append(chr(c))
        return "".join(chars)

    def raw_bytes(self, big=False):
        r = self.r
        n = r.randint(513, 3000) if big else r.choice([0, 1, 2, 5, 17, 64])
        return bytes(r.getrandbits(8) for _ in range(n))

    def key(self):
        """A hashable value for a dict key or a set element."""
        r = self.r
        k = r.randrange(6)
        if k == 0:
            s = self.text()
            return s, B(s.encode("utf-8"))
        if k == 1:
            name = r.choice(ATOM_NAMES)
            return erlang.Atom(name), A(name)
        if k == 2:
            n = r.randint(-1000, 1000) if r.random() < 0.8 else r.getrandbits(100)
            return n, I(n)
        if k == 3:
            x = r.uniform(-100, 100)
            return x, F(x)
        if k == 4:
            items = [self.key() for _ in range(r.randint(0, 3))]
            return tuple(v for v, _ in items), T(e for _, e in items)
        return r.choice([(None, A("undefined")), (True, A("true")), (False, A("false"))])

    def container(self, depth):
        r = self.r
        kind = r.randrange(8)
        n = r.choice([0, 1, 2, 3, 5, 8]) if r.random() < 0.97 else r.randint(50, 400)
        if kind in (0, 1):
            items = [self.value(depth + 1) for _ in range(n)]
            return [v for v, _ in items], L(e for _, e in items)
        if kind in (2, 3):
            items = [self.value(depth + 1) for _ in range(n)]
            return tuple(v for v, _ in items), T(e for _, e in items)
        if kind == 4:
            a, ea = self.value(depth + 1)
            b, eb = self.value(depth + 1)
            return Point(a, b), T([ea, eb])
        if kind in (5, 6):
            d = MyDict() if r.random() < 0.1 else {}
            pairs = []
            seen = set()
            for _ in range(n):
                k, ek = self.key()
                code = _enc(ek)
                if k in d or code in seen:
                    continue
                seen.add(code)
                v, ev = self.value(depth + 1)
                d[k] = v
                pairs.append((ek, ev))
            return d, M(pairs)
        s = set()
        elems = []
        seen = set()
        for _ in range(min(n, 12)):
            k, ek = self.key()
            code = _enc(ek)
            if k in s or code in seen:
                continue
            seen.add(code)
            s.add(k)
            elems.append(ek)
        value = frozenset(s) if r.random() < 0.5 else s
        return value, T([A("$py_set"), L(elems)])


def sample(seed, index):
    """One random value and its expected Erlang term (external format, a bytes)."""
    gen = Gen(random.Random("%d/%d" % (seed, index)))
    value, expected = gen.value(0)
    return (value, _etf(expected))


def echo(value):
    """Returns its argument: the Erlang -> Python -> Erlang round trip."""
    return value


def echo_all(*args):
    """Returns its arguments as a tuple."""
    return args
