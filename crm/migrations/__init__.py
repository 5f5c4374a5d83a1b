"""Numbered migration scripts for ``playhouse.migrations`` (``crm migrate`` applies them)."""
