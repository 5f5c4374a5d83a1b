"""Campaigns (SPEC 6): the service layer every surface shares.

- :mod:`.service`: create, change, preview, schedule, send now, pause, resume, cancel, the
  kill switch, the card's figures;
- :mod:`.templates`: Jinja2 sandbox, checked at save; text and HTML parts, tracked links;
- :mod:`.audience`: counted for the preview, materialised in one INSERT ... SELECT;
- :mod:`.tokens`: signed recipient tokens (links, Message-ID, Idempotency-Key);
- :mod:`.tracking`: opens, clicks, unsubscribes, RSVPs;
- :mod:`.optouts`: per customer and channel, with time and source.
"""

from crm.campaigns.service import (
    CAMPAIGN_FIELDS,
    Figures,
    Preview,
    cancel,
    create_campaign,
    figures,
    get_campaign,
    list_campaigns,
    pause,
    pause_all,
    preview,
    resume,
    schedule,
    send_now,
    set_notifier,
    update_campaign,
)

__all__ = [
    "CAMPAIGN_FIELDS",
    "Figures",
    "Preview",
    "cancel",
    "create_campaign",
    "figures",
    "get_campaign",
    "list_campaigns",
    "pause",
    "pause_all",
    "preview",
    "resume",
    "schedule",
    "send_now",
    "set_notifier",
    "update_campaign",
]
