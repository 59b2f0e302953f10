"""Ed25519 signatures over audit digests: keys, signing, verification, the development key."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.audit.signing import (
    generate_private_key,
    key_id,
    load_private_key,
    private_key_pem,
    public_key_raw,
    sign,
    signing_key_from_settings,
    verify,
)
from shared.settings import Settings

PAYLOAD = b'{"head":"abc","events":42}'


def _seed(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )


def test_round_trip() -> None:
    key = generate_private_key()
    public = public_key_raw(key)
    assert len(public) == 32
    assert public_key_raw(key.public_key()) == public
    signature = sign(key, PAYLOAD)
    assert len(base64.b64decode(signature, validate=True)) == 64
    assert verify(public, PAYLOAD, signature)


def test_tampering_fails() -> None:
    key = generate_private_key()
    public = public_key_raw(key)
    signature = sign(key, PAYLOAD)
    assert not verify(public, PAYLOAD + b" ", signature)
    assert not verify(public, PAYLOAD.replace(b"42", b"43"), signature)
    raw = bytearray(base64.b64decode(signature))
    raw[10] ^= 0x01
    assert not verify(public, PAYLOAD, base64.b64encode(bytes(raw)).decode())
    assert not verify(public_key_raw(generate_private_key()), PAYLOAD, signature)
    assert not verify(public, PAYLOAD, sign(generate_private_key(), PAYLOAD))


@pytest.mark.parametrize(
    "signature",
    ["", "not base64!", "@@@@", base64.b64encode(b"\x00" * 63).decode(), base64.b64encode(b"\x00" * 65).decode()],
)
def test_malformed_signatures_are_false_not_errors(signature: str) -> None:
    assert not verify(public_key_raw(generate_private_key()), PAYLOAD, signature)


def test_malformed_public_keys_and_arguments_are_false_not_errors() -> None:
    signature = sign(generate_private_key(), PAYLOAD)
    assert not verify(b"short", PAYLOAD, signature)
    assert not verify(b"", PAYLOAD, signature)
    assert not verify(public_key_raw(generate_private_key()), PAYLOAD, None)  # type: ignore[arg-type]


def test_load_private_key_accepts_pem_and_base64_seeds() -> None:
    key = generate_private_key()
    public = public_key_raw(key)
    seed = _seed(key)
    standard = base64.b64encode(seed).decode()
    urlsafe = base64.urlsafe_b64encode(seed).decode()
    forms = [
        private_key_pem(key),
        "\n" + private_key_pem(key) + "\n",
        standard,
        standard.rstrip("="),
        urlsafe,
        urlsafe.rstrip("="),
        f"  {standard}\n",
    ]
    for text in forms:
        assert public_key_raw(load_private_key(text)) == public, text
    assert private_key_pem(key).startswith("-----BEGIN PRIVATE KEY-----")


def test_the_alphabets_differ_for_some_seed_and_both_load() -> None:
    seed = bytes([0xFB, 0xFF, 0xBF] * 10 + [0xFE, 0xFF])  # base64 full of + and /
    standard = base64.b64encode(seed).decode()
    urlsafe = base64.urlsafe_b64encode(seed).decode()
    assert standard != urlsafe
    assert public_key_raw(load_private_key(standard)) == public_key_raw(load_private_key(urlsafe))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "garbage!",
        base64.b64encode(b"\x01" * 31).decode(),
        base64.b64encode(b"\x01" * 33).decode(),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    ],
)
def test_load_private_key_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        load_private_key(text)


def test_load_private_key_rejects_other_key_types() -> None:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(ValueError, match="Ed25519"):
        load_private_key(pem.decode())


def test_key_id() -> None:
    public = public_key_raw(generate_private_key())
    kid = key_id(public)
    assert len(kid) == 16 and all(c in "0123456789abcdef" for c in kid)
    assert key_id(public) == kid
    assert key_id(public_key_raw(generate_private_key())) != kid


def test_development_key_is_generated_once_under_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path / "data"))
    first = signing_key_from_settings(settings)
    path = tmp_path / "data" / "audit-signing-key.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == [path.name]
    second = signing_key_from_settings(settings)
    assert public_key_raw(second) == public_key_raw(first)


def test_configured_key_is_used_and_no_file_is_written(tmp_path: Path) -> None:
    key = generate_private_key()
    seed = base64.b64encode(_seed(key)).decode()
    settings = Settings(data_dir=str(tmp_path / "data"), audit_signing_key=seed)
    assert public_key_raw(signing_key_from_settings(settings)) == public_key_raw(key)
    assert not (tmp_path / "data").exists()
