"""What callers and viewers reach: the /v1 API, delivery of public links, the landing page, auth,
and the MA tools' integrations."""
