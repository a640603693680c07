"""The MedicalRec transformer: a BERT-style encoder over task-feature tokens, softmax over models.

Every feature of the mode is one token (``FeatureEncoder.tokens``: categorical values, buckets of
numbers on the training distribution, and a ``[MISSING]`` token per feature); a ``[CLS]`` token is
prepended, a small pre-norm transformer encoder reads the sequence, and a linear head on ``[CLS]``
gives one logit per candidate model.

Training optimises two targets at once, both as cross-entropy against soft labels:

* **record**: the model a record reports, over the softmax of *all* candidates (what the record
  protocol measures: "which model would this paper have used?");
* **task**: the task's listwise target (``TrainingSet.task_targets``, more mass on better models)
  over a softmax restricted to the models evaluated on that task (ListNet), so the encoder learns
  which of the models people try works best for tasks like this one, not only which is popular.

Features are masked at random during training (performance fields of mode IV more often), so
rankings stay sensible when a user leaves fields empty. Early stopping uses a validation split
grouped by task; the chosen number of epochs is then refit on all records.

Attention is written with plain matrix products (no fused kernels) so that the module exports to
ONNX as is and ONNX Runtime reproduces it to float precision.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from medicalrec import constants as C
from medicalrec.bench.modes import PERFORMANCE_FEATURES
from medicalrec.bench.splits import validation_split
from medicalrec.errors import ConfigError, ModelError
from medicalrec.recommenders.base import Recommender, TrainingSet
from medicalrec.recommenders.params import parse_params


@dataclass
class TransformerConfig:
    """Defaults chosen to need no tuning on the bundled data, the real corpus and a 5,000-record
    generated corpus; ``max_seconds`` bounds one fit on 2 CPU cores."""

    d_model: int = 32  # width of every token embedding
    n_heads: int = 4
    n_layers: int = 2
    dim_feedforward: int = 64
    dropout: float = 0.0  # feature masking regularises; dropout halved the step speed for no measured gain
    feature_mask_prob: float = 0.05  # chance to hide any feature during training
    performance_mask_prob: float = 0.5  # chance to hide each mode-IV performance field
    objective: str = "task"  # "task": rank the models of a task by how well they did (record and
    # listwise targets as below); "record": predict the model a paper used (record target only,
    # unweighted), which is what the record protocol measures
    record_weight: float = 0.2  # weight of the record target; the task (listwise) target gets the rest
    listwise_record_weights: bool = True  # weigh each record by its model's share of the task's listwise
    # target (mean 1 within a task), so records of models that did well count more
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    max_epochs: int = 100
    patience: int = 10  # epochs without validation improvement before stopping
    validation_fraction: float = 0.15  # of tasks, held out for early stopping
    refit_full: bool = True  # after early stopping, retrain on all records for the chosen epochs
    max_seconds: float | None = None  # optional wall-clock cap per fit; off by default because a
    # cap makes results depend on machine load (the same seed picked different modes under load)
    threads: int = 1  # torch intra-op threads while fitting: matrices this small gain nothing from more,
    # and on a busy 2-core machine two threads were 5x slower than one (measured)


def _build_network(vocab_sizes: list[int], n_models: int, config: TransformerConfig):
    import torch
    from torch import nn

    class EncoderLayer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            d, h = config.d_model, config.n_heads
            self.heads, self.head_dim = h, d // h
            self.norm1 = nn.LayerNorm(d)
            self.qkv = nn.Linear(d, 3 * d)
            self.out = nn.Linear(d, d)
            self.norm2 = nn.LayerNorm(d)
            self.ff = nn.Sequential(
                nn.Linear(d, config.dim_feedforward), nn.GELU(), nn.Dropout(config.dropout),
                nn.Linear(config.dim_feedforward, d),
            )
            self.drop = nn.Dropout(config.dropout)

        def forward(self, x):
            b, n, d = x.shape
            q, k, v = self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
            attention = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.head_dim), dim=-1)
            mixed = (attention @ v).transpose(1, 2).reshape(b, n, d)
            x = x + self.drop(self.out(mixed))
            return x + self.drop(self.ff(self.norm2(x)))

    class MedicalRecNet(nn.Module):
        """tokens ``int64 [batch, n_features]`` -> logits ``[batch, n_models]``."""

        def __init__(self) -> None:
            super().__init__()
            offsets = np.concatenate([[1], 1 + np.cumsum(vocab_sizes)[:-1]]).astype(np.int64)
            self.register_buffer("offsets", torch.as_tensor(offsets))
            self.embedding = nn.Embedding(1 + int(sum(vocab_sizes)), config.d_model)  # row 0 is [CLS]
            self.position = nn.Parameter(torch.zeros(1, len(vocab_sizes) + 1, config.d_model))
            nn.init.normal_(self.position, std=0.02)
            self.layers = nn.ModuleList(EncoderLayer() for _ in range(config.n_layers))
            self.norm = nn.LayerNorm(config.d_model)
            self.head = nn.Linear(config.d_model, n_models)

        def forward(self, tokens):
            cls = torch.zeros_like(tokens[:, :1])
            ids = torch.cat([cls, tokens + self.offsets], dim=1)
            x = self.embedding(ids) + self.position
            for layer in self.layers:
                x = layer(x)
            return self.head(self.norm(x[:, 0]))

    return MedicalRecNet()


class MedicalRecTransformer(Recommender):
    name = "medicalrec"
    description = "BERT-style encoder over task-feature tokens, softmax over candidate models"
    unseen_task_policy = (
        "unseen categories map to [UNK], empty fields to [MISSING] (both seen in training through "
        "masking); numbers fall into the training buckets"
    )

    @classmethod
    def protocol_params(cls, protocol: str) -> dict:
        """The record protocol asks which model a paper used; the task protocol, which model is best."""
        return {"objective": "record" if protocol == C.PROTOCOL_RECORD else "task"}

    def __init__(self, seed: int = 0, **params):
        super().__init__(seed=seed, **params)
        self.config = parse_params(TransformerConfig, params, self.name)
        if self.config.objective not in ("task", "record"):
            raise ConfigError(f"medicalrec: objective must be 'task' or 'record', got {self.config.objective!r}")
        self.net = None
        self.history_: dict = {}

    # --- training -------------------------------------------------------------------------------
    def _fit(self, data: TrainingSet) -> None:
        import torch

        previous_threads = torch.get_num_threads()
        torch.set_num_threads(self.config.threads)
        try:
            self._fit_with_validation(data)
        finally:
            torch.set_num_threads(previous_threads)

    def _fit_with_validation(self, data: TrainingSet) -> None:
        config = self.config
        started = time.perf_counter()
        record_tokens = self.encoder.tokens(data.records)
        task_tokens = self.encoder.tokens(data.task_frame)
        n_models = len(self.models_)
        record_targets = np.zeros((len(record_tokens), n_models), dtype=np.float32)
        record_targets[np.arange(len(record_tokens)), data.record_model] = 1.0
        if config.objective == "task" and config.listwise_record_weights:
            evaluated = (data.task_targets > 0).sum(axis=1)
            share = data.task_targets[data.task_of_record, data.record_model] * evaluated[data.task_of_record]
            record_targets *= share[:, None].astype(np.float32)
        task_targets = data.task_targets.astype(np.float32)

        train_tasks, val_tasks = validation_split(np.arange(len(data.task_ids)), config.validation_fraction, self.seed)
        epochs = config.max_epochs
        if len(val_tasks) and config.refit_full:
            in_val = np.isin(data.task_of_record, val_tasks)
            probe = self._train(
                record_tokens[~in_val], record_targets[~in_val], task_tokens[train_tasks], task_targets[train_tasks],
                validation=(record_tokens[in_val], record_targets[in_val], task_tokens[val_tasks], task_targets[val_tasks]),
                max_epochs=config.max_epochs, deadline=_deadline(started, config.max_seconds, 0.5),
            )
            epochs = probe["best_epoch"]
            self.history_["validation"] = probe
        final = self._train(record_tokens, record_targets, task_tokens, task_targets, validation=None,
                            max_epochs=max(epochs, 1), deadline=_deadline(started, config.max_seconds, 1.0))
        self.history_["final"] = final
        self.history_["fit_seconds"] = time.perf_counter() - started

    def _train(self, record_tokens, record_targets, task_tokens, task_targets, validation, max_epochs, deadline) -> dict:
        """One training run from a fresh seeded network; with ``validation``, early stopping keeps
        the best epoch's weights and reports it."""
        import torch

        config = self.config
        torch.manual_seed(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        self.net = _build_network(self.encoder.vocab_sizes, len(self.models_), config)
        optimiser = torch.optim.AdamW(self.net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        performance = torch.tensor([f in PERFORMANCE_FEATURES for f in self.encoder.features])
        mask_prob = torch.where(performance, config.performance_mask_prob, config.feature_mask_prob)

        tokens = torch.as_tensor(np.concatenate([record_tokens, task_tokens]))
        targets = torch.as_tensor(np.concatenate([record_targets, task_targets]))
        is_task = torch.cat([torch.zeros(len(record_tokens), dtype=torch.bool), torch.ones(len(task_tokens), dtype=torch.bool)])
        record_weight = 1.0 if config.objective == "record" else config.record_weight
        weights = torch.where(is_task, 1.0 - record_weight, record_weight)
        # Balance the two targets: records outnumber tasks, so each side is scaled to its share.
        n_records, n_tasks = max(len(record_tokens), 1), max(len(task_tokens), 1)
        weights = weights * torch.where(is_task, len(tokens) / n_tasks, len(tokens) / n_records) / 2

        best = {"loss": math.inf, "epoch": 0, "state": None}
        epochs_run, bad_epochs = 0, 0
        for epoch in range(1, max_epochs + 1):
            self.net.train()
            order = torch.randperm(len(tokens), generator=generator)
            for start in range(0, len(order), config.batch_size):
                batch = order[start:start + config.batch_size]
                hide = torch.rand(len(batch), tokens.shape[1], generator=generator) < mask_prob
                batch_tokens = tokens[batch].masked_fill(hide, 0)
                loss = _soft_cross_entropy(self.net(batch_tokens), targets[batch], is_task[batch], weights[batch])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
            epochs_run = epoch
            if validation is not None:
                val_loss = self._validation_loss(*validation)
                if val_loss < best["loss"] - 1e-4:
                    best = {"loss": val_loss, "epoch": epoch,
                            "state": {k: v.detach().clone() for k, v in self.net.state_dict().items()}}
                    bad_epochs = 0
                else:
                    bad_epochs += 1
                    if bad_epochs >= config.patience:
                        break
            if time.perf_counter() > deadline:
                break
        if validation is not None and best["state"] is not None:
            self.net.load_state_dict(best["state"])
        self.net.eval()
        return {"epochs_run": epochs_run, "best_epoch": best["epoch"] or epochs_run,
                "best_validation_loss": None if best["state"] is None else float(best["loss"])}

    def _validation_loss(self, record_tokens, record_targets, task_tokens, task_targets) -> float:
        import torch

        self.net.eval()
        with torch.no_grad():
            losses = []
            if len(record_tokens):
                logits = self.net(torch.as_tensor(record_tokens))
                losses.append(_soft_cross_entropy(logits, torch.as_tensor(record_targets), torch.zeros(len(logits), dtype=torch.bool)).item())
            if len(task_tokens):
                logits = self.net(torch.as_tensor(task_tokens))
                losses.append(_soft_cross_entropy(logits, torch.as_tensor(task_targets), torch.ones(len(logits), dtype=torch.bool)).item())
        return float(np.mean(losses)) if losses else math.inf

    # --- inference ------------------------------------------------------------------------------
    def score(self, tasks: pd.DataFrame) -> np.ndarray:
        """Softmax probabilities over all candidate models, ``float64 [n_tasks, n_models]``."""
        self._check_fitted()
        if self.net is None:
            raise ModelError("medicalrec: network weights missing; fit() or load() first")
        return self.score_tokens(self.encoder.tokens(tasks))

    def score_tokens(self, tokens: np.ndarray, batch_size: int = 65536) -> np.ndarray:
        import torch

        module = self.scoring_module()
        out = np.empty((len(tokens), len(self.models_)), dtype=np.float64)
        with torch.no_grad():
            for start in range(0, len(tokens), batch_size):
                batch = torch.as_tensor(np.ascontiguousarray(tokens[start:start + batch_size], dtype=np.int64))
                out[start:start + batch_size] = module(batch).numpy()
        return out

    def scoring_module(self):
        """The network with a softmax on top, in eval mode: what ONNX export traces."""
        import torch

        net = self.net

        class Scoring(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.net = net

            def forward(self, tokens):
                return torch.softmax(self.net(tokens), dim=-1)

        return Scoring().eval()

    # --- persistence ----------------------------------------------------------------------------
    def _metadata(self) -> dict:
        return {"config": asdict(self.config), "history": self.history_}

    def _load_metadata(self, extra: dict) -> None:
        self.config = TransformerConfig(**extra["config"])
        self.history_ = extra.get("history", {})

    def _state(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        import torch

        self.net = _build_network(self.encoder.vocab_sizes, len(self.models_), self.config)
        self.net.load_state_dict({k: torch.as_tensor(v) for k, v in arrays.items()})
        self.net.eval()


def _deadline(started: float, max_seconds: float | None, share: float) -> float:
    return math.inf if max_seconds is None else started + max_seconds * share


def _soft_cross_entropy(logits, targets, is_task, weights=None):
    """Cross-entropy against soft labels; task rows use a softmax restricted to the models the task
    evaluated (those with target mass), record rows the softmax over all models."""
    import torch

    restricted = logits.masked_fill(is_task[:, None] & (targets <= 0), -1e9)
    log_probs = torch.log_softmax(restricted, dim=-1)
    per_row = -(targets * log_probs).sum(dim=-1)
    if weights is not None:
        per_row = per_row * weights
    return per_row.mean()
