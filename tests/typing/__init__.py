"""Typing tests: files that mypy checks and nothing runs."""
