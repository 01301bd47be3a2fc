"""harness: fine-tune pretrained transformer encoders on text-classification tasks and rank them honestly."""

__version__ = "0.1.0"
