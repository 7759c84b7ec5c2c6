"""Tiqets order tracker: the domain code shared by every Lambda of the application."""
