"""Security tests share the real-browser fixtures of the end-to-end suite."""

from tests.e2e.conftest import browser, page  # noqa: F401 - pytest fixtures, re-exported
