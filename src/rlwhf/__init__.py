"""rlwhf: Reinforcement Learning With Honesty and Feedback."""

__version__ = "0.1.0"
