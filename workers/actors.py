"""Every actor, for Dramatiq's CLI: ``dramatiq workers.actors`` (the Procfile's worker line).

Importing :mod:`workers.composition` first installs the broker built from the environment,
so the actors below are declared on it; ``broker`` is what the CLI looks for in this module.
"""

from __future__ import annotations

from workers import composition
from workers.campaigns import dispatch_campaign, scan_campaigns
from workers.digests import scan_digests, send_daily_digest, send_weekly_digest
from workers.insight import (
    fit_company_insight,
    nightly_insight,
    rebuild_lead_scores,
    scan_closed_leads,
)
from workers.metrics import recompute_all_metrics, recompute_customer, scan_new_orders
from workers.reminders import scan_reminders, send_reminder, send_reminders

broker = composition.current().broker

__all__ = [
    "broker",
    "dispatch_campaign",
    "fit_company_insight",
    "nightly_insight",
    "rebuild_lead_scores",
    "recompute_all_metrics",
    "recompute_customer",
    "scan_campaigns",
    "scan_closed_leads",
    "scan_digests",
    "scan_new_orders",
    "scan_reminders",
    "send_daily_digest",
    "send_reminder",
    "send_reminders",
    "send_weekly_digest",
]
