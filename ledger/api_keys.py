"""API keys for the HTTP API, kept in the ledger's store as ``eventsourcing`` aggregates.

A key is ``tck_<key id>_<secret>``: the key id (16 lowercase hex characters) names it in
lists, logs and ``tracecode keys revoke``; the secret (``secrets.token_urlsafe(32)``, 256
random bits) is what proves it. The store keeps only the SHA-256 digest of the whole key,
never the key: it is shown once, when it is made. A fast hash is the right one here: the
key is a long random secret, not a password a person chose, so there is nothing to guess
and nothing a slow hash (bcrypt, argon2) would protect; a slow hash on every request would
only cap how many requests a server answers.

Which key may do what decides answers, so each change (made, revoked) is saved with a
commit of the chain (:meth:`ledger.application.Ledger.save_entries`) and ``tracecode
verify`` covers keys like named queries. Nothing is cached: :meth:`KeyRing.authenticate`
reads the store on every call, so a key made or revoked by one process counts at once in
every other process sharing the store.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID, uuid5

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.domain import event

from epcis.timestamps import utc_now
from ledger.access import Permission, Principal, Role, require
from ledger.application import Ledger
from ledger.domain import ChainedEntry

_NAMESPACE = UUID("5c1e7a92-3f48-4b6d-8e21-a4d90f7b3c65")
CREATED_TOPIC = "ledger.api_keys:ApiKey.Created"
REVOKED_TOPIC = "ledger.api_keys:ApiKey.Revoked"
TOPICS = [CREATED_TOPIC, REVOKED_TOPIC]

PREFIX = "tck_"
MAX_INSTITUTION = 200
MAX_LABEL = 200
FIRST_ADMIN_INSTITUTION = "local"
FIRST_ADMIN_LABEL = "first admin key"
# tck_ + 16 hex + _ + the secret (token_urlsafe: the URL-safe base64 alphabet); a bound on
# its length so that a huge header is refused before it is hashed.
_KEY = re.compile(r"tck_([0-9a-f]{16})_([A-Za-z0-9_-]{16,128})", re.ASCII)


@dataclass
class ApiKey(ChainedEntry, created_event_name="Created", kind="api key", key="key_id"):
    key_id: str
    digest: str
    role: str
    institution: str
    label: str
    created_at: str
    revoked_at: str | None = field(default=None, init=False)

    @staticmethod
    def create_id(key_id: str, **_: Any) -> UUID:
        return uuid5(_NAMESPACE, "api key:" + key_id)

    @event("Revoked")
    def revoke(self, revoked_at: str) -> None:
        self.revoked_at = revoked_at


@dataclass(frozen=True)
class ApiKeyInfo:
    """What may be shown of a key: never its digest, and never the key."""

    key_id: str
    role: Role
    institution: str
    label: str
    created_at: str
    revoked_at: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "keyId": self.key_id,
            "role": self.role.value,
            "institution": self.institution,
            "label": self.label,
            "createdAt": self.created_at,
            "revokedAt": self.revoked_at,
        }


class UnknownKey(KeyError):
    """No key has this key id."""

    def __init__(self, key_id: str) -> None:
        super().__init__(key_id)
        self.key_id = key_id

    def __str__(self) -> str:
        return f"no API key has the id {self.key_id!r}"


def digest_of(key: str) -> str:
    """The SHA-256 hex digest of a whole key string (what the store keeps)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _info(aggregate: ApiKey) -> ApiKeyInfo:
    return ApiKeyInfo(
        key_id=aggregate.key_id,
        role=Role(aggregate.role),
        institution=aggregate.institution,
        label=aggregate.label,
        created_at=aggregate.created_at,
        revoked_at=aggregate.revoked_at,
    )


