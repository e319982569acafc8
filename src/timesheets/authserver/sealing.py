"""Encryption at rest of private keys and API secrets: AES-256-GCM from `cryptography`.

The AEAD key is derived with HKDF-SHA256 from the configured key-encryption key; each
sealed value is bound to its purpose (associated data) so one cannot stand in for another.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_NONCE_BYTES = 12
_VERSION = b"\x01"


class SealError(Exception):
    """A sealed value could not be opened: wrong key-encryption key or tampered data."""


class Sealer:
    """Seals and opens values with a key derived from the key-encryption key."""

    def __init__(self, key_encryption_key: str) -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"timesheets-sealing", info=b"v1"
        ).derive(key_encryption_key.encode("utf-8"))
        self._aead = AESGCM(derived)

    def seal(self, plaintext: bytes, purpose: str) -> bytes:
        """Encrypt `plaintext` for `purpose`."""
        nonce = os.urandom(_NONCE_BYTES)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, purpose.encode())

    def open(self, sealed: bytes, purpose: str) -> bytes:
        """Decrypt a value sealed for `purpose`."""
        if sealed[:1] != _VERSION:
            raise SealError("unknown sealing version")
        if len(sealed) < 1 + _NONCE_BYTES + 16:
            raise SealError("sealed value is truncated")
        nonce, ciphertext = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        try:
            return self._aead.decrypt(nonce, ciphertext, purpose.encode())
        except InvalidTag as exc:
            raise SealError("sealed value does not open with this key-encryption key") from exc
