"""Roundtable's web server: pages, JSON API, /control, the WebSocket and metrics."""
