"""Metrics, stored comparison runs, reports, model card, and the recipe comparison."""
