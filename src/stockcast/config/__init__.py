"""Configs: composing them with Hydra, the typed schema they are validated against once, config
mistakes as one sentence, and the wrapper every command's entry point runs through."""
