"""Speaker adaptation (issue 24): a second head on per-speaker-standardised encoder features,
fitted on the shipped model's training speakers and measured on held-out speakers and corpora
with enrolment sets of a few unlabelled clips."""
