"""Connectivity between pods, the runbook's recipe as one command with a clear verdict.

- :mod:`.probe`: the self-contained probe (Python standard library) that runs inside a pod,
  or in-process with ``--local``: :func:`~.probe.run_probes`, the pure
  :func:`~.probe.classify`.
- ``fallback.sh``: the probe for pods without python3 (curl, else wget, else bash).
- :mod:`.targets`: what to probe: :class:`~.targets.Target`,
  :func:`~.targets.runbook_targets`, :func:`~.targets.parse_target`,
  :func:`~.targets.service_targets`.
- :mod:`.verdicts`: pure judging: :func:`~.verdicts.classify_shell`,
  :func:`~.verdicts.judge`, :func:`~.verdicts.exit_status`.
- :mod:`.runner`: running the probe and reading its report: :func:`~.runner.run_in_pod`
  (exec), :func:`~.runner.run_local`, :func:`~.runner.parse_report`.
- :mod:`.sources`: which pod probes: :func:`~.sources.pick_pod`.
- :mod:`.probepod`: :func:`~.probepod.run_probe_pod`, a short-lived pod standing for a source.
- :mod:`.report`: the matrix, JSON, JUnit and :func:`~.report.redact`.
- :mod:`.command`: ``binderfix netcheck``.
"""
