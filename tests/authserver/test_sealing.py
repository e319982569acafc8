"""Sealing secrets at rest (AES-256-GCM under an HKDF-derived key, bound to a purpose)."""

from __future__ import annotations

import os

import pytest

from timesheets.authserver.sealing import Sealer, SealError

KEK = "test-key-encryption-key-0123456789"
PURPOSE = "signing-key:RS256"


@pytest.fixture
def sealer() -> Sealer:
    """A sealer under the test key-encryption key."""
    return Sealer(KEK)


@pytest.fixture
def sealed(sealer: Sealer) -> bytes:
    """A sealed short secret."""
    return sealer.seal(b"the private key", PURPOSE)


@pytest.mark.parametrize("plaintext", [b"", b"x", b"\x00" * 32, os.urandom(4096)])
def test_round_trip(sealer: Sealer, plaintext: bytes) -> None:
    assert sealer.open(sealer.seal(plaintext, PURPOSE), PURPOSE) == plaintext


def test_another_sealer_with_the_same_kek_opens_it(sealed: bytes) -> None:
    assert Sealer(KEK).open(sealed, PURPOSE) == b"the private key"


def test_the_sealed_value_does_not_contain_the_plaintext(sealed: bytes) -> None:
    assert b"the private key" not in sealed


@pytest.mark.parametrize("kek", ["", "another-key", KEK + " ", KEK.upper()])
def test_a_wrong_key_encryption_key_is_seal_error(sealed: bytes, kek: str) -> None:
    with pytest.raises(SealError, match="does not open with this key-encryption key"):
        Sealer(kek).open(sealed, PURPOSE)


@pytest.mark.parametrize("purpose", ["", "signing-key:ES256", "api-secret", PURPOSE + " "])
def test_a_wrong_purpose_is_seal_error(sealer: Sealer, sealed: bytes, purpose: str) -> None:
    """The purpose is associated data: a value sealed for one use cannot stand in for another."""
    with pytest.raises(SealError):
        sealer.open(sealed, purpose)


def test_every_tampered_byte_is_seal_error(sealer: Sealer, sealed: bytes) -> None:
    for index in range(len(sealed)):
        for flip in (0x01, 0x80):
            tampered = bytearray(sealed)
            tampered[index] ^= flip
            with pytest.raises(SealError):
                sealer.open(bytes(tampered), PURPOSE)


@pytest.mark.parametrize("version", [b"\x00", b"\x02", b"\xff"])
def test_an_unknown_version_is_seal_error(sealer: Sealer, sealed: bytes, version: bytes) -> None:
    with pytest.raises(SealError, match="unknown sealing version"):
        sealer.open(version + sealed[1:], PURPOSE)


def test_an_empty_value_is_seal_error(sealer: Sealer) -> None:
    with pytest.raises(SealError, match="unknown sealing version"):
        sealer.open(b"", PURPOSE)


@pytest.mark.parametrize("length", [1, 2, 5, 8, 9, 12, 13, 20, 28, -1])
def test_a_truncated_value_is_seal_error(sealer: Sealer, sealed: bytes, length: int) -> None:
    """A value cut short anywhere (even inside the nonce) is refused as SealError."""
    with pytest.raises(SealError):
        sealer.open(sealed[:length], PURPOSE)


def test_an_extended_value_is_seal_error(sealer: Sealer, sealed: bytes) -> None:
    with pytest.raises(SealError):
        sealer.open(sealed + b"\x00", PURPOSE)


def test_two_seals_of_the_same_plaintext_differ(sealer: Sealer) -> None:
    """A fresh random nonce per seal: equal plaintexts are not visible as equal."""
    first, second = sealer.seal(b"same", PURPOSE), sealer.seal(b"same", PURPOSE)
    assert first != second
    assert first[1:13] != second[1:13]
    assert sealer.open(first, PURPOSE) == sealer.open(second, PURPOSE) == b"same"


def test_sealed_layout_is_version_nonce_ciphertext_and_tag(sealer: Sealer) -> None:
    """1 version byte, a 12-byte GCM nonce, then the ciphertext with its 16-byte tag."""
    value = sealer.seal(b"12345", PURPOSE)
    assert value[:1] == b"\x01"
    assert len(value) == 1 + 12 + 5 + 16
