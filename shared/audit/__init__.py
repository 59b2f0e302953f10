"""Tamper evidence: hash chains, the transparency log (RFC 9162) and Ed25519 signatures."""
