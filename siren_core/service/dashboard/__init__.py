"""The dashboard under /dashboard."""
