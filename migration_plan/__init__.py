"""The migration plan: which endpoints move where, in which stages, behind
which gates (docs/migration-plan.md).

- ``plan_file``: the plan file (``migration-plan.yaml``) and its validation
- ``inventory``: the monolith's endpoints, discovered from its URLconf
- ``figures`` / ``gates``: live figures from the proxy and gate evaluation
- ``parity``: legacy tables (through the ACL's translators) vs a service's store
- ``control``: the plan's baselines, steps and samples in the control database
- ``engine``: status, advance and rollback on a running stack
- ``api``: the read/step HTTP API the dashboard calls
"""
