"""Admission policy: pure functions from facts (and ``now``) to decisions with reasons."""
