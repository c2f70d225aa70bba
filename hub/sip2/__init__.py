"""Our own SIP2 client (issue 12): see `hub.sip2.client` for the API, docs/sip2.md."""
