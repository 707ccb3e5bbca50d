"""The one error base every service shares for requests it refuses."""


class RequestRefused(Exception):
    """A request a service refuses (bad input, unknown id, a limit), with a message meant for people."""
