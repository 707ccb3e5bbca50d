"""oboto: a multi-agent workspace for the terminal."""

__version__ = "0.1.0"
