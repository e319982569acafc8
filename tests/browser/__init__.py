"""The web app in a real browser (Chromium through Playwright) against the whole system."""
