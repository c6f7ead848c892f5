"""Patient pseudonyms: what the log holds instead of a patient's identifier.

A pseudonym is the HMAC-SHA256 of the normalised identifier under the patient key of the
settings (:mod:`ledger.patient_key`), cut to 160 bits and written in base32 under the
project's namespace: ``urn:tracecode:patient:<32 characters>``. One key gives one patient
one pseudonym, so trails group by patient; without the key a pseudonym cannot be linked to
an identifier (nor one identifier's pseudonym guessed from another's). The identifier is
normalised first (surrounding space stripped, NFKC — full-width digits are digits —, letters
upper-cased: a 身份证 number ends in ``X`` or ``x``), so one patient typed two ways is one
pseudonym.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata

PREFIX = "urn:tracecode:patient:"
MAX_LENGTH = 64
"""The longest identifier taken (after normalising): 身份证 numbers have 18 characters,
medical-record and insurance numbers fewer than 40."""
_MAC_BYTES = 20  # 160 bits: 32 base32 characters
_DOMAIN = b"tracecode patient pseudonym/1\x00"
_PSEUDONYM = re.compile(re.escape(PREFIX) + r"[a-z2-7]{32}", re.ASCII)


class BadPatientId(ValueError):
    """A value that cannot be a patient's identifier (or pseudonym); the message says why."""


def normalise(patient_id: str) -> str:
    """The identifier as it is pseudonymised: stripped, NFKC, letters upper-cased;
    :class:`BadPatientId` when empty, too long, or holding control characters."""
    if not isinstance(patient_id, str):
        raise BadPatientId("a patient identifier is a string")
    value = unicodedata.normalize("NFKC", patient_id).strip().upper()
    if not value:
        raise BadPatientId("the patient identifier is empty")
    if len(value) > MAX_LENGTH:
        raise BadPatientId(
            f"the patient identifier has {len(value)} characters, at most {MAX_LENGTH} are taken"
        )
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp") for c in value):
        raise BadPatientId("the patient identifier holds a control character")
    return value


def pseudonym(patient_id: str, key: bytes | None = None) -> str:
    """The patient's pseudonym under ``key`` (default: the key of the settings)."""
    if key is None:
        from ledger.patient_key import patient_key

        key = patient_key()
    mac = hmac.new(key, _DOMAIN + normalise(patient_id).encode("utf-8"), hashlib.sha256)
    tail = base64.b32encode(mac.digest()[:_MAC_BYTES]).decode("ascii").lower()
    return PREFIX + tail


def is_pseudonym(value: str) -> bool:
    return _PSEUDONYM.fullmatch(value.strip()) is not None


def parse_pseudonym(value: str) -> str:
    """A pseudonym as written (surrounding space taken off); :class:`BadPatientId` when the
    value is not one (not quoted: it may be an identifier sent by mistake)."""
    if not is_pseudonym(value):
        raise BadPatientId(
            f"the value is not a patient pseudonym ({PREFIX} and 32 characters a-z, 2-7)"
        )
    return value.strip()
