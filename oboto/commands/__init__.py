"""The bodies of `oboto` subcommands; `oboto.cli` parses arguments and dispatches here."""
