"""The page the browser player serves (HTML, script and style as package data).

Kept as separate files so the page's Content-Security-Policy can forbid inline script."""
