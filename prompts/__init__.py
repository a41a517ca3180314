"""Prompt templates (text files), shipped with swarm as `swarm.prompts`."""
