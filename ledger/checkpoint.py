"""Signed checkpoints of the chain head, for auditors.

A checkpoint names a position and the chain link there, and the last commit's number and
link (commits cover jobs, named queries and subscriptions, see :mod:`ledger.domain`),
signed with the ledger's Ed25519 key. An auditor keeps it; later, ``tracecode verify
--checkpoint FILE`` checks the signature and that the log still has those links there,
i.e. that the log still extends what was signed — a history rewritten since (even with
every link recomputed) fails. Checkpoints of the first format (``tracecode-checkpoint/1``,
before commits) still verify, for the records only.

The key lives in ``TRACECODE_SIGNING_KEY`` (a PEM file path; default ``var/signing-key.pem``,
created on first use with mode 0600). Its public half is written into every checkpoint.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from epcis.timestamps import utc_now
from ledger.application import Ledger
from ledger.domain import canonical_json
from ledger.findings import VerifyReport
from ledger.secret_files import read_or_create
from ledger.verify import verify_chain

KEY_ENV = "TRACECODE_SIGNING_KEY"
DEFAULT_KEY = Path("var/signing-key.pem")
FORMAT = "tracecode-checkpoint/2"
_FORMAT_1 = "tracecode-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used, or that the log no longer extends."""


def signing_key(path: Path | None = None) -> Ed25519PrivateKey:
    path = path or Path(os.environ.get(KEY_ENV) or DEFAULT_KEY)
    pem = read_or_create(path, _new_pem)
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise CheckpointError(f"{path}: not an Ed25519 private key")
    return key


def _new_pem() -> bytes:
    return Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@dataclass(frozen=True)
class Checkpoint:
    position: int
    link: str
    created: str
    store: str
    public_key: str
    signature: str = ""
    commit: int = 0
    commit_link: str = ""
    format: str = FORMAT

    def signed_part(self) -> dict[str, Any]:
        part: dict[str, Any] = {
            "format": self.format,
            "position": self.position,
            "link": self.link,
            "created": self.created,
            "store": self.store,
            "public_key": self.public_key,
        }
        if self.format != _FORMAT_1:
            part["commit"] = self.commit
            part["commit_link"] = self.commit_link
        return part

    def to_json(self) -> str:
        return json.dumps({**self.signed_part(), "signature": self.signature}, indent=2) + "\n"


def make_checkpoint(ledger: Ledger, key: Ed25519PrivateKey | None = None) -> Checkpoint:
    """Sign the current chain head (after checking the chain is intact up to it)."""
    report = verify_chain(ledger)
    if not report.intact:
        raise CheckpointError(f"the chain is not intact, refusing to sign it: {report.findings[0]}")
    key = key or signing_key()
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    unsigned = Checkpoint(
        position=report.last_position,
        link=report.last_link,
        created=utc_now(),
        store=ledger.settings.redacted_url,
        public_key=base64.b64encode(public).decode(),
        commit=report.commits,
        commit_link=report.last_commit_link,
    )
    signature = key.sign(canonical_json(unsigned.signed_part()))
    return Checkpoint(**{**unsigned.__dict__, "signature": base64.b64encode(signature).decode()})


def read_checkpoint(text: str) -> Checkpoint:
    try:
        data = json.loads(text)
        version = data.get("format")
        if version not in (FORMAT, _FORMAT_1):
            raise CheckpointError(f"not a tracecode checkpoint (format {version!r})")
        checkpoint = Checkpoint(
            format=version,
            commit=int(data["commit"]) if version == FORMAT else 0,
            commit_link=str(data["commit_link"]) if version == FORMAT else "",
            position=int(data["position"]),
            link=str(data["link"]),
            created=str(data["created"]),
            store=str(data["store"]),
            public_key=str(data["public_key"]),
            signature=str(data["signature"]),
        )
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(checkpoint.public_key))
        public.verify(
            base64.b64decode(checkpoint.signature), canonical_json(checkpoint.signed_part())
        )
    except InvalidSignature:
        raise CheckpointError("the checkpoint's signature is not valid: it was altered") from None
    except (ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, CheckpointError):
            raise
        raise CheckpointError(f"unreadable checkpoint: {exc}") from None
    return checkpoint


def check_against(report: VerifyReport, checkpoint: Checkpoint) -> str | None:
    """Why the verified log does not extend the checkpoint, or None when it does (the
    report must keep the checkpoint's position and commit: see :func:`keep`)."""
    return _signed_link_kept(
        checkpoint.position,
        checkpoint.link,
        report.links,
        gone=f"the log has no position {{}} any more (it ends at {report.last_position}): "
        "records signed in the checkpoint were removed",
        changed="the link at position {} differs from the signed one: history up to the "
        "checkpoint was rewritten",
    ) or _signed_link_kept(
        checkpoint.commit,
        checkpoint.commit_link,
        report.commit_links,
        gone=f"the log has no commit {{}} any more (its last is {report.commits}): entries "
        "signed in the checkpoint were removed",
        changed="the link of commit {} differs from the signed one: history up to the "
        "checkpoint (jobs, named queries or subscriptions) was rewritten",
    )


def _signed_link_kept(
    signed_at: int, signed_link: str, links: dict[int, str], *, gone: str, changed: str
) -> str | None:
    """Why the link the checkpoint signed at ``signed_at`` (a position, or a commit
    number; 0: none) is not in ``links`` as signed, or None."""
    if not signed_at:
        return None
    link = links.get(signed_at)
    if link is None:
        return gone.format(signed_at)
    if link != signed_link:
        return changed.format(signed_at)
    return None


def keep(checkpoint: Checkpoint | None) -> dict[str, list[int]]:
    """What :func:`ledger.verify.verify_chain` must remember to check ``checkpoint``."""
    if checkpoint is None:
        return {"keep_links": [], "keep_commits": []}
    return {"keep_links": [checkpoint.position], "keep_commits": [checkpoint.commit]}
