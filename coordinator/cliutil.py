"""What the packages' `flask` commands share (each package's `cli.py` defines its own group;
`coordinator.cli.register_cli` adds them to the app): a missing object or a service's refusal as
the command's error, progress bars on standard error."""
from __future__ import annotations

import sys
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

import click

T = TypeVar("T")


def found(value: T | None, message: str) -> T:
    """`value`, or the command fails with `Error: <message>` (exit 1) when there is none."""
    if value is None:
        raise click.ClickException(message)
    return value


@contextmanager
def refused(*errors: type[Exception], message: Callable[[Exception], str] = str) -> Iterator[None]:
    """A service's refusal (one of `errors`) is the command's error: `Error: <message(exc)>`, exit 1."""
    try:
        yield
    except errors as exc:
        raise click.ClickException(message(exc)) from None


def progressbar(length: int, label: str):
    """A progress bar on standard error, so that standard output holds only the results."""
    return click.progressbar(length=length, label=label, file=sys.stderr)
