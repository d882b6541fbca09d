"""Hermetic test support: real distribution builders and a fake upstream index.

Nothing in here talks to the network beyond 127.0.0.1.
"""
