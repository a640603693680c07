"""Two-tower retrieval model: a task tower and a model tower meeting in a dot product."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from medicalrec.recommenders.torch_utils import (
    FieldEmbedding,
    TorchConfig,
    TorchRecommender,
    model_bias,
    model_embedding,
)

# Words shared by at least this many model names become model-tower features ("resnet", "fine",
# "tune", "linear", "probe", ...): they let related models (same backbone, same training scheme)
# share what they learn, while a model's own id embedding keeps what is specific to it.
MIN_MODELS_PER_WORD = 2


def name_words(models: list[str]) -> np.ndarray:
    """``float32 [n_models, n_words]`` row-normalised bag of the words shared between model names."""
    words = [set(re.findall(r"[a-z]+|\d+", m.casefold())) for m in models]
    counts: dict[str, int] = {}
    for bag in words:
        for word in bag:
            counts[word] = counts.get(word, 0) + 1
    vocabulary = sorted(w for w, c in counts.items() if c >= MIN_MODELS_PER_WORD)
    index = {w: i for i, w in enumerate(vocabulary)}
    matrix = np.zeros((len(models), len(vocabulary)), dtype=np.float32)
    for row, bag in enumerate(words):
        for word in bag:
            if word in index:
                matrix[row, index[word]] = 1.0
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros_like(matrix), where=totals > 0)


@dataclass
class TwoTowerConfig(TorchConfig):
    # Width of the hidden layer of both towers; their outputs have ``embedding_dim`` dimensions.
    hidden: int = 64

    def __post_init__(self):
        super().__post_init__()
        self.hidden = int(self.hidden)


class TwoTower(TorchRecommender):
    name = "two_tower"
    description = (
        "two-tower model: MLP over the task's feature embeddings and MLP over the model's id "
        "embedding plus the words of its name, scored by dot product plus a model bias"
    )
    unseen_task_policy = (
        "missing features and unseen categories use the [MISSING] embedding of their feature (trained "
        "through feature dropout); with nothing known the task tower still gives one learned vector"
    )
    config_class = TwoTowerConfig

    def _build_network(self) -> nn.ModuleDict:
        dim, hidden = self.config.embedding_dim, self.config.hidden
        n_features = len(self.encoder.features)
        words = name_words(self.models_)
        if words.shape[1] == 0:
            words = np.zeros((len(self.models_), 1), dtype=np.float32)  # no shared word: a zero feature
        network = nn.ModuleDict({
            "fields": FieldEmbedding(self.encoder.vocab_sizes, dim),
            "task_tower": nn.Sequential(nn.Linear(n_features * dim, hidden), nn.ReLU(), nn.Linear(hidden, dim)),
            "models": model_embedding(len(self.models_), dim),
            "words": nn.Linear(words.shape[1], dim, bias=False),
            "model_tower": nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, dim)),
            "bias": model_bias(len(self.models_)),
        })
        # Derived from the model names on every build, so it is not part of the saved weights.
        network["words"].register_buffer("bag", torch.from_numpy(words), persistent=False)
        return network

    def _logits(self, network: nn.ModuleDict, tokens: torch.Tensor) -> torch.Tensor:
        task = network["task_tower"](network["fields"](tokens).flatten(start_dim=1))
        words = network["words"]
        models = network["model_tower"](network["models"].weight + words(words.bag))
        return task @ models.T + network["bias"].weight.T
