"""The admin API: what an operator does over the web, with a session (never an API key).

``/auth/login``, ``/auth/logout`` and ``/auth/session`` open and close sessions;
``/api-keys`` mints keys; the rest is Siren's admin surface (distributors, distributions,
allocations, collaborators, groups, obligations, fulfillments, doctor findings).
"""
