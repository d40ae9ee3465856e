"""``siren serve``: Siren's HTTP API (the one the official ``siren-sdk`` speaks) over a
siren-core store. The kernel does not know this package exists; it uses only the
kernel's public API and the store's query modules.

``siren_core.service.app.create_app`` builds the ASGI application (mounted at
``/siren/v1``); ``siren_core.service.keys`` mints and checks API keys and imports no web
framework, so that the command line can use it without loading one.
"""
