"""The benchmark tooling (``mtl-text benchmark``, needs the ``bench`` extra: fastText and matplotlib):
baselines, prediction speed, the framework-overhead measurement, the transfer report and plots.
The core package imports nothing from here."""
