"""Offline-friendly harness behind ``kagura bench``."""
