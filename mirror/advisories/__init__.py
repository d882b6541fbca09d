"""OSV advisories: reading untrusted input and reducing it to what the mirror acts on."""
