"""Bundled example programs, runnable with ``refexec run NAME``."""
