"""User passwords: argon2id hashes (argon2-cffi), verified in constant time."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
#: A hash of a random password, verified when an account does not exist, so that an
#: unknown email takes as long as a wrong password.
_DUMMY = _HASHER.hash("no account has this password: 4b1d9a0e")
MIN_LENGTH = 10


def hash_password(password: str) -> str:
    """The stored form of a password."""
    if len(password) < MIN_LENGTH:
        raise ValueError(f"a password needs at least {MIN_LENGTH} characters")
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether the password matches; with no hash, spends the same time and says no."""
    try:
        return _HASHER.verify(password_hash or _DUMMY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False
