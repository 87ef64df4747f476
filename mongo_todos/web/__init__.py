"""HTTP plumbing every resource shares: the Api and blueprints, request bodies, problem+json
errors, the OpenAPI document, rate limits, headers, logs, probes and /docs."""
