"""The HTTP interface: REST API v1, provider webhooks, error mapping and auth."""
