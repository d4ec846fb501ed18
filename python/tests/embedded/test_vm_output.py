"""print, sys.stdout/sys.stderr and logging inside the BEAM.

py_python_SUITE checks that the markers written here reach the group leader
of the process that ran pytest, and that the log record reaches the Erlang
logger.
"""

import io
import logging
import sys

import pytest

import erlang

STDOUT_MARKER = "py_python_SUITE stdout marker"
STDERR_MARKER = "py_python_SUITE stderr marker"
LOG_MARKER = "py_python_SUITE log marker"


def test_print_goes_to_erlang(capsys):
    # pytest replaces sys.stdout while a test runs; disabled() puts ours back.
    with capsys.disabled():
        assert type(sys.stdout).__module__ == "erlang"
        assert type(sys.stderr).__module__ == "erlang"
        assert sys.stdout.isatty() is False
        assert sys.stdout.encoding == "utf-8"
        with pytest.raises(io.UnsupportedOperation):
            sys.stdout.fileno()
        print(STDOUT_MARKER, "é", 1)
        print(STDERR_MARKER, file=sys.stderr)
        # Text decoded with surrogateescape from bytes that are not UTF-8.
        print(b"py_python_SUITE \xff escaped".decode("utf-8", "surrogateescape"))
        assert sys.stdout.write("") == 0
        sys.stdout.flush()
        sys.stderr.flush()


def test_logging_handler_installed():
    root = logging.getLogger()
    ours = [h for h in root.handlers if isinstance(h, erlang.ErlangHandler)]
    assert len(ours) == 1


def test_logging_reaches_erlang():
    logging.getLogger("py_python_SUITE").warning("%s %d", LOG_MARKER, 7)
    # Below the root level (WARNING unless configured): must not raise either.
    logging.getLogger("py_python_SUITE").debug("not shown")
