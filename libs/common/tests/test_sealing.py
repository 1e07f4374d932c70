import pytest

from nodebyte_common.sealing import Sealer, SealingError, mask, parse_keys

K1 = "a" * 64
K2 = "b" * 64


def test_seal_and_open_with_context() -> None:
    sealer = Sealer.from_settings(f"k1:{K1}")
    sealed = sealer.seal("ptla_secret", "panel:application_key")
    assert "ptla_secret" not in sealed
    assert sealed.startswith("nbs1.k1.")
    assert sealer.open(sealed, "panel:application_key") == "ptla_secret"
    with pytest.raises(SealingError):
        sealer.open(sealed, "another:context")


def test_same_plaintext_seals_differently_each_time() -> None:
    sealer = Sealer.from_settings(f"k1:{K1}")
    assert sealer.seal("x") != sealer.seal("x")


def test_rotation_opens_old_values_and_seals_with_the_new_key() -> None:
    old = Sealer.from_settings(f"k1:{K1}").seal("token")
    rotated = Sealer.from_settings(f"k1:{K1},k2:{K2}", current="k2")
    assert rotated.open(old) == "token"
    assert rotated.key_id_of(rotated.seal("token")) == "k2"


def test_unknown_key_and_tampering_are_refused() -> None:
    sealed = Sealer.from_settings(f"k1:{K1}").seal("token")
    with pytest.raises(SealingError):
        Sealer.from_settings(f"k2:{K2}").open(sealed)
    tampered = sealed[:-2] + ("A" if sealed[-2] != "A" else "B") + sealed[-1]
    with pytest.raises(SealingError):
        Sealer.from_settings(f"k1:{K1}").open(tampered)


@pytest.mark.parametrize("spec", ["", "k1:zz", "k1:abcd", ":" + K1, "a.b:" + K1])
def test_bad_key_specs(spec: str) -> None:
    with pytest.raises(SealingError):
        parse_keys(spec)


def test_mask() -> None:
    assert mask("ptla_0123456789abcdef") == "••••cdef"
    assert mask("short") == "••••"
    assert mask("") == ""
    assert mask(None) is None
