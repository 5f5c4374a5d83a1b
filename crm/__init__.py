"""The CRM domain: models, services and analytics. Knows nothing of Slack or Dramatiq."""
