"""The training job: corpora in, a calibrated ONNX model with its report and card out.

Layout, each floor importing only from the floors below it (tests/training/test_layout.py
checks that no module imports in a circle):

- ``data/``: corpus readers (``corpora``) and speaker-independent splits (``splits``).
- ``features/``: augmentation of training audio (``augment``), the on-disk feature cache
  (``cache``) and the window sets the network reads (``windows``).
- ``evaluation/``: metrics, stored comparison runs (``runs``), report and model card, and an
  exported model scored on a corpus (``exported``).
- ``calibration/``: temperature and threshold maths (``temperature``), the shifted calibration
  set (``shifted``), arousal/valence heads (``affect_heads``), and how a model is calibrated
  (``fit``).
- ``model/``: the network (``network``), fitting and scoring it (``trainer``), ONNX export
  (``export``).
- ``job.py``: the training job end to end (``JobConfig`` is the one source of defaults).
- On top of the job: the recipe comparison (``evaluation/compare``), hyperparameter search
  (``tuning``), re-calibrating an exported model (``calibration/refit``), the shipped
  model's refit on every speaker (``full_refit``) and the CLI (``cli``).
"""