def _has_control(text: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cs", "Zl", "Zp") for c in text)


def check_new_key(role: Role | str, institution: str, label: str = "") -> Role:
    """The role, once the role, institution and label of a new key are valid; ValueError
    saying why not (what :meth:`KeyRing.create` checks, for callers that check first)."""
    try:
        role = Role(role)
    except ValueError:
        roles = ", ".join(r.value for r in Role)
        raise ValueError(f"{role!r} is not a role: one of {roles}") from None
    if not isinstance(institution, str):
        raise ValueError("the institution must be a string")
    if not institution and role is not Role.REGULATOR:
        raise ValueError(
            f"a {role.value} key needs an institution (only a regulator key may have none)"
        )
    if institution and not institution.strip():
        raise ValueError("the institution is blank")
    if institution != institution.strip():
        raise ValueError(f"the institution {institution!r} starts or ends with white space")
    if len(institution) > MAX_INSTITUTION:
        raise ValueError(f"the institution is longer than {MAX_INSTITUTION} characters")
    if _has_control(institution):
        raise ValueError(f"the institution {institution!r} has control characters")
    if not isinstance(label, str):
        raise ValueError("the label must be a string")
    if len(label) > MAX_LABEL:
        raise ValueError(f"the label is longer than {MAX_LABEL} characters")
    if _has_control(label):
        raise ValueError(f"the label {label!r} has control characters")
    return role


class KeyRing:
    """Make, list, revoke and check the API keys in a ledger's store."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def create(self, role: Role, institution: str, label: str = "") -> tuple[ApiKeyInfo, str]:
        """Make a key; its info and the key itself (shown once: the store keeps only its
        digest). ValueError when the role, institution or label is not valid."""
        made = self._save_new(role, institution, label, only_if_none=False)
        assert made is not None  # only_if_none=False always makes one
        return made

    def list(self) -> list[ApiKeyInfo]:
        """Every key ever made (revoked ones too), in the order they were made."""
        keys: dict[UUID, ApiKeyInfo] = {}
        for notification in self.ledger.notifications(TOPICS):
            state = self.ledger.mapper.to_domain_event(notification).__dict__
            originator = state["originator_id"]
            if notification.topic == CREATED_TOPIC:
                keys[originator] = ApiKeyInfo(
                    key_id=state["key_id"],
                    role=Role(state["role"]),
                    institution=state["institution"],
                    label=state["label"],
                    created_at=state["created_at"],
                )
            elif originator in keys:
                keys[originator] = replace(keys[originator], revoked_at=state["revoked_at"])
        return list(keys.values())

    def get(self, key_id: str) -> ApiKeyInfo | None:
        """A key's info by its key id, or None."""
        try:
            found: ApiKey = self.ledger.repository.get(ApiKey.create_id(key_id))
        except AggregateNotFoundError:
            return None
        return _info(found)

    def revoke(self, key_id: str) -> ApiKeyInfo:
        """Revoke a key (at once, for every process sharing the store); revoking a revoked
        key changes nothing. :class:`UnknownKey` when no key has this id."""
        loaded: list[ApiKey] = []

        def build() -> list[ApiKey]:
            # again after a collision: load it again
            loaded.clear()
            try:
                found: ApiKey = self.ledger.repository.get(ApiKey.create_id(key_id))
            except AggregateNotFoundError:
                raise UnknownKey(key_id) from None
            loaded.append(found)
            if found.revoked_at is not None:
                return []
            found.revoke(utc_now())
            return [found]

        self.ledger.save_entries(build)
        return _info(loaded[0])

    def authenticate(self, key: str) -> Principal | None:
        """The principal a key stands for, or None: a malformed string, an unknown key id,
        a wrong secret, a revoked key. Reads the store every time (nothing cached)."""
        if not isinstance(key, str):
            return None
        match = _KEY.fullmatch(key)
        if match is None:
            return None
        key_id = match.group(1)
        try:
            found: ApiKey = self.ledger.repository.get(ApiKey.create_id(key_id))
        except AggregateNotFoundError:
            return None
        if not hmac.compare_digest(digest_of(key), found.digest):
            return None
        if found.revoked_at is not None:
            return None
        return Principal(
            subject=f"key {key_id}",
            role=Role(found.role),
            institution=found.institution,
            via="api-key",
        )

    def has_keys(self) -> bool:
        """Whether any key was ever made in this store (revoked ones count)."""
        return next(iter(self.ledger.notifications([CREATED_TOPIC])), None) is not None

    def first_admin_key(self) -> str | None:
        """When the store has no key at all, make an ``admin`` key (institution
        ``local``) and return it; else None. Two processes racing here make one key: the
        check runs again when their commits collide."""
        made = self._save_new(
            Role.ADMIN, FIRST_ADMIN_INSTITUTION, FIRST_ADMIN_LABEL, only_if_none=True
        )
        return None if made is None else made[1]

    def _save_new(
        self, role: Role | str, institution: str, label: str, *, only_if_none: bool
    ) -> tuple[ApiKeyInfo, str] | None:
        role = check_new_key(role, institution, label)
        made: list[tuple[ApiKey, str]] = []

        def build() -> list[ApiKey]:
            # again after a collision: another writer may have made the first key meanwhile
            made.clear()
            if only_if_none and self.has_keys():
                return []
            key_id = secrets.token_hex(8)
            key = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
            aggregate = ApiKey(
                key_id=key_id,
                digest=digest_of(key),
                role=role.value,
                institution=institution,
                label=label,
                created_at=utc_now(),
            )
            made.append((aggregate, key))
            return [aggregate]

        self.ledger.save_entries(build)
        if not made:
            return None
        aggregate, key = made[0]
        return _info(aggregate), key


class KeyRefused(Exception):
    """What an admin may not do with keys: the reason, for a 403."""


def keys_of(ledger: Ledger, who: Principal) -> KeyRing:
    """The key ring, once ``who`` may manage keys (an admin; the command line)."""
    require(who, Permission.ADMIN)
    return KeyRing(ledger)


def create_key(
    ledger: Ledger, who: Principal, role: Role, institution: str | None = None, label: str = ""
) -> tuple[ApiKeyInfo, str]:
    """An admin makes a key for its own institution (the default); a regulator key, or one
    of another institution, only the command line makes. ValueError for a bad value."""
    ring = keys_of(ledger, who)
    wanted = who.institution if institution is None else institution
    if who.via != "local":
        if role == Role.REGULATOR:
            raise KeyRefused("regulator keys are made on the command line (tracecode keys create)")
        if wanted != who.institution:
            raise KeyRefused(
                f"an admin of {who.institution!r} makes keys of its own institution only"
            )
    return ring.create(role, wanted, label)


def institution_keys(ledger: Ledger, who: Principal) -> list[ApiKeyInfo]:
    """The keys an admin sees: its institution's (every key for the command line)."""
    ring = keys_of(ledger, who)
    return [k for k in ring.list() if who.via == "local" or k.institution == who.institution]


def revoke_key(ledger: Ledger, who: Principal, key_id: str) -> ApiKeyInfo:
    """Revoke one of the admin's institution's keys (:class:`UnknownKey` for any other)."""
    ring = keys_of(ledger, who)
    found = ring.get(key_id)
    if found is None or (who.via != "local" and found.institution != who.institution):
        raise UnknownKey(key_id)
    return ring.revoke(key_id)
