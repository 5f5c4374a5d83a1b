"""The domain's view of the process it runs in: its settings, its secret keys and the campaign
notifier, installed once by the process's composition root.

Why one object instead of a ``configure()`` per module: the web process, the workers, ``crm
serve``, ``crm chat`` and the CLI each decide these once at start (``bot/composition.py``,
``workers/composition.py``, :func:`crm.cli.connect`); a module that needs one of them reads
:func:`current` at the moment it needs it, so there is one place to look for what a process
was given, and a test swaps the whole of it (and puts it back) with :func:`install`.

A process that installs nothing (a script, a migration run from a shell) gets a runtime read
from its environment on first use, so every process uses the same ``CRM_SECRET_KEY`` without
each wiring it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

from cryptography.fernet import MultiFernet

from crm.config import Settings, load_settings
from crm.secret_keys import parse_keys

Notifier = Callable[[int], None]


@dataclass(frozen=True)
class Runtime:
    """What the domain may ask of its process. ``secret_key`` is apart from ``settings`` so a
    test can swap the settings (a channel's gateway) and keep the suite's key."""

    settings: Settings
    secret_key: str | None = field(default=None, repr=False)
    # ``notify_campaign(campaign_id)`` after a campaign starts sending or resumes; set where
    # the workers are at hand (``crm serve``), else the scheduler's scan finds the campaign
    notify_campaign: Notifier | None = None

    @classmethod
    def for_settings(
        cls, settings: Settings, *, notify_campaign: Notifier | None = None
    ) -> Runtime:
        return cls(settings, settings.secret_key, notify_campaign)

    @cached_property
    def box(self) -> MultiFernet | None:
        """The key set that encrypts secrets at rest; ``None`` without ``CRM_SECRET_KEY``."""
        return parse_keys(self.secret_key) if self.secret_key else None

    @cached_property
    def signing_keys(self) -> tuple[str, ...]:
        """The same keys, the current one first, for signing (campaign tracking tokens)."""
        return tuple(k.strip() for k in self.secret_key.split(",")) if self.secret_key else ()


_lock = threading.Lock()
_current: Runtime | None = None


def install(runtime: Runtime | None) -> Runtime | None:
    """Make ``runtime`` this process's (``None``: read the environment again on next use);
    returns the one it replaces, so a test can put it back."""
    global _current
    with _lock:
        previous, _current = _current, runtime
    return previous


def current() -> Runtime:
    """This process's runtime; read from the environment on first use if none was installed."""
    global _current
    runtime = _current
    if runtime is None:
        with _lock:
            if _current is None:
                _current = Runtime.for_settings(load_settings())
            runtime = _current
    return runtime
