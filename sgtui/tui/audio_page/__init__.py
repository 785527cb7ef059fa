"""The browser player's page (HTML, script and style as package data) and its HTTP server.

The page's files are separate so its Content-Security-Policy can forbid inline script."""
