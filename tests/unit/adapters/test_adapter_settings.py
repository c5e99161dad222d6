"""The adapter's settings: signing key and agencies' keys, with errors that name the setting
and never show a secret."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from adapters.signing import generate, public_b64
from kuzet.commands.adapter import agency_keys, signer_from
from kuzet.settings import SettingsError, load_settings


def test_the_signing_key_comes_from_the_seed_or_a_file(tmp_path: Path) -> None:
    pair = generate()
    assert signer_from(load_settings(environ={"KUZET_ADAPTER_SIGNING_KEY": pair.private_b64})
                       ).key_id == pair.key_id
    path = tmp_path / "adapter.key"
    path.write_text(pair.private_b64 + "\n")
    settings = load_settings(environ={"KUZET_ADAPTER_SIGNING_KEY_PATH": str(path)})
    assert signer_from(settings).key_id == pair.key_id
    assert pair.private_b64 not in repr(load_settings(
        environ={"KUZET_ADAPTER_SIGNING_KEY": pair.private_b64}))


@pytest.mark.parametrize(("environ", "message"), [
    ({}, "KUZET_ADAPTER_SIGNING_KEY or KUZET_ADAPTER_SIGNING_KEY_PATH is required"),
    ({"KUZET_ADAPTER_SIGNING_KEY": "c2VjcmV0"}, "KUZET_ADAPTER_SIGNING_KEY=***: the private"),
    ({"KUZET_ADAPTER_SIGNING_KEY_PATH": "/nonexistent/k"}, "No such file"),
])
def test_a_missing_or_bad_signing_key_names_the_setting(environ: dict[str, str],
                                                         message: str) -> None:
    with pytest.raises(SettingsError, match=re.escape(message)) as caught:
        signer_from(load_settings(environ=environ))
    assert "c2VjcmV0" not in str(caught.value)


def test_agency_keys_parse_and_bad_entries_are_named() -> None:
    police, zhkkh = generate(), generate()
    keys = agency_keys(load_settings(environ={
        "KUZET_ADAPTER_AGENCY_KEYS": f"police:{police.public_b64}, zhkkh:{zhkkh.public_b64},"}))
    assert {a: public_b64(k) for a, k in keys.items()} == {"police": police.public_b64,
                                                           "zhkkh": zhkkh.public_b64}
    for bad, named in ((f"polis:{police.public_b64}", "'polis'"), ("police:abc", "'police'"),
                       ("police", "'police'")):
        with pytest.raises(SettingsError, match=f"KUZET_ADAPTER_AGENCY_KEYS entry {named}"):
            agency_keys(load_settings(environ={"KUZET_ADAPTER_AGENCY_KEYS": bad}))
