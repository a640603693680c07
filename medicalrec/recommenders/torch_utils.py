"""Shared base of the torch baselines: token features in, one logit per candidate model out, trained
with softmax cross-entropy over all models.

This module and the torch recommender modules import torch at the top: the registry imports a
recommender's module only when that recommender is used, so listing recommenders or using the
others never pays for torch.

The target of a training record mixes its own model (one-hot) with its task's listwise target
(``TrainingSet.task_targets``): the first says "this model was tried on this task", the second "and
this is how well the task's models did". Networks are ``nn.ModuleDict`` s plus a pure ``logits``
function, and weights travel as numpy arrays in ``weights.npz`` (never ``torch.save``).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import nn

from medicalrec.bench.modes import PERFORMANCE_FEATURES
from medicalrec.errors import ConfigError
from medicalrec.features import MISSING_TOKEN, UNKNOWN_TOKEN
from medicalrec.recommenders.base import Recommender, TrainingSet
from medicalrec.recommenders.params import parse_params


# Intra-op threads while training and scoring. Batches are small (128 tasks x ~100 models), so
# thread hand-offs cost more than they save: one thread was 5-10 times faster than two in our
# measurements on a busy 2-core machine.
COMPUTE_THREADS = 1


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with ``n`` torch threads and restore the caller's setting afterwards."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@dataclass
class TorchConfig:
    # Size of every feature-token and model embedding.
    embedding_dim: int = 16
    # Leave-dataset-out on the public corpus (mode III), 8 epochs ranked as well as 20 (the FM, the
    # two-tower) in about half the time; the sweep's time budget is in the README.
    epochs: int = 8
    batch_size: int = 128  # records per step
    learning_rate: float = 1e-2  # Adam step size
    weight_decay: float = 1e-5  # Adam's L2 penalty on every weight
    # Weight of the record's own model in the target; the rest is the task's listwise target.
    record_weight: float = 0.2
    # Probability of hiding all performance features (accuracy ... auc) of a training example, drawn
    # per example and epoch: users usually ask before they have any of them.
    mask_performance: float = 0.5
    # Probability of hiding any single feature, so that no ranking hangs on one field being reported.
    feature_dropout: float = 0.1

    def __post_init__(self):
        for name in ("embedding_dim", "epochs", "batch_size"):
            if int(getattr(self, name)) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}")
            setattr(self, name, int(getattr(self, name)))
        for name in ("record_weight", "mask_performance", "feature_dropout"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        if not self.learning_rate > 0:
            raise ConfigError(f"learning_rate must be > 0, got {self.learning_rate!r}")


class FieldEmbedding(nn.Module):
    """One embedding table for all features: token ``t`` of feature ``f`` is row ``offset[f] + t``."""

    def __init__(self, vocab_sizes: list[int], dim: int):
        super().__init__()
        offsets = np.concatenate([[0], np.cumsum(vocab_sizes)[:-1]]).astype(np.int64)
        self.register_buffer("offsets", torch.from_numpy(offsets), persistent=False)
        self.table = nn.Embedding(int(sum(vocab_sizes)), dim)
        nn.init.normal_(self.table.weight, std=0.05)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """``[B, F]`` tokens -> ``[B, F, dim]``."""
        return self.table(tokens + self.offsets)


def model_embedding(n_models: int, dim: int) -> nn.Embedding:
    embedding = nn.Embedding(n_models, dim)
    nn.init.normal_(embedding.weight, std=0.05)
    return embedding


def model_bias(n_models: int) -> nn.Embedding:
    bias = nn.Embedding(n_models, 1)
    nn.init.zeros_(bias.weight)
    return bias


class TorchRecommender(Recommender):
    """Subclasses set ``config_class`` and implement ``_build_network`` and ``_logits``."""

    config_class: ClassVar[type] = TorchConfig

    def __init__(self, seed: int = 0, **params: Any):
        super().__init__(seed, **params)
        self.config = parse_params(self.config_class, params, self.name)
        self.network_: nn.ModuleDict | None = None

    @abstractmethod
    def _build_network(self) -> nn.ModuleDict:
        """Freshly initialised parameters (uses torch's global generator, seeded by ``_fit``)."""

    @abstractmethod
    def _logits(self, network: nn.ModuleDict, tokens: torch.Tensor) -> torch.Tensor:
        """``[B, F]`` int64 tokens -> ``[B, n_models]`` logits."""

    def _fit(self, data: TrainingSet) -> None:
        with torch_threads(COMPUTE_THREADS):
            self._train(data)

    def _train(self, data: TrainingSet) -> None:
        torch.manual_seed(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        config = self.config
        tokens = torch.from_numpy(self.encoder.tokens(data.records))
        onehot = np.eye(len(self.models_))[data.record_model]
        target = config.record_weight * onehot + (1 - config.record_weight) * data.task_targets[data.task_of_record]
        targets = torch.from_numpy(target.astype(np.float32))
        performance = torch.tensor(
            [j for j, f in enumerate(self.encoder.features) if f in PERFORMANCE_FEATURES], dtype=torch.long
        )
        network = self._build_network()
        optimiser = torch.optim.Adam(network.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay)
        network.train()
        for _ in range(config.epochs):
            order = torch.randperm(len(tokens), generator=generator)
            for start in range(0, len(order), config.batch_size):
                batch = order[start:start + config.batch_size]
                x = self._augment(tokens[batch], performance, generator)
                loss = -(targets[batch] * torch.log_softmax(self._logits(network, x), dim=1)).sum(dim=1).mean()
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
        self.network_ = network.eval()

    def _augment(self, x: torch.Tensor, performance: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        x = x.clone()
        hide = torch.rand(x.shape, generator=generator) < self.config.feature_dropout
        if len(performance):
            hide_performance = torch.rand(len(x), generator=generator) < self.config.mask_performance
            hide[:, performance] |= hide_performance[:, None]
        x[hide] = MISSING_TOKEN
        return x

    def input_tokens(self, tasks: pd.DataFrame) -> torch.Tensor:
        """Feature tokens for scoring. A category never seen in training ([UNK]) becomes [MISSING]:
        training never shows [UNK], so its embedding would be untrained noise, whereas [MISSING] is
        trained by feature dropout to mean "not known"."""
        tokens = self.encoder.tokens(tasks)
        categorical = [j for j, f in enumerate(self.encoder.features) if f in self.encoder.vocabularies]
        block = tokens[:, categorical]
        tokens[:, categorical] = np.where(block == UNKNOWN_TOKEN, MISSING_TOKEN, block)
        return torch.from_numpy(tokens)

    def score(self, tasks: pd.DataFrame) -> np.ndarray:
        self._check_fitted()
        tokens = self.input_tokens(tasks)
        with torch.no_grad(), torch_threads(COMPUTE_THREADS):
            logits = self._logits(self.network_, tokens)
        return logits.double().numpy()

    def _state(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self.network_.state_dict().items()}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        network = self._build_network()
        network.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in arrays.items()})
        self.network_ = network.eval()
