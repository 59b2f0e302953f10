"""Ed25519 signatures over audit digests.

The private key comes from `KSD_AUDIT_SIGNING_KEY` (PEM PKCS#8, or the base64 of the raw
32-byte seed); in development, from a key generated once under the data directory. Anyone
holding the 32-byte public key can check a signature offline.

Standard library and `cryptography` only: the offline verifier imports it without the rest
of the platform.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

if TYPE_CHECKING:
    from shared.settings import Settings

SEED_SIZE = 32
SIGNATURE_SIZE = 64
DEV_KEY_FILE = "audit-signing-key.pem"


def generate_private_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def load_private_key(text: str) -> Ed25519PrivateKey:
    """A PEM PKCS#8 Ed25519 private key, or the base64 (standard or URL-safe alphabet,
    padding optional) of its 32-byte seed. The message of the ValueError never repeats
    the key material."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm, UnicodeEncodeError):
            raise ValueError("not a readable unencrypted PEM PKCS#8 private key") from None
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the PEM private key is not an Ed25519 key")
        return key
    compact = "".join(text.split()).replace("-", "+").replace("_", "/")
    try:
        seed = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "expected a PEM PKCS#8 Ed25519 private key or the base64 of a 32-byte seed"
        ) from None
    if len(seed) != SEED_SIZE:
        raise ValueError(f"an Ed25519 seed is {SEED_SIZE} bytes, the base64 gives {len(seed)}")
    return Ed25519PrivateKey.from_private_bytes(seed)


def load_public_key(text: str) -> bytes:
    """The raw 32 bytes of a trusted public key given as base64 (as GET /audit/digests
    publishes it), as PEM text, or as the path of a PEM file."""
    text = text.strip()
    if not text.startswith("-----BEGIN") and os.path.isfile(text):
        with open(text, encoding="ascii", errors="replace") as file:
            text = file.read().strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode("ascii"))
        except (ValueError, TypeError, UnsupportedAlgorithm, UnicodeEncodeError):
            raise ValueError("not a readable PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise ValueError("the PEM public key is not an Ed25519 key")
        return public_key_raw(key)
    compact = "".join(text.split()).replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(compact + "=" * (-len(compact) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("expected the base64 of a 32-byte Ed25519 public key, or a PEM file") from None
    if len(raw) != SEED_SIZE:
        raise ValueError(f"an Ed25519 public key is {SEED_SIZE} bytes, the base64 gives {len(raw)}")
    return raw


def private_key_pem(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")


def public_key_raw(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def key_id(public_raw: bytes) -> str:
    """A short stable name for a public key: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(public_raw).hexdigest()[:16]


def sign(key: Ed25519PrivateKey, payload: bytes) -> str:
    """The signature of `payload`, standard padded base64."""
    return base64.b64encode(key.sign(payload)).decode("ascii")


def verify(public_raw: bytes, payload: bytes, signature_b64: str) -> bool:
    """Whether `signature_b64` is the public key's signature of `payload`. False on any
    error (bad base64, wrong lengths, invalid signature), never raises."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        if len(signature) != SIGNATURE_SIZE:
            return False
        Ed25519PublicKey.from_public_bytes(public_raw).verify(signature, payload)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def signing_key_from_settings(settings: Settings) -> Ed25519PrivateKey:
    """The audit key: from settings, else one generated once under the data dir."""
    if settings.audit_signing_key:
        return load_private_key(settings.audit_signing_key)
    path = settings.data_path / DEV_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        # Created 0o600 (never readable by others, even briefly), then renamed atomically.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(private_key_pem(generate_private_key()))
        tmp.chmod(0o600)
        tmp.replace(path)
    return load_private_key(path.read_text(encoding="ascii"))
