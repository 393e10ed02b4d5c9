"""Console users: who may sign in, for which tenant, in which role, with which password hash.

Users live in a TOML file (``users.toml``) that only holds Argon2id hashes, never passwords:

.. code-block:: toml

    [[users]]
    tenant = "gravatai"
    name = "ana"
    role = "servant"
    servant_registration = "AF-0001"   # whose agenda this servant sees
    hash = "$argon2id$v=19$m=65536,t=3,p=4$..."

    [[users]]
    tenant = "gravatai"
    name = "rui"
    role = "operator"
    tenants = ["canoas"]               # other tenants this operator may see (optional)
    hash = "$argon2id$..."

``munivideo console add-user`` writes entries; ``munivideo console hash-password`` prints a hash.
Hashing is argon2-cffi's :class:`argon2.PasswordHasher` (RFC 9106 low-memory profile).
"""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from munivideo.config import read_toml, validation_error
from munivideo.errors import ConfigurationError

UserName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
TenantId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:/-]+$")]

MIN_PASSWORD_LENGTH = 12
"""Shortest password ``add-user`` accepts."""


class ConsoleRole(StrEnum):
    """What a signed-in person may do: servants attend, operators run the outbox."""

    SERVANT = "servant"
    OPERATOR = "operator"


class ConsoleUser(BaseModel):
    """One person allowed to sign in to one tenant's console."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tenant: TenantId
    name: UserName
    role: ConsoleRole
    hash: str = Field(pattern=r"^\$argon2(id|i|d)\$", repr=False)
    display_name: str = Field(default="", max_length=200)
    #: a servant's registration ("matrícula"): the agenda shows the bookings assigned to it
    servant_registration: str | None = Field(default=None, min_length=1, max_length=64)
    #: an operator's other tenants (the sign-in tenant is always included)
    tenants: tuple[TenantId, ...] = ()

    @model_validator(mode="after")
    def _role_fields(self) -> ConsoleUser:
        if self.role is ConsoleRole.SERVANT and not self.servant_registration:
            raise ValueError("a servant needs servant_registration")
        if self.role is ConsoleRole.SERVANT and self.tenants:
            raise ValueError("only operators see other tenants")
        return self

    @property
    def key(self) -> str:
        """``tenant/name``: what the session remembers."""
        return f"{self.tenant}/{self.name}"

    @property
    def visible_tenants(self) -> tuple[str, ...]:
        """The sign-in tenant first, then the operator's other tenants."""
        return (self.tenant, *(t for t in self.tenants if t != self.tenant))


class UsersFile(BaseModel):
    """The whole users file; (tenant, name) pairs are unique."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    users: tuple[ConsoleUser, ...] = ()

    @model_validator(mode="after")
    def _unique(self) -> UsersFile:
        keys = [u.key for u in self.users]
        dupes = sorted({k for k in keys if keys.count(k) > 1})
        if dupes:
            raise ValueError(f"users repeated: {', '.join(dupes)}")
        return self

    def find(self, tenant: str, name: str) -> ConsoleUser | None:
        """The user ``name`` of ``tenant``, or None."""
        return next((u for u in self.users if u.tenant == tenant and u.name == name), None)

    def with_user(self, user: ConsoleUser) -> UsersFile:
        """A copy with ``user`` added, or replacing the entry with the same tenant and name."""
        kept = [u for u in self.users if u.key != user.key]
        return UsersFile(users=(*kept, user))


def load_users(path: Path) -> UsersFile:
    """Read and validate a users file; raises :class:`ConfigurationError` naming the field."""
    data = read_toml(path, what="users file")
    try:
        return UsersFile.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, source=str(path)) from None


def _toml_value(value: object) -> str:
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    # a JSON string (ASCII, \\uXXXX escapes) is a valid TOML basic string
    return json.dumps(str(value))


def dump_users(users: UsersFile) -> str:
    """The users file as TOML text (what :func:`save_users` writes)."""
    out = ["# munivideo console users: Argon2id hashes only (munivideo console add-user)."]
    for user in users.users:
        out.append("")
        out.append("[[users]]")
        for key, value in user.model_dump(mode="json", exclude_defaults=True).items():
            out.append(f"{key} = {_toml_value(value)}")
    return "\n".join(out) + "\n"


def save_users(path: Path, users: UsersFile) -> None:
    """Write the users file atomically (a temporary file renamed over it), mode 0600."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(dump_users(users), encoding="utf-8")
    tmp.chmod(0o600)
    tmp.replace(path)


def password_hasher() -> PasswordHasher:
    """The hasher for new passwords: argon2-cffi's defaults (Argon2id, RFC 9106 low memory)."""
    return PasswordHasher()


def hash_password(password: str, *, hasher: PasswordHasher | None = None) -> str:
    """An Argon2id hash of ``password``; refuses passwords shorter than
    :data:`MIN_PASSWORD_LENGTH` with a :class:`ConfigurationError`."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ConfigurationError(
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    return (hasher or password_hasher()).hash(password)


class Authenticator:
    """Checks a (tenant, name, password) triple against the users file.

    An unknown user costs one hash verification too (against a hash made at start-up), so
    answer time does not tell which names exist.
    """

    def __init__(self, users: UsersFile, *, hasher: PasswordHasher | None = None) -> None:
        self.users = users
        self._hasher = hasher or password_hasher()
        self._decoy = self._hasher.hash("munivideo-decoy-password")

    def user(self, key: str) -> ConsoleUser | None:
        """The user a session names (``tenant/name``), if still configured."""
        tenant, _, name = key.partition("/")
        return self.users.find(tenant, name)

    def verify(self, tenant: str, name: str, password: str) -> ConsoleUser | None:
        """The user if ``password`` is theirs, else None (wrong, unknown or bad hash)."""
        user = self.users.find(tenant, name.strip().lower())
        try:
            self._hasher.verify(user.hash if user else self._decoy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return None
        return user


__all__ = [
    "MIN_PASSWORD_LENGTH",
    "Authenticator",
    "ConsoleRole",
    "ConsoleUser",
    "UsersFile",
    "dump_users",
    "hash_password",
    "load_users",
    "password_hasher",
    "save_users",
]
