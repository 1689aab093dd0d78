"""``python -m strangler_cli`` is the same as the ``strangler`` script."""

from strangler_cli.main import app

app()
