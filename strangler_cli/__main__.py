"""``python -m strangler_cli`` is the same as the ``strangler`` script
(same program name in help, usage and shell completion)."""

from strangler_cli.main import app

app(prog_name="strangler")
