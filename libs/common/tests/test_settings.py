import msgspec
import pytest

from nodebyte_common.settings import CommonSettings, SettingsError, csv, load_settings


class ExampleSettings(CommonSettings, kw_only=True, frozen=True):
    port: int = msgspec.field(default=8080, name="backend_port")
    batch_size: int = 100


BASE = {"DATABASE_URL": "postgresql://x@h/db", "SERVICE_TOKEN": "t"}


def test_reads_variables_and_converts_types() -> None:
    s = load_settings(ExampleSettings, {**BASE, "BACKEND_PORT": "9000", "BATCH_SIZE": "7"})
    assert (s.port, s.batch_size, s.database_url) == (9000, 7, "postgresql://x@h/db")


def test_missing_required_variable_is_named() -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL is required"):
        load_settings(ExampleSettings, {"SERVICE_TOKEN": "t"})


def test_invalid_variable_is_named_without_its_value() -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(ExampleSettings, {**BASE, "BATCH_SIZE": "lots-secret"})
    assert "BATCH_SIZE is invalid" in str(info.value)
    assert "lots-secret" not in str(info.value)


def test_renamed_field_reads_its_own_variable() -> None:
    with pytest.raises(SettingsError, match="BACKEND_PORT is invalid"):
        load_settings(ExampleSettings, {**BASE, "BACKEND_PORT": "eighty"})


def test_csv_trims_and_drops_empties() -> None:
    assert csv(" a, b ,,c ") == ["a", "b", "c"]


class TextSettings(CommonSettings, kw_only=True, frozen=True):
    audience: str = "hytale-server"
    optional_name: str | None = "x"
    retries: int = 3


def test_an_explicitly_empty_text_value_means_empty() -> None:
    s = load_settings(TextSettings, {**BASE, "AUDIENCE": "", "OPTIONAL_NAME": ""})
    assert (s.audience, s.optional_name) == ("", "")
    assert load_settings(TextSettings, BASE).audience == "hytale-server"


def test_an_empty_number_is_unset_and_an_empty_required_value_is_missing() -> None:
    assert load_settings(TextSettings, {**BASE, "RETRIES": ""}).retries == 3
    with pytest.raises(SettingsError, match="DATABASE_URL is required"):
        load_settings(TextSettings, {**BASE, "DATABASE_URL": ""})


def test_the_go_backends_single_encryption_key_still_seals_and_opens() -> None:
    from nodebyte_common.sealing import optional_sealer

    base = {"DATABASE_URL": "postgresql://x", "SERVICE_TOKEN": "t"}
    legacy_hex, new_hex = "11" * 32, "22" * 32
    only_legacy = load_settings(CommonSettings, {**base, "ENCRYPTION_KEY": legacy_hex})
    old_sealer = optional_sealer(only_legacy)
    assert old_sealer is not None
    sealed_before = old_sealer.seal("panel-key", "ctx")
    assert old_sealer.key_id_of(sealed_before) == "legacy"

    both = load_settings(
        CommonSettings, {**base, "ENCRYPTION_KEY": legacy_hex, "ENCRYPTION_KEYS": f"k2:{new_hex}"}
    )
    sealer = optional_sealer(both)
    assert sealer is not None
    assert sealer.open(sealed_before, "ctx") == "panel-key"  # the old key still opens
    assert sealer.key_id_of(sealer.seal("x", "ctx")) == "k2"  # new values use ENCRYPTION_KEYS

    with pytest.raises(SettingsError, match="ENCRYPTION_KEY"):
        optional_sealer(load_settings(CommonSettings, {**base, "ENCRYPTION_KEY": "abc"}))
