"""The public edge: admission, rate limits, forwarding to owners, streams, the document."""
