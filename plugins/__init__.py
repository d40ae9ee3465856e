"""siren-core's built-in plugins, each its own package, registered through entry points."""
