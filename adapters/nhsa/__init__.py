"""Outbound: the 医保 (NHSA) stock and sales messages. The field tables as data
(:mod:`.fields`, ``fields.yaml``), the check of a whole request against them (:mod:`.check`),
and the stand-in platform the delivery is tested against (:mod:`.standin`)."""
