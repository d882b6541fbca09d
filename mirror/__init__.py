"""signed-mirror: a quarantining, verifying, TUF-signing proxy for a Python package index."""
