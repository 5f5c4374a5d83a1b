"""The Slack adapter and the web process."""
