"""Rewind's API queue client: ``python -m rewind_queue WORKFLOW.json`` (stdlib only)."""
