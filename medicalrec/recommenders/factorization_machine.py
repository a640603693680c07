"""Factorization machine over (task feature tokens, candidate model)."""

from __future__ import annotations

import torch
from torch import nn

from medicalrec.recommenders.torch_utils import FieldEmbedding, TorchRecommender, model_bias, model_embedding


class FactorizationMachine(TorchRecommender):
    """Second-order FM on the one-hot of every feature token plus the candidate model.

    Terms that do not involve the candidate (global bias, feature weights, feature-feature
    interactions) are the same for every model of one task and cancel in the softmax over models,
    so the logit keeps only the model's bias and its interactions with each feature:
    ``b_m + sum_f <v_f(token_f), e_m>``.
    """

    name = "factorization_machine"
    description = "factorization machine: model bias + interactions of the model with every task feature token"
    unseen_task_policy = (
        "missing features and unseen categories use the [MISSING] embedding of their feature (trained "
        "through feature dropout); with nothing known the ranking comes from the learned model biases"
    )

    def _build_network(self) -> nn.ModuleDict:
        dim = self.config.embedding_dim
        return nn.ModuleDict({
            "fields": FieldEmbedding(self.encoder.vocab_sizes, dim),
            "models": model_embedding(len(self.models_), dim),
            "bias": model_bias(len(self.models_)),
        })

    def _logits(self, network: nn.ModuleDict, tokens: torch.Tensor) -> torch.Tensor:
        task = network["fields"](tokens).sum(dim=1)
        return task @ network["models"].weight.T + network["bias"].weight.T
