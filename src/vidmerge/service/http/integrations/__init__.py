"""Marketing-automation tools' own request shapes (HubSpot, Braze, SFMC, Marketo), one module per
tool, each turning the tool's request into a render request and the render into the tool's
answer. Routes live under `/v1/integrations/{tool}/`."""
