"""Flower's and Ray's console lines (round INFO, deprecation notes, Ray's tips): hidden unless --verbose.

Importing flwr resets its logger to DEBUG and importing ray (or ray.init) resets Ray's, so setting the levels once
is not enough: a quiet block marks the process (EDGEFED_FRAMEWORK_LOGS=quiet, seen by code that imports them
later) and whoever starts Flower or Ray calls `quiet_imported_frameworks()` after the import.
"""
from __future__ import annotations

import logging
import os
import warnings
from contextlib import contextmanager
from typing import Iterator

# Flower logs through "flwr" (its own console handler), Ray's driver through "ray"; errors always show
FRAMEWORK_LOGGERS = ("flwr", "ray")
ENV = "EDGEFED_FRAMEWORK_LOGS"


def _quiet() -> bool:
    return os.environ.get(ENV) == "quiet"


def quiet_imported_frameworks() -> None:
    """In a quiet block, show only errors of Flower's and Ray's loggers (call after importing them)."""
    if _quiet():
        for name in FRAMEWORK_LOGGERS:
            logging.getLogger(name).setLevel(logging.ERROR)


def ray_logging_level() -> int:
    """For ray.init(logging_level=...), which resets the "ray" logger to it."""
    return logging.ERROR if _quiet() else logging.INFO


@contextmanager
def framework_logs(verbose: bool) -> Iterator[None]:
    """Within the block, Flower's and Ray's loggers and Ray's Python warnings show errors only (all when verbose)."""
    if verbose:
        yield
        return
    loggers = [logging.getLogger(name) for name in FRAMEWORK_LOGGERS]
    levels = [logger.level for logger in loggers]
    before = os.environ.get(ENV)
    os.environ[ENV] = "quiet"
    quiet_imported_frameworks()
    try:
        with warnings.catch_warnings():
            # ray.init's FutureWarning about accelerator variables: nothing a user of a CPU simulation can act on
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"ray(\.|$)")
            yield
    finally:
        if before is None:
            os.environ.pop(ENV, None)
        else:
            os.environ[ENV] = before
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
