"""The router: each endpoint's front door, with Azure's semantics (auth, traffic, mirror,
timeouts, 408 / 424 / 429), hosted by the engine, or on its own in a cluster (standalone.py)."""
