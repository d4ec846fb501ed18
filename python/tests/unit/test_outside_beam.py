import pytest

MESSAGE = "erlang: not running inside the BEAM"


def test_imports_without_native(plain):
    assert plain._native is None


@pytest.mark.parametrize(
    "invoke",
    [
        lambda m: m.call("erlang", "abs", [-3]),
        lambda m: m.call(object(), [1]),
        lambda m: m.cast("erlang", "abs", [-3]),
        lambda m: m.send(None, 1),
        lambda m: m.self(),
        lambda m: m._setup({}),
    ],
    ids=["call", "call_fun", "cast", "send", "self", "_setup"],
)
def test_functions_need_the_vm(plain, invoke):
    with pytest.raises(RuntimeError) as info:
        invoke(plain)
    assert str(info.value) == MESSAGE


@pytest.mark.parametrize("name", ["Pid", "Ref", "Port", "Fun"])
def test_native_types_are_placeholders(plain, name):
    cls = getattr(plain, name)
    assert cls.__name__ == name
    assert not isinstance(1, cls)
    assert not isinstance(plain.Atom("x"), cls)
    with pytest.raises(RuntimeError) as info:
        cls()
    assert str(info.value) == MESSAGE


def test_public_names(plain):
    for name in plain.__all__:
        assert hasattr(plain, name), name
    assert set(plain.__all__) == {
        "Atom", "Pid", "Ref", "Port", "Fun", "Error", "Cancelled", "call", "cast",
        "send", "self", "register_encoder", "unregister_encoder", "ErlangHandler",
    }
