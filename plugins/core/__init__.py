"""Transformer Lab plugins: thin shims over the rlwhf package."""
