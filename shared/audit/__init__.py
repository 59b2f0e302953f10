"""Tamper evidence: hash chains, Merkle digests and Ed25519 signatures."""
