"""Runnable newsflow pipelines (batch), their options and the ``newsflow`` command."""
