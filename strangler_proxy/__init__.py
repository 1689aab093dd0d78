"""The strangler proxy: the front door that routes each HTTP route to the
legacy monolith or a new service (legacy / shadow / canary / new / retired).

The hot path is a raw asyncio (uvloop) protocol with httptools parsing and
pooled keep-alive upstream connections; see ``server.py`` for why.
"""
