"""The shipped symmetry-network checkpoint (``symmetry.pt``); see the README's model card."""
