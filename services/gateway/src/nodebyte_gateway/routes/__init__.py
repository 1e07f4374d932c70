"""The public routes, one module per resource (each contributes `routes(ctx)`)."""
