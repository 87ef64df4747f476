"""The HTTP layer: problem+json errors, body limits, headers, CORS, rate limits, OpenAPI, logs."""
