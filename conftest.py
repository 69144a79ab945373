# The pytest plugin lives in harness/plugin.py: options (--tier, --data-root, --device, --seed,
# --results-dir, --baseline), markers, the `claim` fixture, and the report at the end of a run.
pytest_plugins = ["harness.plugin"]
