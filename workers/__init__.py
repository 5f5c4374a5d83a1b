"""Dramatiq actors and the APScheduler process."""
