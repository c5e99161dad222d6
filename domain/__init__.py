"""Kuzet's domain: detections, correlation rules, the Incident aggregate, the application.

Pure: no I/O, no asyncio, no clock reads (time is passed in). Imports only the standard
library and `eventsourcing`.
"""
