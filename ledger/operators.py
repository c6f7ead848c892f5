"""Operators' names for the 医保 messages (``opter_name``, ``sel_retn_opter_name``,
``inv_chg_opter_name``): from the institution's operators list (master data kind
``operators``: ``id, name, institution_code``, optional ``cert``) when one is imported and
names the operator, else the scan's ``operatorId`` itself (issue 13)."""

from __future__ import annotations

from ledger.application import Ledger
from ledger.master_data import MasterData, current_master_data


def name_in(data: MasterData, institution: str, operator_id: str) -> str:
    """The operator's name in ``data``, else ``operator_id``."""
    row = data.operators.get((institution, operator_id))
    return str(row["name"]) if row is not None else operator_id


def operator_name(ledger: Ledger, institution: str, operator_id: str) -> str:
    """The operator's name as the store's master data has it now, else ``operator_id``."""
    return name_in(current_master_data(ledger)[1], institution, operator_id)
