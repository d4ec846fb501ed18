import datetime

import pytest


@pytest.fixture
def enc(plain):
    plain._encoders.clear()
    yield plain
    plain._encoders.clear()


def test_register_and_replace(enc):
    def iso(d):
        return d.isoformat()

    def year(d):
        return d.year

    assert enc.register_encoder(datetime.date, iso) is None
    assert enc._encoders == {datetime.date: iso}
    enc.register_encoder(datetime.date, year)
    assert enc._encoders == {datetime.date: year}
    enc.register_encoder(complex, repr)
    assert enc._encoders == {datetime.date: year, complex: repr}


def test_unregister(enc):
    enc.register_encoder(complex, repr)
    enc.register_encoder(set, sorted)
    assert enc.unregister_encoder(complex) is None
    assert enc._encoders == {set: sorted}
    # Removing what is not there is not an error.
    enc.unregister_encoder(complex)
    enc.unregister_encoder(bytes)
    assert enc._encoders == {set: sorted}


@pytest.mark.parametrize("not_a_type", [3, "datetime.date", None, datetime.date(2020, 1, 1)])
def test_register_rejects_non_types(enc, not_a_type):
    with pytest.raises(TypeError, match="expected a type"):
        enc.register_encoder(not_a_type, repr)
    assert enc._encoders == {}


@pytest.mark.parametrize("not_callable", [None, 3, "repr"])
def test_register_rejects_non_callables(enc, not_callable):
    with pytest.raises(TypeError, match="expected a callable"):
        enc.register_encoder(complex, not_callable)
    assert enc._encoders == {}


def test_registry_is_the_module_dict(enc):
    # The NIF reads erlang._encoders itself: registering must fill that very dict.
    registry = enc._encoders
    enc.register_encoder(complex, repr)
    assert registry is enc._encoders and registry[complex] is repr
