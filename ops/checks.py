"""Deployment checks (``manage.py check --deploy``).

:func:`api_schema_check` generates the OpenAPI schema the way drf-spectacular's own deploy check
does and reports its warnings and errors — except the ones about enum *names* (two choice sets
both wanting ``StatusEnum``), which drf-spectacular resolves correctly and which only affect the
names generated clients give to enums. A field whose type cannot be resolved, a view that breaks
schema generation, or a wrong hint still fails the check.
"""

from __future__ import annotations

from django.core.checks import Error, Warning, register

#: Warnings about enum naming only; the schema is correct with or without them.
ENUM_NAMING_MARKERS = (
    "enum naming encountered a non-optimally resolvable collision",
    "encountered multiple names for the same choice set",
)


def _is_enum_naming(message: str) -> bool:
    return any(marker in message for marker in ENUM_NAMING_MARKERS)


@register(deploy=True)
def api_schema_check(app_configs, **kwargs):
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.settings import spectacular_settings

    problems = []
    try:
        with GENERATOR_STATS.silence():
            spectacular_settings.DEFAULT_GENERATOR_CLASS().get_schema(request=None, public=True)
    except Exception as exc:  # noqa: BLE001 - any failure to build the schema is the finding
        return [Error(f"API schema generation failed: {exc}", id="ops.E001")]
    for message in GENERATOR_STATS._warn_cache:
        if not _is_enum_naming(message):
            problems.append(Warning(message, id="ops.W001"))
    for message in GENERATOR_STATS._error_cache:
        problems.append(Warning(message, id="ops.W002"))
    return problems
