"""Socket Mode runner (SPEC 1): the same Bolt app over a websocket instead of public HTTP,
used when ``SLACK_APP_TOKEN`` is set (development machines, networks without a public URL).

``python -m bot.socket``. Slack signs nothing over the socket (the app token authenticates
the connection), so no signing secret is needed; the Web API client is the app's own, so
``apps.connections.open`` and every other call honour ``SLACK_API_URL`` too.
"""

from __future__ import annotations

import logging
import sys

from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.app import build_app
from crm.config import ConfigError, Settings, load_settings

log = logging.getLogger(__name__)


def handler(settings: Settings) -> SocketModeHandler:
    if not settings.slack_app_token:
        raise ConfigError(
            "SLACK_APP_TOKEN is required for Socket Mode: an app-level token (xapp-...) with "
            "the connections:write scope"
        )
    return SocketModeHandler(build_app(settings), settings.slack_app_token)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        socket_handler = handler(load_settings())
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    socket_handler.start()  # blocks; Ctrl-C or SIGTERM ends it
    return 0


if __name__ == "__main__":
    sys.exit(main())
