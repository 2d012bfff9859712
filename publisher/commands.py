"""Extra CLI commands (check, preview, new): registered here, implemented in their own modules."""

from __future__ import annotations


def register(command) -> None:
    """Add the extra subcommands to the CLI parser (none yet)."""
