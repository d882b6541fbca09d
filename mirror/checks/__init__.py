"""Evidence gatherers for admission: PEP 740 provenance and wheel/sdist content.

Import the submodules directly (``mirror.checks.provenance``, ``mirror.checks.content``):
nothing is re-exported here, so content inspection does not pay for importing sigstore.
Both are pure of Flask, the database and HTTP: the caller fetches bytes and passes them in.
"""
