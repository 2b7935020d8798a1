"""Reinforcement learning of the router: GRPO environments and rewards looked up by name."""
