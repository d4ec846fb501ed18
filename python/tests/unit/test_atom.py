import copy
import pickle

import pytest


def test_is_a_str(plain):
    a = plain.Atom("ok")
    assert isinstance(a, str)
    assert type(a) is plain.Atom
    assert a.upper() == "OK"
    assert a + "!" == "ok!"
    assert f"{a}" == "ok"
    assert type(str(a)) is str and str(a) == "ok"


def test_equal_and_hash_like_str(plain):
    a = plain.Atom("ok")
    assert a == "ok" and "ok" == a
    assert a != "error"
    assert hash(a) == hash("ok")
    assert a == plain.Atom("ok")
    assert sorted([plain.Atom("b"), "a", plain.Atom("c")]) == ["a", "b", "c"]


def test_dict_key_both_ways(plain):
    d = {plain.Atom("k"): 1, "s": 2}
    assert d["k"] == 1
    assert d[plain.Atom("s")] == 2
    assert {"k": 1} == {plain.Atom("k"): 1}
    assert len({plain.Atom("k"), "k"}) == 1


def test_keyword_argument_name(plain):
    def f(base=None, **rest):
        return base, rest

    assert f(**{plain.Atom("base"): 2}) == (2, {})
    got = f(**{plain.Atom("other"): 3})
    assert got == (None, {"other": 3})
    assert dict(**{plain.Atom("x"): 1}) == {"x": 1}


def test_repr(plain):
    assert repr(plain.Atom("ok")) == "Atom('ok')"
    assert repr(plain.Atom("it's")) == 'Atom("it\'s")'
    assert repr(plain.Atom("")) == "Atom('')"
    assert repr([plain.Atom("a")]) == "[Atom('a')]"


def test_no_instance_dict(plain):
    a = plain.Atom("ok")
    with pytest.raises(AttributeError):
        a.extra = 1


@pytest.mark.parametrize("protocol", range(0, pickle.HIGHEST_PROTOCOL + 1))
def test_pickle_round_trip(plain, protocol):
    a = plain.Atom("hello world")
    back = pickle.loads(pickle.dumps(a, protocol=protocol))
    assert type(back) is plain.Atom
    assert back == "hello world"
    nested = pickle.loads(pickle.dumps({plain.Atom("k"): [plain.Atom("v")]}, protocol=protocol))
    [(key, value)] = nested.items()
    assert type(key) is plain.Atom and key == "k"
    assert type(value[0]) is plain.Atom and value == ["v"]


def test_reduce(plain):
    a = plain.Atom("x")
    assert a.__reduce__() == (plain.Atom, ("x",))
    assert type(a.__reduce__()[1][0]) is str


def test_copy(plain):
    a = plain.Atom("x")
    for c in (copy.copy(a), copy.deepcopy(a)):
        assert type(c) is plain.Atom and c == "x"


def test_float_of_special_atoms(plain):
    # Python -> Erlang turns inf/nan into atoms; float() must take them back.
    assert float(plain.Atom("inf")) == float("inf")
    assert float(plain.Atom("-inf")) == float("-inf")
    nan = float(plain.Atom("nan"))
    assert nan != nan
