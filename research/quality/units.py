"""python units.py: is fitting the effects in other units of the metric (``additive.transformed``) better than raw
units, over 10 repeats, in both protocols? Per-task Wilcoxon against raw units, and a 95% interval resampling whole
datasets (or sources). Writes results/units_10seeds.csv."""
import additive
from repeats import compare_views

UNITS = {"raw": ("raw", 1e-2), "asin": ("asin", 0.0), "asin eps 1e-3": ("asin", 1e-3), "asin eps 1e-2": ("asin", 1e-2),
         "logit": ("logit", 1e-2), "log_error": ("log_error", 1e-2)}

if __name__ == "__main__":
    compare_views(lambda: additive.TransformEffects(units=UNITS, pair_weights=(False,)), "raw", "units",
                  "results/units_10seeds.csv")
