"""Comma lists as users type them (run_all flags, notebook parameters, benchmark scripts)."""

from __future__ import annotations


def comma_list(text: str) -> list[str]:
    """'VAE, AE,,VAE' -> ['VAE', 'AE']: items stripped, empty ones and repeats dropped, order kept."""
    return list(dict.fromkeys(item.strip() for item in text.split(",") if item.strip()))
