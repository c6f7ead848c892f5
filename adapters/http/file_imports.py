"""A posted file handed to an import use case (must-scan rules, HIS book figures): the
media type checked (415), the body bounded (413), a refused file turned into 400 with
every error (nothing was stored), another institution's into 403."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from fastapi import Request

from adapters.http.problems import ProblemError
from adapters.http.state import in_thread, ledger_of, read_body
from ledger.access import Principal
from ledger.master_data_import import MasterDataRefused
from ledger.master_data_rows import MasterDataInvalid

T = TypeVar("T")


async def imported_file(
    request: Request,
    who: Principal,
    use_case: Callable[..., T],
    *,
    types: Sequence[str],
    max_bytes: int,
    what: str,
) -> T:
    """``use_case(ledger, who, body)`` for a body of one of ``types``; ``what`` names the
    file in the problems (``the rules``)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in types:
        raise ProblemError(415, f"{what} are posted as {', '.join(types)}")
    data = await read_body(request, max_bytes, {})
    try:
        found: T = await in_thread(use_case, ledger_of(request), who, data)
    except MasterDataInvalid as exc:
        raise ProblemError(
            400,
            f"{what} were not imported: {exc}",
            errors=[error.as_json() for error in exc.errors],
        ) from None
    except MasterDataRefused as exc:
        raise ProblemError(403, str(exc)) from None
    return found
