"""``watcher run``: the one wiring of the pipeline from the config, and the scheduler."""
