"""Jobs and sessions, between the API and the engine.

- :mod:`~livesight.runs.specs`: what a job or session asks for, declared once, and its run config.
- :mod:`~livesight.runs.views`: how stored events, links and recordings look to clients.
- :mod:`~livesight.runs.services`: what the API does — a change to the store, then a word to the runner.
- :mod:`~livesight.runs.worker`, :mod:`~livesight.runs.manager`, :mod:`~livesight.runs.jobs`,
  :mod:`~livesight.runs.sessions`: a worker runs the runs it claims from the store and holds their leases.
- :mod:`~livesight.runs.runner`, :mod:`~livesight.runs.ray_runner`: where runs are placed — this process, or
  a Ray cluster (``LIVESIGHT_RUNNER``).
"""
