"""One JSON object a line on stdout (the access line of every request: ltplabs/http/access_log.py).

Nothing here reads Django's settings at import time: gunicorn's master loads JSONFormatter
(gunicorn.conf.py) before Django is set up.
"""

import json
import logging
from datetime import UTC, datetime

import orjson

# The fields a log call may add with extra={...}; anything else in a record stays out, so a
# stray extra can never carry a header or a body into the log.
EXTRA_FIELDS = ("request_id", "method", "path", "status", "duration_ms", "user")


class JSONFormatter(logging.Formatter):
    """time, level, logger, message, the request fields when the record has them, and the traceback."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in EXTRA_FIELDS:
            value = record.__dict__.get(field)
            if value is not None:
                entry[field] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(entry, default=str).decode()  # a tenth of json.dumps's time
        except TypeError:  # orjson.JSONEncodeError: a lone surrogate, an integer past 64 bits
            return json.dumps(entry, ensure_ascii=False, default=str)
