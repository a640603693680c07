"""python comparison_groups.py: groups of models that no chain of shared tasks connects.

Model effects (`best_mean_relevance.model_effects`) compare two models only through tasks that rated
both, or a chain of such tasks; across groups only the ridge orders them. Prints the number of groups
and the largest sizes (a model rated only on one-model tasks is a group of its own).
"""
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

import harness

D = harness.load()
rated = (~np.isnan(D.R)).astype(float)
compared = rated[rated.sum(1) >= 2]
n_groups, label = connected_components(csr_matrix((compared.T @ compared) > 0), directed=False)
sizes = np.sort(np.bincount(label))[::-1]
print(f"{len(D.models)} models, {n_groups} groups; largest: {sizes[:8].tolist()}")
