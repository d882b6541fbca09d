"""Orchestration: the only layer that combines upstream, policy, storage and the database."""
