"""Recording source events: trigger strategies turn them into metrics, credit rules into
score credits (one event at a time in ``ingest``, in batches in ``bulk``), refunds take
credits back (``refunds``); ``shapes`` structures and digests the events."""
