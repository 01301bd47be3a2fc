"""Training: one cell on one device -> its result (Trainer, callbacks, scoring, checkpoint,
trackers, model construction, the CPU heap setting)."""
