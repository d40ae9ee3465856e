"""The dashboard under ``/dashboard``: server-rendered pages (Jinja2) for a logged-in
operator, with the session cookie and CSRF token of the admin API. Charts are drawn by
uPlot, shipped in ``static/`` with its licence: no asset comes from the internet."""
