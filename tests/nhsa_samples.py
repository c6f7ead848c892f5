"""Sample 医保 requests, written by hand from ../shared/NHSA-FIELDS.md (not from the
tables they test): one realistic message per infno, and its A variant."""

from __future__ import annotations

import copy
from typing import Any

INSTITUTION = "H11010500123"
"""A 12-character fixmedins_code: H + area 110105 + 5 digits."""
CODES = ["81234567890123456789", "81234567890123456796", "81234567890123456802"]
"""20-digit drug trace codes."""

NODES = {"3501": "invinfo", "3502": "invinfo", "3505": "selinfo", "3506": "selinfo", "3507": "data"}
BATCH_NODES = {
    "3501A": "invinfoDetail",
    "3502A": "invinfoDetail",
    "3505A": "selinfoDetail",
    "3506A": "selinfoDetail",
    "3507A": "goodDetail",
}
INFNOS = [*NODES, *BATCH_NODES]

DRUG = {
    "med_list_codg": "XJ01CAA040A001010101445",
    "fixmedins_hilist_id": "YP000123",
    "fixmedins_hilist_name": "阿莫西林胶囊 0.25g*24粒",
    "rx_flag": "1",
    "fixmedins_bchno": "B202603010001",
}
LOT = {"manu_lotnum": "L2503011", "manu_date": "2025-03-01", "expy_end": "2027-02-28"}
TRACE = {"drug_trac_info": [{"drug_trac_codg": code} for code in CODES[:2]]}
SALE_PEOPLE = {
    "psn_cert_type": "01",
    "sel_retn_cnt": 48,
    "sel_retn_time": "2026-03-01 10:15:00",
    "sel_retn_opter_name": "王药师",
    "trdn_flag": "0",
    "finl_trns_pric": 0.525,
}

ROWS: dict[str, dict[str, Any]] = {
    "3501": {
        **DRUG,
        **LOT,
        "invdate": "2026-03-01",
        "inv_cnt": 480.0,
        "memo": "首次追溯码盘存",
        **TRACE,
    },
    "3502": {
        **DRUG,
        "inv_chg_type": "108",
        "pric": 12.6,
        "cnt": 2,
        "inv_chg_time": "2026-03-01 09:30:00",
        "inv_chg_opter_name": "李库管",
        "trdn_flag": "0",
        **TRACE,
    },
    "3505": {
        **DRUG,
        **LOT,
        **SALE_PEOPLE,
        "prsc_dr_name": "张医生",
        "phar_name": "王药师",
        "phar_prac_cert_no": "YS110105000321",
        "hi_feesetl_type": "1",
        "mdtrt_setl_type": "1",
        "setl_id": "110105202603011015000001",
        "mdtrt_sn": "110105202603010001",
        "psn_no": "11000000000000000001",
        "rxno": "RX202603010007",
        "rtal_docno": "RD202603010007",
        **TRACE,
    },
    "3506": {
        **DRUG,
        **LOT,
        **SALE_PEOPLE,
        "setl_id": "110105202603011015000001",
        "psn_no": "11000000000000000001",
        "mdtrt_sn": "110105202603010001",
        "medins_prod_sel_no": "SEL202603010007",
        "drug_trac_info": [{"drug_trac_codg": CODES[0]}],
    },
    "3507": {"fixmedins_bchno": "B202603010001", "inv_data_type": "4"},
}


def msgid(sequence: int, institution: str = INSTITUTION) -> str:
    return f"{institution}20260301101500{sequence:04d}"


def message(infno: str, sequence: int = 1) -> dict[str, Any]:
    """A whole request of ``infno`` (an A variant carries two rows)."""
    base = infno.removesuffix("A")
    row = copy.deepcopy(ROWS[base])
    if infno in BATCH_NODES:
        second = {**copy.deepcopy(row), "fixmedins_bchno": "B202603010002"}
        node: dict[str, Any] = {BATCH_NODES[infno]: [row, second]}
    else:
        node = {NODES[infno]: row}
    insured = "psn_no" in row
    return {
        "infno": infno,
        "msgid": msgid(sequence),
        "mdtrtarea_admvs": "110105",
        **({"insuplc_admdvs": "110108"} if insured else {}),
        "recer_sys_code": "YBXT",
        "dev_no": "",
        "dev_safe_info": "",
        "cainfo": "",
        "signtype": "",
        "infver": "V1.0",
        "opter_type": "1",
        "opter": "P0001",
        "opter_name": "王药师",
        "inf_time": "2026-03-01 10:15:00",
        "fixmedins_code": INSTITUTION,
        "fixmedins_name": "北京市第一医院",
        "sign_no": "",
        "input": node,
    }


def row(request: dict[str, Any]) -> dict[str, Any]:
    """The (first) row of a request, to change in place."""
    node = next(iter(request["input"].values()))
    return node[0] if isinstance(node, list) else node  # type: ignore[no-any-return]
