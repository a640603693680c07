"""python anchoring.py: does pulling task levels toward the corpus mean (``additive.pair_weighted_effects``,
mu pseudo-pairs) rank better than the plain effects (mu = 0), over 10 repeats, in both protocols? Per-task Wilcoxon
against mu = 0, and a 95% interval resampling whole datasets (or sources). Writes results/anchoring_10seeds.csv."""
import additive
from repeats import compare_views

if __name__ == "__main__":
    compare_views(lambda: additive.AnchoredEffects(), "anchor mu=0.0", "anchoring",
                  "results/anchoring_10seeds.csv")
