"""Log formatting: structured fields (``extra={...}``) appended as ``key=value`` pairs.

``logger.warning("account locked", extra={"username": u, "ip": ip})`` prints
``... trialdesk.security account locked username=u ip=ip``, so a log search can filter on
fields without parsing free text.
"""

from __future__ import annotations

import json
import logging

# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD_ATTRS = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


_SIMPLE_TYPES = (str, int, float, bool, type(None), list, tuple, dict)


def structured_fields(record: logging.LogRecord) -> dict[str, object]:
    """The plain-data ``extra`` fields of a record, in the order they were given.

    Objects (Django passes the whole ``request``) are left out: they are not data to search on.
    """
    return {
        key: value
        for key, value in vars(record).items()
        if key not in _STANDARD_ATTRS
        and not key.startswith("_")
        and isinstance(value, _SIMPLE_TYPES)
    }


def _format_value(value: object) -> str:
    if isinstance(value, str) and value and not any(c.isspace() or c in '"=' for c in value):
        return value
    return json.dumps(value, default=str)


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        fields = structured_fields(record)
        if not fields:
            return text
        pairs = " ".join(f"{key}={_format_value(value)}" for key, value in fields.items())
        head, sep, tail = text.partition("\n")  # keep a traceback below the fields
        return f"{head} {pairs}{sep}{tail}"
