"""How the stand-in 医保 platform is told to misbehave (``POST /faults``).

A posted set replaces the one before; ``{}`` is a platform that behaves. Counted faults
(``timeout_after_commit``, ``drop_responses``) apply to the next messages the platform
receives and then wear off; the others last until the next ``POST /faults``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

DEFAULT_HANG = 30.0
"""How long a ``timeout_after_commit`` answer is held back unless ``hang`` says."""


def _seconds(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _rate(value: Any) -> bool:
    return _seconds(value) and value <= 1


KINDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "down_for": (_seconds, "seconds (≥ 0) the platform answers 503 to every message"),
    "error_rate": (_rate, "a share (0 to 1) of messages answered HTTP 500, infcode -1"),
    "seed": (lambda v: isinstance(v, int) and not isinstance(v, bool), "an integer"),
    "timeout_after_commit": (_count, "how many next messages are taken, then answered late"),
    "hang": (lambda v: _seconds(v) and v > 0, "seconds (> 0) a late answer is held back"),
    "slow": (_seconds, "seconds (≥ 0) every message waits before it is handled"),
    "drop_responses": (_count, "how many next messages are taken, then the connection closed"),
}


@dataclass
class Faults:
    posted: dict[str, Any] = field(default_factory=dict)
    down_until: float = 0.0
    error_rate: float = 0.0
    rng: random.Random = field(default_factory=random.Random)
    timeout_after_commit: int = 0
    hang: float = DEFAULT_HANG
    slow: float = 0.0
    drop_responses: int = 0

    @classmethod
    def parse(cls, body: Any) -> Faults | list[dict[str, str]]:
        """The faults a ``POST /faults`` body asks for, or its errors (pointer, message)."""
        if not isinstance(body, dict):
            return [{"pointer": "", "message": "must be a JSON object of faults"}]
        errors = [
            {"pointer": f"/{key}", "message": f"not a fault: one of {', '.join(KINDS)}"}
            for key in body
            if key not in KINDS
        ]
        errors += [
            {"pointer": f"/{key}", "message": f"{value!r}: {KINDS[key][1]}"}
            for key, value in body.items()
            if key in KINDS and not KINDS[key][0](value)
        ]
        if errors:
            return errors
        return cls(
            posted=dict(body),
            down_until=time.monotonic() + body.get("down_for", 0),
            error_rate=float(body.get("error_rate", 0)),
            rng=random.Random(body.get("seed")),
            timeout_after_commit=body.get("timeout_after_commit", 0),
            hang=float(body.get("hang", DEFAULT_HANG)),
            slow=float(body.get("slow", 0)),
            drop_responses=body.get("drop_responses", 0),
        )

    def down(self) -> float:
        """Seconds the platform stays down (0: up)."""
        return max(self.down_until - time.monotonic(), 0.0)

    def error_now(self) -> bool:
        """One draw of the seeded generator: this message fails."""
        return self.error_rate > 0 and self.rng.random() < self.error_rate

    def take_drop(self) -> bool:
        if self.drop_responses > 0:
            self.drop_responses -= 1
            return True
        return False

    def take_hang(self) -> bool:
        if self.timeout_after_commit > 0:
            self.timeout_after_commit -= 1
            return True
        return False

    def describe(self) -> dict[str, Any]:
        """What is posted, and what is left of it."""
        return {
            "posted": self.posted,
            "down_for": round(self.down(), 3),
            "timeout_after_commit": self.timeout_after_commit,
            "drop_responses": self.drop_responses,
        }
