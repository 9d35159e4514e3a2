"""Gymnasium environments for RL face fusion. Importing this package registers them."""
