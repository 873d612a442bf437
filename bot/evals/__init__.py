"""Evaluation: labelled cases, scoring, severity drift and the HTML report."""
