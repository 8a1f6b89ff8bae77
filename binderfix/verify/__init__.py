"""For CI pipelines: read-only checks, a testinfra verification suite, an idempotence check.

- :mod:`.nodes`: connect to the builder nodes with pyinfra and read facts, read-only.
- :mod:`.checks`: the checks (``dind`` for now), each a small class returning findings.
- :mod:`.test_builders`: the testinfra suite ``binderfix verify`` runs (plain pytest works too).
- :mod:`.command`: ``binderfix check`` and ``binderfix verify``.
"""
