"""Fixtures of the end-to-end tests: `site` (the app under uvicorn) and `chromium` (a browser), see browser.py."""

from tests.e2e.browser import chromium, site  # noqa: F401 - fixtures
