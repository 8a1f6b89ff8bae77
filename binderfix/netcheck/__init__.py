"""Connectivity between pods, the runbook's recipe as one command with a clear verdict.

- :mod:`.probe`: the self-contained probe (Python standard library) that runs inside a pod,
  or here with ``--local``; and a shell fallback for pods without python3.
- :mod:`.targets`: what to probe: the runbook's targets, every Service port, or given URLs.
- :mod:`.runner`: where from: exec into a pod, a short-lived probe pod, or this machine.
- :mod:`.report`: the matrix, JSON and JUnit; the exit status.
- :mod:`.command`: ``binderfix netcheck``.
"""
