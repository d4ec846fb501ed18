"""Tests that run inside the BEAM, started by test/py_python_SUITE.erl.

They need the real ``_erlang`` (made by the NIF) and the Common Test suite
module, whose exported helpers they call back into.
"""

try:
    import _erlang  # noqa: F401
except ImportError:
    raise RuntimeError(
        "python/tests/embedded runs inside the BEAM only: "
        "rebar3 ct --suite test/py_python_SUITE"
    ) from None

import pytest

import erlang

# The Erlang module whose exported helpers these tests call.
SUITE = erlang.Atom("py_python_SUITE")


@pytest.fixture
def suite():
    return SUITE
