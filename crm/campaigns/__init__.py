"""Campaigns (SPEC 6): the service layer every surface shares.

- :mod:`.service`: create, change, preview, schedule, send now, pause, resume, cancel, the
  kill switch, the card's figures;
- :mod:`.templates`: Jinja2 sandbox, checked at save; text and HTML parts, tracked links;
- :mod:`.audience`: counted for the preview, materialised in one INSERT ... SELECT;
- :mod:`.tokens`: signed recipient tokens (links, Message-ID, Idempotency-Key);
- :mod:`.tracking`: opens, clicks, unsubscribes, RSVPs;
- :mod:`.optouts`: per customer and channel, with time and source;
- :mod:`.gateways`, :mod:`.messages`, :mod:`.dispatch`: what the workers send with.

Callers import the module they need (``from crm.campaigns import service``); this package
re-exports nothing, so its modules can import each other without a cycle.
"""
