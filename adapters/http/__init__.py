"""The HTTP API (GS1 EPCIS 2.0 REST bindings, capture part): see :mod:`adapters.http.app`."""
