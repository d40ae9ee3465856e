"""Obligations: the lifecycle (pending → approved → fulfilled, bulk actions, the hold
period), fulfillment batches and payouts, and their exports."""
