"""The live migration dashboard: one web page, served by ``strangler dashboard serve``.

It reads the stack the way an operator's tools do (the proxy's admin API and
metrics, the CDC relay's status file, the broker, the services' ``/readyz``),
keeps a short in-memory history of the proxy's counters so charts show change
over time, and lets a logged-in person advance or roll back an endpoint.
Composition root: :func:`strangler_dashboard.app.create_app`.
"""
