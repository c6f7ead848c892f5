"""Who is asking, and what each role may do.

Every call into tracecode carries a :class:`Principal`: who asks (a key, a token's subject,
the command line), in which role, for which institution. The roles and what they grant are
the issue's contract:

* ``capture`` — post EPCIS documents; read its own capture jobs;
* ``terminal`` — hospital scans; read the codes it scans;
* ``reader`` — every read (queries, events, status, hierarchy, trails, stock, capture jobs),
  within its institution;
* ``auditor`` — what a reader may, plus export, verify, checkpoint;
* ``regulator`` — reads across institutions (trails and queries); patients only as
  pseudonyms (never revealed);
* ``admin`` — what a reader may, plus keys, master data, named queries, subscriptions,
  erasing patient mappings; with the auditor, revealing the patients its institution
  recorded.

An institution is a free string (the 医保 institution code where there is one). A principal
of no institution in particular (a regulator, the command line) sees every institution.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    CAPTURE = "capture"
    TERMINAL = "terminal"
    READER = "reader"
    AUDITOR = "auditor"
    REGULATOR = "regulator"
    ADMIN = "admin"


class Permission(StrEnum):
    CAPTURE = "capture"
    """Post EPCIS documents and events."""
    SCAN = "scan"
    """Hospital scans (receiving, dispensing, binding…)."""
    READ_CODES = "read codes"
    """A code's status and hierarchy."""
    READ_OWN_JOBS = "read own capture jobs"
    READ = "read"
    """Every read: events, queries, status, hierarchy, trails, stock, capture jobs."""
    AUDIT = "audit"
    """Export, verify, checkpoint."""
    ADMIN = "admin"
    """Keys, master data, named queries, subscriptions, erasing patient mappings."""
    REVEAL_PATIENTS = "reveal patients"
    """Turn a pseudonym back into the patient its institution recorded."""


_READER = frozenset({Permission.READ, Permission.READ_CODES, Permission.READ_OWN_JOBS})
GRANTS: dict[Role, frozenset[Permission]] = {
    Role.CAPTURE: frozenset({Permission.CAPTURE, Permission.READ_OWN_JOBS}),
    Role.TERMINAL: frozenset({Permission.SCAN, Permission.READ_CODES}),
    Role.READER: _READER,
    Role.AUDITOR: _READER | {Permission.AUDIT, Permission.REVEAL_PATIENTS},
    Role.REGULATOR: frozenset({Permission.READ, Permission.READ_CODES}),
    Role.ADMIN: _READER | {Permission.ADMIN, Permission.REVEAL_PATIENTS},
}
ALL_INSTITUTIONS_ROLES = frozenset({Role.REGULATOR})


def roles_with(permission: Permission) -> list[Role]:
    """The roles that hold a permission, in the order of :class:`Role`."""
    return [role for role in Role if permission in GRANTS[role]]


@dataclass(frozen=True)
class Principal:
    """Who is asking: ``subject`` (a key id, a token's ``sub``, ``command line``), its role,
    its institution, and how it was known (``api-key``, ``jwt``, ``local``, ``open``)."""

    subject: str
    role: Role
    institution: str
    via: str = "api-key"

    @property
    def scope(self) -> str | None:
        """The one institution this principal sees, or None when it sees every one."""
        if self.via in ("local", "open") or self.role in ALL_INSTITUTIONS_ROLES:
            return None
        return self.institution

    def may(self, permission: Permission) -> bool:
        return self.via in ("local", "open") or permission in GRANTS[self.role]

    def sees(self, institution: str) -> bool:
        """Whether what ``institution`` captured is shown to this principal."""
        scope = self.scope
        return scope is None or scope == institution


def sees_job(principal: Principal, institution: str, captured_by: str) -> bool:
    """Whether a capture job is shown: to a reader, its institution's jobs; to whoever may
    only read its own, the jobs it captured."""
    if principal.may(Permission.READ):
        return principal.sees(institution)
    return principal.may(Permission.READ_OWN_JOBS) and captured_by == principal.subject


LOCAL = Principal("command line", Role.ADMIN, "", via="local")
"""The command line: it has the database, so it acts with full rights (and says so)."""

OPEN = Principal("anyone (authentication is off)", Role.ADMIN, "", via="open")
"""Every request when authentication is turned off (a development setting): full rights."""


class Forbidden(Exception):
    """A principal asked for what its role does not grant."""

    def __init__(self, principal: Principal, permission: Permission) -> None:
        self.principal = principal
        self.permission = permission
        self.roles = roles_with(permission)
        needed = " or ".join(role.value for role in self.roles)
        super().__init__(
            f"{permission.value} needs the role {needed}; "
            f"{principal.subject} has the role {principal.role.value}"
        )


def require(principal: Principal, permission: Permission) -> None:
    """Raise :class:`Forbidden` unless ``principal`` holds ``permission``."""
    if not principal.may(permission):
        raise Forbidden(principal, permission)
