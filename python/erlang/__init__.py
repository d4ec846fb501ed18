"""The ``erlang`` module: Python code running inside the BEAM talks to Erlang here.

The native half is the built-in module ``_erlang``, which exists only in an
interpreter started by the ``py`` NIF. This package imports without it (plain
CPython, unit tests, editors); then the data types (:class:`Atom`,
:class:`Error`, :class:`Cancelled`) and the encoder registry work, and every
function that needs the VM raises ``RuntimeError``.

See ``docs/python.md`` for the reference.
"""

import io
import logging
import sys

try:
    import _erlang as _native
except ImportError:
    _native = None

__all__ = [
    "Atom",
    "Pid",
    "Ref",
    "Port",
    "Fun",
    "Error",
    "Cancelled",
    "call",
    "cast",
    "send",
    "self",
    "register_encoder",
    "unregister_encoder",
    "ErlangHandler",
]

_NOT_IN_BEAM = "erlang: not running inside the BEAM"


def _vm():
    if _native is None:
        raise RuntimeError(_NOT_IN_BEAM)
    return _native


class Atom(str):
    """An Erlang atom. A ``str`` in every respect, so it compares and hashes
    like its text and works as a dict key or keyword-argument name; it goes
    back to Erlang as the atom, where a plain ``str`` goes back as a binary."""

    __slots__ = ()

    def __repr__(self):
        return "Atom(%s)" % str.__repr__(self)

    def __reduce__(self):
        # str's default reduction would rebuild through str.__new__ and is
        # fine too, but spelling it out keeps pickles readable and stable.
        return (Atom, (str(self),))


class _Unavailable:
    """Stands in for a native type outside the BEAM: ``isinstance`` checks
    work (always False) and making one says why it cannot be made."""

    __slots__ = ()

    def __new__(cls, *args, **kwargs):
        raise RuntimeError(_NOT_IN_BEAM)


def _native_type(name):
    if _native is not None:
        return getattr(_native, name)
    return type(name, (_Unavailable,), {"__slots__": (), "__module__": __name__})


Pid = _native_type("Pid")
Ref = _native_type("Ref")
Port = _native_type("Port")
Fun = _native_type("Fun")


def _format_frame(frame):
    """``{M, F, ArityOrArgs, Location}`` as converted to Python -> ``m:f/a (file:line)``."""
    if not (isinstance(frame, tuple) and len(frame) == 4):
        return repr(frame)
    mod, fun, arity, location = frame
    if isinstance(arity, list):
        arity = len(arity)
    text = "%s:%s/%s" % (mod, fun, arity)
    where = {}
    if isinstance(location, list):
        for item in location:
            if isinstance(item, tuple) and len(item) == 2:
                where[item[0]] = item[1]
    file = where.get("file")
    # An Erlang file name is a charlist, which arrives as a list of ints.
    if isinstance(file, list) and all(isinstance(c, int) for c in file):
        try:
            file = "".join(map(chr, file))
        except (ValueError, OverflowError):
            file = None
    if isinstance(file, str):
        line = where.get("line")
        text += " (%s:%s)" % (file, line) if isinstance(line, int) else " (%s)" % file
    return text


class Error(Exception):
    """An Erlang exception raised by a callback (``erlang.call``).

    ``class_`` is ``Atom('error')``, ``Atom('exit')`` or ``Atom('throw')``;
    ``reason`` the Erlang reason converted to Python; ``stacktrace`` the
    Erlang stack trace converted to Python (a list of 4-tuples)."""

    def __init__(self, class_, reason, stacktrace=()):
        super().__init__(class_, reason, stacktrace)
        self.class_ = class_
        self.reason = reason
        self.stacktrace = stacktrace

    def __str__(self):
        text = "%s: %r" % (self.class_, self.reason)
        try:
            frames = list(self.stacktrace or ())
        except TypeError:
            frames = []
        if frames:
            try:
                text += " in " + _format_frame(frames[0])
            except Exception:
                # str() of an exception must never fail, whatever came back.
                pass
        return text


class Cancelled(BaseException):
    """Raised inside Python code whose call timed out or was cancelled.

    A ``BaseException`` so that ``except Exception`` does not swallow it; let
    it propagate (clean up with ``finally`` or a ``with`` block)."""


_encoders = {}


def register_encoder(type_, fn):
    """Convert values of ``type_`` with ``fn(value)`` on their way to Erlang,
    instead of returning a handle. ``fn`` returns something convertible."""
    if not isinstance(type_, type):
        raise TypeError("register_encoder: expected a type, got %r" % (type_,))
    if not callable(fn):
        raise TypeError("register_encoder: expected a callable, got %r" % (fn,))
    _encoders[type_] = fn


def unregister_encoder(type_):
    """Remove the encoder of ``type_``; nothing happens when there is none."""
    _encoders.pop(type_, None)


_NO_ARGS = ()


def _args_list(args, who):
    if isinstance(args, list):
        return args
    if isinstance(args, tuple):
        # A tuple would reach Erlang as a tuple; the callee wants a list.
        return list(args)
    raise TypeError("%s: args must be a list or tuple, got %s" % (who, type(args).__name__))


