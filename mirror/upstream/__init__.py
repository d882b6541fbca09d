"""The upstream index: where it is, how to talk to it, and how to read what it says."""
