"""Recording source events: trigger strategies turn them into metrics, credit rules into
score credits (one event at a time in ``ingest``, in batches in ``bulk``), refunds take
credits back (``refunds``); ``shapes`` structures and digests the events."""

DEFAULT_BATCH_SIZE = 10_000
"""Events a bulk recording writes in one transaction, unless told otherwise (here, not in
``bulk``, so that the kernel's signatures name it without importing the recording)."""
