"""Errors on the page: a readable message in a notice, never a traceback.

A TimbrelError already says what was wrong and what was expected, so its text is shown as it
is. Anything else is a bug: its type and message are shown, and the traceback goes to the log
of the process that serves the page.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

import gradio as gr

from timbrel.core.errors import TimbrelError

log = logging.getLogger(__name__)


def page_error(error: BaseException, where: str) -> gr.Error:
    if isinstance(error, gr.Error):
        return error
    if isinstance(error, TimbrelError):
        return gr.Error(str(error), duration=None, print_exception=False)
    log.error("unexpected error in %s", where, exc_info=error)
    return gr.Error(
        f"unexpected error ({type(error).__name__}): {error}", duration=None, print_exception=False
    )


def readable_errors(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a page handler (a function or a generator) so that errors reach the page as messages."""
    if inspect.isgeneratorfunction(handler):

        @functools.wraps(handler)
        def run_generator(*args: Any, **kwargs: Any) -> Any:
            try:
                yield from handler(*args, **kwargs)
            except Exception as error:
                raise page_error(error, handler.__qualname__) from None

        return run_generator

    @functools.wraps(handler)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except Exception as error:
            raise page_error(error, handler.__qualname__) from None

    return run
