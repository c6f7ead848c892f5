"""The EPCIS 2.0 query language: parameters (:mod:`~epcis.query.params`), EPC patterns
(:mod:`~epcis.query.patterns`), matching (:mod:`~epcis.query.predicate`), the parameters
answered from master data (:mod:`~epcis.query.master_data`) and ordering
(:mod:`~epcis.query.order`). Pure: no storage, no HTTP."""

from epcis.query.errors import QueryParameterError, QueryTooLargeError
from epcis.query.master_data import Vocabularies, needs_master_data, resolve
from epcis.query.params import Condition, Query, from_json, from_query_string, to_query_string
from epcis.query.predicate import matches

__all__ = [
    "Condition",
    "Query",
    "QueryParameterError",
    "QueryTooLargeError",
    "Vocabularies",
    "from_json",
    "from_query_string",
    "matches",
    "needs_master_data",
    "resolve",
    "to_query_string",
]
