"""``python -m adapters.cli``: the ``tracecode`` command (how the server starts its
projector process without relying on the ``tracecode`` script being on the PATH)."""

from adapters.cli import main

main(prog_name="tracecode")
