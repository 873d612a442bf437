"""The agreement report: how often humans confirmed or corrected the cards, per model and prompt version."""
