"""The ``tracecode`` command line."""

import click


@click.group()
def main() -> None:
    """tracecode: an event-sourced traceability ledger on GS1 EPCIS 2.0."""
