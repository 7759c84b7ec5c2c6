"""One logging set-up for every handler: the Powertools logger, and the domain modules through it.

The domain modules (`checking`, `sweep`, `tiqets`, `vouchers`, ...) log through standard-library
loggers named `tiqets_tracker.<module>`, so they can be used and tested without Powertools. In
Lambda nothing would configure those: the Python runtime gives the root logger a plain-text
handler and leaves it at WARNING unless an application log level is set (awslambdaric's
`_setup_logging`), so their INFO records were dropped and their warnings came out as unstructured
text without the order's correlation ID. `handler_logger()` hands the `tiqets_tracker` package
logger the Powertools logger's handler and level (Powertools' `copy_config_to_registered_loggers`),
so every record of the package comes out as one JSON line with the service name, the logger name
and the correlation ID, and none reaches the runtime's root handler twice.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger

PACKAGE_LOGGER = "tiqets_tracker"


def handler_logger() -> Logger:
    """The Powertools logger for a handler module (created at module scope, as Powertools
    recommends), with the `tiqets_tracker` package's loggers writing through it."""
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

    logger = Logger()
    # Powertools configures only loggers that exist already; the package logger is the parent
    # of every module's logger, whether that module is imported yet or not.
    logging.getLogger(PACKAGE_LOGGER)
    copy_config_to_registered_loggers(source_logger=logger, include={PACKAGE_LOGGER})
    return logger
