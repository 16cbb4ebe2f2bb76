"""What each subcommand does, apart from ``bpftop/cli.py``, which only parses and dispatches.

One module per command (``dashboard``, ``record``, ``replay``, ``profile``,
``check``) and ``options``, the options and checks they share. Nothing here
imports ``bpftop.cli``.
"""
