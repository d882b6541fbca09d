"""Names of the simple repository API shared by the pages the mirror reads from upstream and the
pages it serves."""

# PEP 691: the JSON form of the simple API, version 1.
JSON_TYPE = "application/vnd.pypi.simple.v1+json"
