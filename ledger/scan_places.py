"""Where a scan happens, read from the writer's master data: the institution's locations,
their URIs and hierarchy (what "here" means), kept current in the code library's pass over
the log (:func:`master_fold`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ledger.code_library import CodeLibrary
from ledger.gate import GroupView
from ledger.locations import location_uri, parse_location_uri
from ledger.master_data import TOPICS, MasterData, MasterDataFold

_MASTER = "master data"


def master_fold(view: GroupView) -> MasterDataFold:
    """The master data the writer keeps current with the library: read whole on first use,
    then followed in the library's pass over the log."""
    library: CodeLibrary = view.ledger.library
    fold = library.extras.get(_MASTER)
    if fold is None:
        fold = MasterDataFold()
        seen = 0
        for notification in view.ledger.notifications(TOPICS):
            state = view.ledger.mapper.to_domain_event(notification).__dict__
            fold.follow(notification.topic, state)
            seen = notification.id

        def follow(notification_id: int, topic: str, state: dict[str, Any]) -> None:
            if notification_id > seen:
                fold.follow(topic, state)

        library.extras[_MASTER] = fold
        library.watchers.update(dict.fromkeys(TOPICS, follow))
    return fold


class Places:
    """An institution's locations from master data: ids, URIs and the hierarchy."""

    def __init__(self, data: MasterData, institution: str) -> None:
        self.institution = institution
        self.rows = {k: row for (owner, k), row in data.locations.items() if owner == institution}

    def uri(self, location_id: str) -> str:
        return location_uri(self.institution, location_id)

    def lineage(self, location_id: str) -> list[str]:
        """The location and its ancestors below the institution itself."""
        chain: list[str] = []
        current: str | None = location_id
        while current and current in self.rows and current not in chain:
            if self.rows[current]["kind"] == "institution":
                break
            chain.append(current)
            current = self.rows[current].get("parent") or None
        return chain

    def related(self, location: str) -> Callable[[str | None], bool]:
        """Whether a location URI is ``location`` (a URI), within it, or holds it (below
        the institution: the whole hospital does not count as here)."""
        parsed_here = parse_location_uri(location)
        location_id = parsed_here[1] if parsed_here is not None else location
        mine = self.lineage(location_id)

        def here(uri: str | None) -> bool:
            if uri is None:
                return False
            parsed = parse_location_uri(uri)
            if parsed is None or parsed[0] != self.institution:
                return False
            theirs = self.lineage(parsed[1]) or [parsed[1]]
            return location_id in theirs or parsed[1] in mine

        return here

    def warehouse(self) -> str | None:
        found = [k for k, row in self.rows.items() if row["kind"] == "warehouse"]
        return found[0] if len(found) == 1 else None
