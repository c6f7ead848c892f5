"""The Beijing import-drug and rare-disease traceability platform (seed 004): its tables as
data (:mod:`adapters.beijing.tables`), their JSON and XML forms (:mod:`.render`), what makes
a row acceptable (:mod:`.check`) and a stand-in of the platform (:mod:`.standin`)."""
