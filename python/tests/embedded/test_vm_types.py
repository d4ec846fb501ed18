"""Pid, Ref, Port, Fun and Atom as they cross between Erlang and Python."""

import pickle

import erlang
from erlang import Atom


def test_self_is_the_calling_pid():
    me = erlang.self()
    assert isinstance(me, erlang.Pid)
    # Callbacks run in the process that called Python, so Erlang's self()
    # there is the same pid.
    same = erlang.call("erlang", "self", [])
    assert isinstance(same, erlang.Pid)
    assert same == me
    assert hash(same) == hash(me)
    assert erlang.call("erlang", "is_pid", [me]) is True


def test_pid_equality_and_hash(suite):
    me = erlang.self()
    other = erlang.call(suite, "spawn_idle", [])
    assert isinstance(other, erlang.Pid)
    assert other != me
    assert not (other == me)
    assert len({me, other, erlang.call("erlang", "self", [])}) == 2
    assert {me: 1, other: 2}[erlang.call("erlang", "self", [])] == 1
    assert erlang.call("erlang", "=:=", [other, other]) is True
    assert erlang.call("erlang", "exit", [other, Atom("kill")]) is True


def test_pid_text_round_trip():
    me = erlang.self()
    text = erlang.call("erlang", "pid_to_list", [me])
    # A charlist arrives as a list of ints.
    assert isinstance(text, list) and text[0] == ord("<") and text[-1] == ord(">")
    assert erlang.call("erlang", "list_to_pid", [text]) == me
    assert repr(me) == "erlang.Pid(%s)" % "".join(map(chr, text))


def test_ref_equality_and_hash():
    r1 = erlang.call("erlang", "make_ref", [])
    r2 = erlang.call("erlang", "make_ref", [])
    assert isinstance(r1, erlang.Ref) and isinstance(r2, erlang.Ref)
    assert r1 != r2
    back = erlang.call("erlang", "hd", [[r1]])
    assert back == r1 and back is not None
    assert hash(back) == hash(r1)
    assert len({r1, r2, back}) == 2
    assert {r1: "one", r2: "two"}[back] == "one"
    assert erlang.call("erlang", "=:=", [r1, back]) is True
    assert erlang.call("erlang", "=:=", [r1, r2]) is False
    assert erlang.call("erlang", "is_reference", [r1]) is True


def test_port(suite):
    port = erlang.call(suite, "a_port", [])
    assert isinstance(port, erlang.Port)
    assert erlang.call("erlang", "is_port", [port]) is True
    assert erlang.call("erlang", "hd", [[port]]) == port
    assert hash(erlang.call("erlang", "hd", [[port]])) == hash(port)


def test_fun_is_opaque_and_callable(suite):
    rev = erlang.call("erlang", "make_fun", [Atom("lists"), Atom("reverse"), 1])
    assert isinstance(rev, erlang.Fun)
    assert erlang.call("erlang", "is_function", [rev, 1]) is True
    assert erlang.call(rev, [[1, 2, 3]]) == [3, 2, 1]
    assert erlang.call("erlang", "hd", [[rev]]) == rev
    add5 = erlang.call(suite, "adder", [5])
    assert isinstance(add5, erlang.Fun)
    assert erlang.call(add5, [37]) == 42
    assert erlang.call(add5, args=(1,)) == 6
    assert add5 != rev


def test_atom_round_trip():
    assert erlang.call("erlang", "is_atom", [Atom("x")]) is True
    # A plain str goes to Erlang as a binary.
    assert erlang.call("erlang", "is_atom", ["x"]) is False
    assert erlang.call("erlang", "is_binary", ["x"]) is True
    back = erlang.call("erlang", "hd", [[Atom("py_python_atom")]])
    assert type(back) is Atom and back == "py_python_atom"
    node = erlang.call("erlang", "node", [])
    assert type(node) is Atom and "@" in node
    assert erlang.call("erlang", "atom_to_binary", [node]) == node
    assert erlang.call("erlang", "atom_to_binary", [Atom("héllo")]) == "héllo"


def test_atom_as_kwarg_from_erlang(suite):
    # A map with atom keys arrives with Atom keys, usable as **kwargs.
    opts = erlang.call(suite, "kwargs", [])
    assert opts == {"base": 16}
    assert type(next(iter(opts))) is Atom
    assert int("ff", **opts) == 255


def test_atom_pickles_inside_the_vm():
    a = pickle.loads(pickle.dumps(Atom("ok")))
    assert type(a) is Atom and a == "ok"
    assert erlang.call("erlang", "is_atom", [a]) is True
