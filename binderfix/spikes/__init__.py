"""Spikes to the BinderHub ``/build`` API, found in ingress controller logs.

- :mod:`.formats`: recognise one access-log line (old nginx-ingress, ingress-nginx,
  Traefik's common or JSON log, BinderHub's own log) without being told which (pure).
- :mod:`.wrappers`: lines in a container runtime's records (CRI, Docker's json-file), as
  on a node's /var/log/pods, unwrapped (pure).
- :mod:`.specs`: a ``/build/<provider>/<spec>`` path to a repository, as BinderHub reads it (pure).
- :mod:`.grep`: ``--grep WORD`` as grep reads WORD (pure).
- :mod:`.aggregate`: counts by repository, status, client and time bucket, in bounded memory;
  whole blocks of lines at a time on the hot path.
- :mod:`.detect`: which buckets are spikes, and who makes them (pure).
- :mod:`.sources`: files, gzip, standard input, and pod logs through the Kubernetes API.
- :mod:`.render`: the terminal report, JSON, and the HTML report.
- :mod:`.synth`: realistic logs with a planted spike, for tests, benchmarks and the sandbox.
"""
