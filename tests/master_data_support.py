"""Master-data files the tests import: a small hospital's products and locations."""

from __future__ import annotations

PRODUCT_HEADER = (
    "yb_code,gtin,trace_prefix,level,units,name,spec,form,manufacturer,approval_no,must_scan,split"
)
PRODUCTS = "\n".join(
    [
        PRODUCT_HEADER,
        "XA01,06901234567892,8100001,unit,1,阿莫西林胶囊,0.25g,胶囊剂,某药业,国药准字H1,1,1",
        "XA01,16901234567899,8100002,box,24,阿莫西林胶囊,0.25g*24粒,胶囊剂,某药业,国药准字H1,1,0",
        "XA01,26901234567896,8100003,case,480,阿莫西林胶囊,0.25g*24粒*20盒,胶囊剂,某药业,"
        "国药准字H1,1,0",
        "XB02,,8200001,box,10,头孢克肟片,0.1g*10片,片剂,另一药业,国药准字H2,1,0",
    ]
)
LOCATION_HEADER = "id,name,kind,parent,institution_code"
LOCATIONS = "\n".join(
    [
        LOCATION_HEADER,
        "H1,第一医院,institution,,H1",
        "WH,药库,warehouse,H1,H1",
        "OP,门诊药房,pharmacy,H1,H1",
        "W3,三病区,ward,H1,H1",
        "SUP,某医药公司,supplier,,H1",
    ]
)


def csv_bytes(text: str, *, bom: bool = False) -> bytes:
    return (b"\xef\xbb\xbf" if bom else b"") + (text + "\n").encode("utf-8")
