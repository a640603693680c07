"""DeepFM over (task feature tokens, candidate model): an FM and an MLP sharing the embeddings."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from medicalrec.errors import ConfigError
from medicalrec.recommenders.torch_utils import (
    FieldEmbedding,
    TorchConfig,
    TorchRecommender,
    model_bias,
    model_embedding,
)


@dataclass
class DeepFMConfig(TorchConfig):
    # Hidden layers of the deep part. It runs once per (task, model) pair, so it is kept narrow:
    # the batch costs batch_size x n_models x hidden[0] x hidden[1] multiply-adds.
    hidden: tuple[int, ...] = (32, 16)
    learning_rate: float = 5e-3  # Adam step size, half the plain factorization machine's
    # Leave-dataset-out on the public corpus (mode III), 3 epochs ranked as well as 5 and 20.
    epochs: int = 3

    def __post_init__(self):
        super().__post_init__()
        self.hidden = tuple(int(h) for h in self.hidden)
        if not self.hidden or min(self.hidden) < 1:
            raise ConfigError(f"deepfm: hidden must be one or more positive sizes, got {self.hidden!r}")


class DeepFM(TorchRecommender):
    """Logit = FM part (as ``FactorizationMachine``) + MLP over [all feature embeddings, model embedding].

    The first deep layer is split into a task part and a model part, computed once per task and once
    per model and added, instead of concatenating every (task, model) pair.
    """

    name = "deepfm"
    description = (
        "DeepFM: factorization machine plus an MLP over the concatenated feature and model embeddings, "
        "sharing the embeddings"
    )
    unseen_task_policy = (
        "missing features and unseen categories use the [MISSING] embedding of their feature (trained "
        "through feature dropout); with nothing known the ranking comes from the model terms alone"
    )
    config_class = DeepFMConfig

    def _build_network(self) -> nn.ModuleDict:
        dim, hidden = self.config.embedding_dim, self.config.hidden
        n_features = len(self.encoder.features)
        layers = [nn.ReLU()]
        for width_in, width_out in zip(hidden[:-1], hidden[1:]):
            layers += [nn.Linear(width_in, width_out), nn.ReLU()]
        layers.append(nn.Linear(hidden[-1], 1))
        return nn.ModuleDict({
            "fields": FieldEmbedding(self.encoder.vocab_sizes, dim),
            "models": model_embedding(len(self.models_), dim),
            "bias": model_bias(len(self.models_)),
            "deep_task": nn.Linear(n_features * dim, hidden[0]),
            "deep_model": nn.Linear(dim, hidden[0], bias=False),
            "deep": nn.Sequential(*layers),
        })

    def _logits(self, network: nn.ModuleDict, tokens: torch.Tensor) -> torch.Tensor:
        fields = network["fields"](tokens)
        models = network["models"].weight
        fm = fields.sum(dim=1) @ models.T + network["bias"].weight.T
        task_part = network["deep_task"](fields.flatten(start_dim=1))
        model_part = network["deep_model"](models)
        deep = network["deep"](task_part[:, None, :] + model_part[None, :, :]).squeeze(-1)
        return fm + deep
