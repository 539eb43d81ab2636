"""Bundled offline demo sample (data only)."""
