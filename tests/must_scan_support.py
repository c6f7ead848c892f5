"""The must-scan rules the tests import (``tests/data/must_scan_rules.yaml``) and the
products they are about, on top of :mod:`tests.scan_support`'s small hospital.

Products: ``ZP01`` an in-hospital preparation (8300001, boxes of 20), ``ZI01`` a loose
injection (散装注射剂, 8400001, boxes of 10), ``XS03`` a split-dispensed tablet (8500001,
boxes of 30), all on the must-scan list.
"""

from __future__ import annotations

from pathlib import Path

RULES_FILE = Path(__file__).parent / "data" / "must_scan_rules.yaml"
RULES = RULES_FILE.read_bytes()

MORE_PRODUCTS = "\n".join(
    [
        "yb_code,gtin,trace_prefix,level,units,name,spec,form,manufacturer,approval_no,"
        "must_scan,split,preparation",
        "ZP01,,8300001,box,20,复方甘草合剂,100ml,合剂,本院,苏药制字Z1,1,0,1",
        "ZI01,,8400001,box,10,氯化钠注射液,10ml*10支,散装注射剂,某药业,国药准字H3,1,0,0",
        "XS03,,8500001,box,30,氨氯地平片,5mg*30片,片剂,某药业,国药准字H4,1,1,0",
    ]
)
