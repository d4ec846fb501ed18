"""Unit tests of the ``erlang`` package in plain CPython (no BEAM).

The native module ``_erlang`` is replaced by a recording fake when a test asks
for ``fake_vm``; the package is reloaded around each test so that it binds to
whichever ``_erlang`` (or none) the test wants.
"""

import importlib
import logging
import os
import sys
import types

import pytest

PYTHON_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
if PYTHON_DIR not in sys.path:
    sys.path.insert(0, PYTHON_DIR)

import erlang  # noqa: E402


class FakeVM(types.ModuleType):
    """A stand-in for ``_erlang`` that records every call."""

    def __init__(self):
        super().__init__("_erlang")
        self.calls = []
        self.result = None
        self.raises = None

        class Pid:
            def __init__(self, n):
                self.n = n

            def __eq__(self, other):
                return isinstance(other, Pid) and other.n == self.n

            def __hash__(self):
                return hash(("pid", self.n))

        class Ref:
            pass

        class Port:
            pass

        class Fun:
            pass

        self.Pid, self.Ref, self.Port, self.Fun = Pid, Ref, Port, Fun
        self.me = Pid(7)

    def _record(self, *entry):
        self.calls.append(entry)
        if self.raises is not None:
            raise self.raises

    def call(self, target, function, args):
        self._record("call", target, function, args)
        return self.result

    def cast(self, target, function, args):
        self._record("cast", target, function, args)

    def send(self, pid, term):
        self._record("send", pid, term)

    def self(self):
        self._record("self")
        return self.me

    def write(self, stream, text):
        # The NIF takes the text as UTF-8, which lone surrogates are not.
        text.encode("utf-8")
        self._record("write", stream, text)

    def log(self, levelno, name, message):
        self._record("log", levelno, name, message)

    def writes(self, stream):
        return "".join(c[2] for c in self.calls if c[0] == "write" and c[1] == stream)

    def logs(self):
        return [c[1:] for c in self.calls if c[0] == "log"]


def _reload():
    return importlib.reload(erlang)


@pytest.fixture
def plain():
    """The package as it is outside the BEAM."""
    sys.modules.pop("_erlang", None)
    mod = _reload()
    yield mod
    _reload()


@pytest.fixture
def fake_vm():
    """(fake ``_erlang``, the package bound to it)."""
    fake = FakeVM()
    sys.modules["_erlang"] = fake
    try:
        yield fake, _reload()
    finally:
        sys.modules.pop("_erlang", None)
        _reload()


@pytest.fixture
def installed(fake_vm, monkeypatch):
    """(fake, package, root logger) for tests of ``_setup``; what ``_setup``
    installs is undone before the fake goes away, since the writers and the
    handler call through the package's module globals."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    monkeypatch.setattr(sys, "stdout", sys.stdout)
    monkeypatch.setattr(sys, "stderr", sys.stderr)
    try:
        yield fake_vm + (root,)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
