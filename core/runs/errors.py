"""What the run service refuses, and what it cannot read."""


class Refused(Exception):
    """A run the server cannot take now; the message says why and what to change."""


class WeightsUnavailable(Exception):
    """A run's weights cannot be read (never saved, missing or damaged); the message says which."""
