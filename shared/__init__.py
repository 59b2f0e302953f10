"""Shared kernel of Sinergi KSD: used by every service, imports no service."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sinergi-ksd")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
