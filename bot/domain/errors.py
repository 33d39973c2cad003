"""Errors raised by the pure domain: a value that cannot exist, or a question with no answer."""


class DomainError(ValueError):
    """A domain value was refused; the message says which value and why."""


class NoPriceError(DomainError):
    """An asset cannot be valued: no market path to the quote currency with a two-sided book."""