def _target(target, function, args, who):
    """Normalize both call shapes to the native ``(target, function, args)``."""
    vm = _vm()
    if isinstance(target, vm.Fun):
        # erlang.call(Fun, Args): the second positional argument is the list.
        # Identity, not ==: args may be anything, even an array-like whose
        # == is elementwise. () is the default (and a singleton in CPython).
        if function is not None and args is not _NO_ARGS:
            raise TypeError("%s(fun, args): too many arguments" % who)
        fun_args = function if function is not None else args
        return target, None, _args_list(fun_args, who)
    if not isinstance(target, str):
        raise TypeError(
            "%s: target must be a module name (str or Atom) or an erlang.Fun, got %s"
            % (who, type(target).__name__)
        )
    if not isinstance(function, str):
        raise TypeError(
            "%s(module, function, args): function must be a str or Atom, got %s"
            % (who, type(function).__name__)
        )
    return target, function, _args_list(args, who)


def call(target, function=None, args=_NO_ARGS):
    """Call Erlang and wait for the result.

    ``call(module, function, args)`` runs ``module:function(args...)``;
    ``call(fun, args)`` applies an ``erlang.Fun``. The call runs in the Erlang
    process that called Python. An Erlang exception raises :class:`Error`."""
    target, function, args = _target(target, function, args, "erlang.call")
    return _native.call(target, function, args)


def cast(target, function=None, args=_NO_ARGS):
    """Like :func:`call` but returns ``None`` at once; the call runs later in
    a process of the ``py`` application and its result is dropped."""
    target, function, args = _target(target, function, args, "erlang.cast")
    _native.cast(target, function, args)


def send(pid, term):
    """Send ``term`` to the Erlang process ``pid`` (an ``erlang.Pid``)."""
    _vm().send(pid, term)


def self():
    """The ``erlang.Pid`` of the Erlang process this Python code runs for."""
    return _vm().self()


class _Writer(io.TextIOBase):
    """``sys.stdout`` / ``sys.stderr`` inside the BEAM.

    Every write goes to Erlang at once: output belongs to the call that made
    it, so nothing may wait in a buffer past the end of that call."""

    def __init__(self, stream, name):
        super().__init__()
        self._stream = stream
        self._name = name

    @property
    def encoding(self):
        return "utf-8"

    @property
    def errors(self):
        return "backslashreplace"

    @property
    def name(self):
        return self._name

    @property
    def line_buffering(self):
        return True

    def writable(self):
        return True

    def readable(self):
        return False

    def seekable(self):
        return False

    def isatty(self):
        return False

    def fileno(self):
        raise io.UnsupportedOperation("%s has no file descriptor inside the BEAM" % self._name)

    def write(self, text):
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        if not isinstance(text, str):
            raise TypeError("write() argument must be str, not %s" % type(text).__name__)
        if text:
            try:
                _native.write(self._stream, text)
            except UnicodeEncodeError:
                # Lone surrogates (from a surrogateescape decode) are not UTF-8;
                # print must not fail on them, so they are shown escaped, as
                # CPython's own sys.stderr does.
                _native.write(self._stream, text.encode("utf-8", "backslashreplace").decode("utf-8"))
        return len(text)

    def flush(self):
        if self.closed:
            raise ValueError("I/O operation on closed file.")

    def __repr__(self):
        return "<erlang writer %s>" % self._name


class ErlangHandler(logging.Handler):
    """Sends log records to the Erlang ``logger``. The level follows
    ``record.levelno`` (mapped natively: below INFO is debug, INFO info,
    between INFO and WARNING notice, WARNING warning, ERROR error, CRITICAL
    and above critical)."""

    def emit(self, record):
        try:
            _native.log(record.levelno, record.name, self.format(record))
        except Exception:
            self.handleError(record)


def _compile_block(source):
    """Compiles a block for ``py:eval``: ``(statements, expression)``, where
    ``expression`` is the block's last statement when that is an expression
    (its value is the result) and ``None`` otherwise (the result is ``None``),
    and ``statements`` the code before it (``None`` when there is none)."""
    import ast
    tree = ast.parse(source, "<py>", "exec")
    expression = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        expression = compile(ast.Expression(tree.body.pop().value), "<py>", "eval")
    statements = compile(tree, "<py>", "exec") if tree.body else None
    return statements, expression


class _SpawnByDefault:
    """Makes 'spawn' the default start method of ``multiprocessing`` when it is
    first imported. Its Linux default, 'fork', would copy the whole Erlang VM
    (and os.fork() is refused inside it); 'spawn' starts a fresh interpreter
    (``sys.executable``, the venv's python). Nothing is imported until the
    program imports multiprocessing itself."""

    _NAME = "multiprocessing.context"

    def find_spec(self, name, path=None, target=None):
        if name != self._NAME:
            return None
        import importlib.machinery
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module):
            original(module)
            concrete = getattr(module, "_concrete_contexts", {})
            if "spawn" in concrete:
                module._default_context = module.DefaultContext(concrete["spawn"])

        loader.exec_module = exec_module
        return spec


def _setup(config):
    """Called once by the NIF after start-up, with a dict of settings."""
    _vm()
    if not any(isinstance(f, _SpawnByDefault) for f in sys.meta_path):
        sys.meta_path.insert(0, _SpawnByDefault())
    if not isinstance(config, dict):
        raise TypeError("erlang._setup: config must be a dict")
    sys.stdout = _Writer(1, "<stdout>")
    sys.stderr = _Writer(2, "<stderr>")
    root = logging.getLogger()
    # A second _setup (a reloaded package) replaces the handler, never stacks one.
    for handler in list(root.handlers):
        if type(handler).__name__ == "ErlangHandler":
            root.removeHandler(handler)
    root.addHandler(ErlangHandler())
    level = config.get("log_level")
    root.setLevel(logging.WARNING if level is None else level)
