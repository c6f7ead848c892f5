from ledger.locations import location_uri, parse_location_uri


def test_a_location_uri_reads_back_as_its_institution_and_id() -> None:
    uri = location_uri("H11010800001", "OP-PHARM.1")
    assert uri == "urn:tracecode:loc:H11010800001:OP-PHARM.1"
    assert parse_location_uri(uri) == ("H11010800001", "OP-PHARM.1")


def test_other_values_are_not_location_uris() -> None:
    assert parse_location_uri("urn:epc:id:sgln:0614141.00777.0") is None
    assert parse_location_uri("urn:tracecode:loc:H1") is None
    assert parse_location_uri("urn:tracecode:loc:H1:a b") is None
