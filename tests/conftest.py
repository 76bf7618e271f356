"""Shared pytest configuration."""

pytest_plugins = ["kagura.testing.pytest_plugin"]
