"""The exceptions the EPCIS query interface names (EPCIS 2.0 §8.2.7)."""

from __future__ import annotations


class QueryParameterError(ValueError):
    """``QueryParameterException``: a parameter that is unknown, malformed, or that does not
    go with another one. ``parameter`` names it (None when the query as a whole is wrong)."""

    def __init__(self, parameter: str | None, message: str) -> None:
        super().__init__(f"{parameter}: {message}" if parameter else message)
        self.parameter = parameter
        self.message = message


class QueryTooLargeError(Exception):
    """``QueryTooLargeException``: more events match than ``maxEventCount`` allows."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"more than maxEventCount={limit} events match the query")
        self.limit = limit
