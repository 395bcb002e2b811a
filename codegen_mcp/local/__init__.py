"""The one-machine runtime: the embedded Redis, the stack record others join, `up`, and the
stack an MCP server runs for itself. It sits above the fronts (it serves them) and names the
Celery app only by its import path, as `celery -A` does: nothing here imports `workers`."""
