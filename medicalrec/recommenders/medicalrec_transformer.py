"""The MedicalRec transformer (v2): a (task, candidate) scorer on top of a leaderboard prior.

``score(task, m) = prior[m] + delta(task, m)``, as a softmax over every candidate:

* **prior** (``prior="effects"``): each candidate's effect in the relevance metric's units (by
  default arcsin(sqrt(relevance)), ``effect_units``), from a least-squares fit of ``relevance = task
  level + model effect`` over the training tasks with a ridge of ``effect_ridge`` and task levels
  pulled toward the corpus's mean by ``level_ridge``, so that groups of models no chain of shared
  tasks connects are still ordered (``best_mean_relevance.model_effects``), min-max scaled over the
  candidates to [0, 1] so that it sits on the scale of the within-task gains. A task then counts by
  how much the choice mattered on it: a 0.001 AUC near-tie is not a full vote.
  ``prior="gains"`` is the leaderboard's rule instead: the mean within-task gain (relevance min-max
  scaled within a task) over the training tasks that rated the candidate, shrunk by
  ``prior_pseudo_tasks`` toward the mean of all models (with ``attribute_prior``: toward its
  attribute groups, fine to coarse, then all; ``_levels``).
  Training tasks can be weighted ``n_tasks(dataset) ** -dataset_weight_power``: tasks of one image
  collection are not independent evidence. A candidate no training task rated ranks below every
  rated one (then only the delta, from its attribute tokens, can lift it), unless
  ``cold_start_from_attributes`` (item cold start) scores it from its attribute group: the group's
  mean effect, shrunk toward coarser groups (``_levels``: architecture + adaptation, then with
  ``cold_start_across_adaptations`` the architecture under any adaptation, family + adaptation, then
  the family), the average model where no group member was rated (effects; ``cold_start_effects``),
  or, with ``attribute_prior`` too, the group's prior (gains).
* **delta**: a BERT-style encoder over the task's feature tokens (``FeatureEncoder.tokens``, a
  ``[CLS]`` token, pre-norm layers written with plain matmuls so the graph exports to ONNX) gives one
  task vector; every candidate has a vector from its id (``[UNK]`` when unseen) and its catalogue
  attributes, precomputed once; ``delta = (W t) . c / sqrt(d)`` with ``W`` initialised to zero, so
  the untrained model *is* the prior. Trained with ListNet over the models each task evaluated
  (the task's gains against ``prior + delta``, temperature ``temperature``) plus an L2 penalty on
  delta, with feature and id dropout, full batch.
* **gate**: the delta ships only when it beats the prior on held-out *datasets*: the validation
  loss curve, averaged over ``inner_folds`` dataset-grouped inner folds, includes epoch 0 (the prior
  alone), and a trained epoch must beat it by ``gate_margin``. Otherwise delta is off and the model
  is the prior. The chosen number of epochs is then refit on all training tasks.

Under the record protocol (``objective="record"``, "which model would this paper have used?") the
prior is each candidate's log share of the training records and the delta is trained with
cross-entropy over all candidates on the records' own models.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from medicalrec import constants as C
from medicalrec.bench.tasks import scale_within_task
from medicalrec.errors import ConfigError, ModelError
from medicalrec.recommenders.base import Recommender, TrainingSet
from medicalrec.recommenders.best_mean_relevance import (
    EFFECT_UNITS,
    HeldOutEffects,
    in_effect_units,
    model_effects,
    task_relevance,
    within_task_gains,
)
from medicalrec.recommenders.params import parse_params

# Catalogue attributes that form a candidate's tokens, in order.
CANDIDATE_ATTRIBUTES = ("architecture", "family", "adaptation", "pretraining", "size_class")
OBJECTIVES = ("task", "record")
PRIORS = ("effects", "gains")
# Options added after models were first saved, with what every model saved before them was fitted
# with: the gains prior (such models may carry options only it allows), effects in raw units,
# no level ridge, the two cold-start levels.
FITTED_BEFORE_OPTION = {"prior": "gains", "effect_units": "raw", "level_ridge": 0.0,
                        "cold_start_across_adaptations": False}
EFFECT_TIE = 1e-9  # effects closer than this (relative) are one value: far below any reported difference


@dataclass
class TransformerConfig:
    """Defaults from leave-dataset-out cross-validation on the public corpus (README, "Results")."""

    d_model: int = 32  # width of every token and candidate embedding
    n_heads: int = 4  # attention heads over the task's feature tokens (d_model / n_heads wide each)
    n_layers: int = 1  # encoder layers: a task is a handful of tokens, one layer mixes them
    dim_feedforward: int = 64  # the encoder layer's hidden width (2 x d_model)
    objective: str = "task"  # "task": rank a task's models by how well they did; "record": predict a record's model
    temperature: float = 0.25  # ListNet temperature on within-task gains (and on the output softmax)
    # "effects": the prior is each candidate's effect in metric units (task level + model effect fit);
    # "gains": its mean within-task min-max gain, the leaderboard's rule. Effects ranked better on
    # held-out datasets and held-out sources (README, "What we tried").
    prior: str = "effects"
    effect_ridge: float = 2.0  # pseudo-pairs pulling each effect toward the average model's (prior="effects")
    # Pseudo-pairs pulling each training task's level toward the corpus's mean relevance (prior="effects";
    # model_effects): groups of models that share no task are then ordered by how high their tasks
    # scored instead of each being centred on the average model. It ranked held-out datasets and held-out
    # sources better than 0, the fit before (README, "What we tried").
    level_ridge: float = 0.5
    # Units the effects are fitted in (in_effect_units): "asin" = arcsin(sqrt(relevance)) counts a
    # gain near the ceiling by how hard it is; it ranked held-out datasets better than "raw" units
    # and held-out sources no worse (README, "What we tried").
    effect_units: str = "asin"
    prior_pseudo_tasks: float = 2.0  # shrinkage of a candidate's mean gain toward its group (prior="gains")
    # A training task weighs n_tasks(its dataset) ** -power; 0 = every task 1. It helped the gains
    # prior (best at 0.5) and cost the effects prior a little (README, "What we tried").
    dataset_weight_power: float = 0.0
    # Shrink a rated candidate toward its attribute group instead of the mean of all models
    # (prior="gains" only). Off: on held-out datasets it ranked no better (README, "What we tried").
    attribute_prior: bool = False
    # Score never-rated candidates from the rated candidates of their attribute group (item cold
    # start). With prior="effects" it is the group's mean effect, shrunk toward coarser groups and
    # then the average model (cold_start_effects, _levels); it ranked held-out datasets
    # and held-out sources better than putting new candidates last. With prior="gains" it acts only
    # with attribute_prior, and ranked held-out sources far worse (README, "What we tried"): set it
    # False there to put new candidates last.
    cold_start_from_attributes: bool = True
    cold_start_pseudo_models: float = 3.0  # shrinkage of a group's mean effect toward its parent group
    # The attribute groups also pool an architecture's, then a family's, candidates across
    # adaptations (_levels): a pathology encoder rated only as a linear probe then places the same
    # encoder with an attention-MIL head. It ranked held-out sources far better and held-out datasets
    # the same (README, "What we tried"). The gains prior's attribute_prior reads the same groups.
    cold_start_across_adaptations: bool = True
    catalogue_candidates: bool = True  # rank every catalogue model, not only those seen in training
    # Names to rank besides those (a user's own configurations, e.g. "ConvNeXt-T (fine-tune)"): the
    # catalogue's reviewed row, else what the name parser reads, places each by item cold start; a
    # name the parser cannot read at all ranks as the average model. The prior of the other candidates
    # does not change; a delta that the gate lets on is retrained with them (its vocabulary and draws).
    candidates: tuple[str, ...] = ()
    # Candidates that training saw rated on a task of the query's context (its modality, or its
    # domain in modes without modality) rank above those never rated in that context: a global
    # ranking otherwise puts a niche's winners (e.g. pathology encoders) first for any task.
    # Added to the prior; 0 turns it off, which ranked held-out datasets a little better (README).
    context_bonus: float = 1.0
    # Count rated generalists (catalogue pretraining not a medical domain) as in context everywhere,
    # so that the bonus only holds back specialists outside the contexts they were rated in. Off:
    # specialists then fell below ImageNet models in new domains of their own modality (README).
    context_generalists: bool = False
    delta_l2: float = 0.5  # penalty on the learned adjustment: it must earn its place
    feature_mask_prob: float = 0.15  # chance to hide any task feature while training
    id_mask_prob: float = 0.2  # chance to hide a candidate's id (so attributes carry unseen ones)
    lr: float = 0.01  # AdamW step size; full-batch steps on a few thousand pairs
    weight_decay: float = 1e-4  # AdamW's decoupled weight decay, on top of delta_l2
    max_epochs: int = 40  # most full-batch steps; the gate picks fewer (often 0: the prior alone)
    patience: int = 8  # gate epochs without a better held-out loss before an inner fold stops
    inner_folds: int = 3  # dataset-grouped inner folds of the gate; 0 = no gate, train max_epochs
    # Validation loss a trained epoch must gain over the prior alone. At 0.01 the gate opened in some
    # folds and the delta then cost regret on held-out datasets; at 0.05 it opens only for a clear gain.
    gate_margin: float = 0.05
    threads: int = 1  # torch threads while fitting: matrices this small gain nothing from more

    def __post_init__(self):
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"medicalrec: objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if self.d_model % self.n_heads:
            raise ConfigError(f"medicalrec: d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        if self.inner_folds == 1 or self.inner_folds < 0:
            raise ConfigError(f"medicalrec: inner_folds must be 0 or at least 2, got {self.inner_folds}")
        if not self.temperature > 0:
            raise ConfigError(f"medicalrec: temperature must be > 0, got {self.temperature}")
        if self.prior not in PRIORS:
            raise ConfigError(f"medicalrec: prior must be one of {', '.join(PRIORS)}, got {self.prior!r}")
        if self.effect_units not in EFFECT_UNITS:
            raise ConfigError(f"medicalrec: effect_units must be one of {', '.join(EFFECT_UNITS)}, "
                              f"got {self.effect_units!r}")
        if not self.effect_ridge > 0:
            raise ConfigError(f"medicalrec: effect_ridge must be > 0, got {self.effect_ridge}")
        if not self.level_ridge >= 0:
            raise ConfigError(f"medicalrec: level_ridge must be >= 0, got {self.level_ridge}")
        if self.prior == "effects" and self.attribute_prior:
            raise ConfigError("medicalrec: attribute_prior needs prior='gains'")
        if not self.cold_start_pseudo_models > 0:
            raise ConfigError(f"medicalrec: cold_start_pseudo_models must be > 0, got {self.cold_start_pseudo_models}")
        if isinstance(self.candidates, str):
            raise ConfigError(f"medicalrec: candidates must be a list of model names, got the string {self.candidates!r}")
        for position, name in enumerate(self.candidates):
            if not isinstance(name, str) or not name.strip() or name != name.strip():
                raise ConfigError(f"medicalrec: candidates[{position}] must be a model name without surrounding "
                                  f"spaces, got {name!r}")
        self.candidates = tuple(self.candidates)

    @property
    def reads_attribute_groups(self) -> bool:
        """Whether the prior uses the catalogue's attribute groups: the effects prior for item cold
        start; the gains prior only with ``attribute_prior`` (there they also shrink rated candidates)."""
        return self.attribute_prior if self.prior == "gains" else self.cold_start_from_attributes


def _build_network(vocab_sizes: list[int], n_ids: int, attribute_sizes: list[int], config: TransformerConfig):
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
            self.ff = nn.Sequential(nn.Linear(d, config.dim_feedforward), nn.GELU(), nn.Linear(config.dim_feedforward, d))

        def forward(self, x):
            b, n, d = x.shape
            q, k, v = self.qkv(self.norm1(x)).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4).unbind(0)
            attention = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.head_dim), dim=-1)
            x = x + self.out((attention @ v).transpose(1, 2).reshape(b, n, d))
            return x + self.ff(self.norm2(x))

    class PairNet(nn.Module):
        """Task tokens ``int64 [B, F]`` -> task vectors; candidate ids and attributes -> candidate
        vectors; ``delta [B, M]`` from both."""

        def __init__(self) -> None:
            super().__init__()
            d = config.d_model
            offsets = np.concatenate([[1], 1 + np.cumsum(vocab_sizes)[:-1]]).astype(np.int64)
            self.register_buffer("offsets", torch.as_tensor(offsets))
            self.embedding = nn.Embedding(1 + int(sum(vocab_sizes)), d)  # row 0 is [CLS]
            self.position = nn.Parameter(torch.zeros(1, len(vocab_sizes) + 1, d))
            nn.init.normal_(self.position, std=0.02)
            self.layers = nn.ModuleList(EncoderLayer() for _ in range(config.n_layers))
            self.task_norm = nn.LayerNorm(d)
            self.candidate_id = nn.Embedding(n_ids + 1, d)  # row 0 is [UNK]
            nn.init.normal_(self.candidate_id.weight, std=0.02)
            self.attributes = nn.ModuleList(nn.Embedding(size, d) for size in attribute_sizes)
            self.candidate_norm = nn.LayerNorm(d)
            self.bilinear = nn.Linear(d, d, bias=False)
            nn.init.zeros_(self.bilinear.weight)  # delta = 0 at the start: the untrained model is the prior

        def tasks(self, tokens):
            ids = torch.cat([torch.zeros_like(tokens[:, :1]), tokens + self.offsets], dim=1)
            x = self.embedding(ids) + self.position
            for layer in self.layers:
                x = layer(x)
            return self.task_norm(x[:, 0])

        def candidates(self, ids, attributes):
            x = self.candidate_id(ids)
            for j, embedding in enumerate(self.attributes):
                x = x + embedding(attributes[:, j])
            return self.candidate_norm(x)

        def delta(self, task_vectors, candidate_vectors):
            return self.bilinear(task_vectors) @ candidate_vectors.T / math.sqrt(config.d_model)

    return PairNet()


def _scoring_module(net, base: np.ndarray, ids: np.ndarray, attributes: np.ndarray, delta_on: bool, temperature: float,
                    context: int, support: np.ndarray):
    """``tokens -> softmax((base + bonus[context token] + delta) / temperature)`` with the candidate
    vectors and the context table precomputed as constants: the graph batch scoring runs (encode
    each task once, one matrix product per batch)."""
    import torch

    with torch.no_grad():
        candidates = net.candidates(torch.as_tensor(ids), torch.as_tensor(attributes)).detach().clone()

    class Scoring(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.register_buffer("base", torch.as_tensor(base, dtype=torch.float32))
            self.register_buffer("candidate_vectors", candidates)
            self.register_buffer("support", torch.as_tensor(support, dtype=torch.float32))

        def forward(self, tokens):
            logits = self.base + tokens[:, :1].to(torch.float32) * 0.0  # [B, M]; keeps the batch axis
            if context >= 0:
                logits = logits + self.support[tokens[:, context]]
            if delta_on:
                logits = logits + self.net.delta(self.net.tasks(tokens), self.candidate_vectors)
            return torch.softmax(logits / temperature, dim=-1)

    return Scoring().eval()


class MedicalRecTransformer(Recommender):
    name = "medicalrec"
    description = ("prior from each model's effect in metric units over the tasks that compared it, plus a gated "
                   "(task, candidate) adjustment from a BERT-style encoder over task-feature tokens and candidate "
                   "attribute tokens")
    unseen_task_policy = (
        "unseen categories map to [UNK], empty fields to [MISSING] (trained through feature masking); "
        "a catalogue candidate never rated in training is scored from the rated models of its attribute "
        "group (the average model when none was rated; cold_start_from_attributes=False puts it below "
        "every rated one)"
    )

    @classmethod
    def protocol_params(cls, protocol: str) -> dict:
        """The record protocol asks which model a paper used; the task protocol, which model is best."""
        return {"objective": "record" if protocol == C.PROTOCOL_RECORD else "task"}

    def __init__(self, seed: int = 0, **params):
        super().__init__(seed=seed, **params)
        self.config = parse_params(TransformerConfig, params, self.name)
        self.net = None
        self.history_: dict = {}

    # --- training -------------------------------------------------------------------------------
    def _fit(self, data: TrainingSet) -> None:
        import torch

        previous = torch.get_num_threads()
        torch.set_num_threads(self.config.threads)
        try:
            self._fit_gated(data)
        finally:
            torch.set_num_threads(previous)

    def _fit_gated(self, data: TrainingSet) -> None:
        started = time.perf_counter()
        config = self.config
        trained_models = list(self.models_)
        self.models_ = _candidates(trained_models, config.catalogue_candidates, config.candidates)
        column = np.array([self.models_.index(m) for m in trained_models])
        self.ids_ = np.zeros(len(self.models_), dtype=np.int64)
        self.ids_[column] = np.arange(1, len(trained_models) + 1)
        self.attributes_, self.attribute_sizes_ = _attribute_codes(self.models_)
        levels = _levels(self.attributes_, config.cold_start_across_adaptations) if config.reads_attribute_groups else []
        if config.objective == "task":
            relevance = np.full((len(data.task_ids), len(self.models_)), np.nan)
            relevance[:, column] = task_relevance(data)
            examples = _TaskExamples(relevance, self.encoder.tokens(data.task_frame), _task_datasets(data), config,
                                     levels)
        else:
            examples = _RecordExamples(data, column, len(self.models_), self.encoder.tokens(data.records),
                                       _task_datasets(data)[data.task_of_record], config)
        self.base_ = examples.base(np.ones(examples.n, dtype=bool))
        generalist = _generalists(self.models_) if config.context_generalists else np.zeros(len(self.models_), bool)
        self.context_, self.support_ = _context_support(self.encoder, data, column, generalist, config.context_bonus)
        epochs = config.max_epochs
        if config.inner_folds >= 2 and examples.n_groups >= config.inner_folds:
            curve = _validation_curve(examples, self._train, examples.datasets, config.inner_folds, self.seed)
            penalised = curve + config.gate_margin * (np.arange(len(curve)) > 0)
            epochs = int(np.argmin(penalised))
            self.history_["gate_curve"] = [float(v) for v in curve]
        self.delta_on_ = epochs > 0
        self.history_.update({"epochs": epochs, "delta_on": bool(self.delta_on_)})
        self.net = self._train(examples, np.ones(examples.n, dtype=bool), None, epochs)[0]
        self.history_["fit_seconds"] = time.perf_counter() - started

    def _train(self, examples, train: np.ndarray, held: np.ndarray | None, epochs: int):
        """A fresh seeded network trained ``epochs`` full-batch steps on ``train`` examples; with
        ``held``, also the held-out loss after every epoch (index 0: before training = the prior)."""
        import torch

        config = self.config
        torch.manual_seed(self.seed)
        generator = torch.Generator().manual_seed(self.seed)
        net = _build_network(self.encoder.vocab_sizes, int(self.ids_.max()), self.attribute_sizes_, config)
        optimiser = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay)
        ids = torch.as_tensor(self.ids_)
        attributes = torch.as_tensor(self.attributes_)
        fit_batch = examples.batch(train)
        held_batch = examples.batch(held, train) if held is not None else None
        curve = []

        def held_loss() -> float:
            net.eval()
            with torch.no_grad():
                delta = net.delta(net.tasks(held_batch.tokens), net.candidates(ids, attributes))
                return float(examples.loss(held_batch, delta, config))

        if held_batch is not None:
            curve.append(held_loss())
        for _ in range(epochs):
            if held_batch is not None and len(curve) - 1 - int(np.argmin(curve)) >= config.patience:
                break  # no better held-out loss for ``patience`` epochs
            net.train()
            tokens = fit_batch.tokens.masked_fill(torch.rand(fit_batch.tokens.shape, generator=generator) < config.feature_mask_prob, 0)
            dropped = ids.masked_fill(torch.rand(ids.shape, generator=generator) < config.id_mask_prob, 0)
            delta = net.delta(net.tasks(tokens), net.candidates(dropped, attributes))
            loss = examples.loss(fit_batch, delta, config)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            if held_batch is not None:
                curve.append(held_loss())
        net.eval()
        return net, np.array(curve)

    # --- inference ------------------------------------------------------------------------------
    def score(self, tasks: pd.DataFrame) -> np.ndarray:
        """Softmax over all candidates of ``(prior + delta) / temperature``, ``float64 [n_tasks, n_models]``."""
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
        """The scoring graph in eval mode: what ONNX export traces."""
        return _scoring_module(self.net, self.base_, self.ids_, self.attributes_, self.delta_on_, self.config.temperature,
                               self.context_, self.support_)

    # --- persistence ----------------------------------------------------------------------------
    def _metadata(self) -> dict:
        return {"config": asdict(self.config), "history": self.history_, "delta_on": bool(self.delta_on_),
                "attribute_sizes": list(self.attribute_sizes_), "context": int(self.context_)}

    @classmethod
    def saved_params(cls, params: dict, extra: dict) -> dict:
        """A saved config without an option comes from a version before it: the option then gets the
        value that version fitted with (``FITTED_BEFORE_OPTION``), not today's default."""
        saved = extra.get("config", {})
        older = {option: value for option, value in FITTED_BEFORE_OPTION.items() if option not in saved}
        return {**older, **params}

    def _load_metadata(self, extra: dict) -> None:
        self.config = TransformerConfig(**self.saved_params(extra["config"], extra))
        self.history_ = extra.get("history", {})
        self.delta_on_ = bool(extra["delta_on"])
        self.attribute_sizes_ = list(extra["attribute_sizes"])
        self.context_ = int(extra["context"])

    def _state(self) -> dict[str, np.ndarray]:
        state = {f"net.{k}": v.detach().cpu().numpy() for k, v in self.net.state_dict().items()}
        return {**state, "base": self.base_, "ids": self.ids_, "attributes": self.attributes_, "support": self.support_}

    def _load_state(self, arrays: dict[str, np.ndarray]) -> None:
        import torch

        self.base_, self.ids_, self.attributes_ = arrays["base"], arrays["ids"], arrays["attributes"]
        self.support_ = arrays["support"]
        self.net = _build_network(self.encoder.vocab_sizes, int(self.ids_.max()), self.attribute_sizes_, self.config)
        self.net.load_state_dict({k[4:]: torch.as_tensor(v) for k, v in arrays.items() if k.startswith("net.")})
        self.net.eval()


# --- candidates and their attributes --------------------------------------------------------------

def _candidates(trained: list[str], with_catalogue: bool, extra: tuple[str, ...] = ()) -> list[str]:
    """Candidates by name: the trained models and ``extra``, plus every catalogue model when asked."""
    names = set(trained) | set(extra)
    if with_catalogue:
        from medicalrec.catalogue import Catalogue

        names |= set(Catalogue.load().names())
    return sorted(names)


def _attribute_codes(models: list[str]) -> tuple[np.ndarray, list[int]]:
    """``int64 [M, len(CANDIDATE_ATTRIBUTES)]`` codes (0 = unknown) and the vocabulary size of each."""
    from medicalrec.catalogue import UNK, Catalogue

    catalogue = Catalogue.load()
    rows = [catalogue.attributes(m) for m in models]
    codes = np.zeros((len(models), len(CANDIDATE_ATTRIBUTES)), dtype=np.int64)
    sizes = []
    for j, name in enumerate(CANDIDATE_ATTRIBUTES):
        values = [getattr(row, name) for row in rows]
        known = sorted({str(v) for v in values if v not in (None, "", UNK)})
        index = {v: i + 1 for i, v in enumerate(known)}
        codes[:, j] = [index.get(str(v), 0) for v in values]
        sizes.append(len(known) + 1)
    return codes, sizes


def _levels(codes: np.ndarray, across_adaptations: bool) -> list[np.ndarray]:
    """Attribute groups, fine to coarse: architecture + adaptation, family + adaptation; with
    ``across_adaptations``, architecture after the first and family last, so that an encoder rated
    under one head lends its standing to the same encoder under another. A model whose attributes at
    a level are unknown is a group of its own there (never pooled with other unknowns)."""
    a, f, d = (CANDIDATE_ATTRIBUTES.index(n) for n in ("architecture", "family", "adaptation"))
    levels = []
    for columns in ((a, d), (a,), (f, d), (f,)) if across_adaptations else ((a, d), (f, d)):
        key = [tuple(row) if row.all() else ("own", i) for i, row in enumerate(codes[:, columns])]
        _, level = np.unique(np.array([str(k) for k in key]), return_inverse=True)
        levels.append(level)
    return levels


# Catalogue pretraining of specialists: models that learnt one medical domain (context_generalists).
SPECIALIST_PRETRAINING = ("pathology", "medical", "radiology")


def _generalists(models: list[str]) -> np.ndarray:
    """``bool [M]``: the candidate's catalogue pretraining is not a medical domain (unknown counts as general)."""
    from medicalrec.catalogue import Catalogue

    catalogue = Catalogue.load()
    return np.array([str(catalogue.attributes(m).pretraining) not in SPECIALIST_PRETRAINING for m in models])


def _context_support(encoder, data: TrainingSet, column: np.ndarray, generalist: np.ndarray,
                     bonus: float) -> tuple[int, np.ndarray]:
    """The context feature's position in the tokens (-1: none in this mode) and ``[vocabulary,
    n_models]``: ``bonus`` where training rated the candidate on a task of that context value, or
    rated a ``generalist`` candidate anywhere, else 0. ``[MISSING]`` and ``[UNK]`` rows stay 0, so
    a query without a known context gets no bonus."""
    from medicalrec.features import FIRST_VALUE_TOKEN

    n_models = len(generalist)
    names = [f for f in C.CONTEXT_FEATURES if f in encoder.features]
    if not names or bonus == 0:
        return -1, np.zeros((1, n_models))
    position = list(encoder.features).index(names[0])
    support = np.zeros((encoder.vocab_sizes[position], n_models))
    rated = data.records[C.RELEVANCE].notna().to_numpy()
    tokens = encoder.tokens(data.records)[rated, position]
    support[tokens, column[data.record_model[rated]]] = bonus
    rated_anywhere = np.zeros(n_models, dtype=bool)
    rated_anywhere[column[data.record_model[rated]]] = True
    support[:, generalist & rated_anywhere] = bonus
    support[:FIRST_VALUE_TOKEN] = 0.0
    return position, support


def _task_datasets(data: TrainingSet) -> np.ndarray:
    """The group of each training task as the task protocol's folds see it (``splits.split_groups``:
    its dataset, else the task itself)."""
    from medicalrec.bench.splits import split_groups

    groups = split_groups(data.records, C.PROTOCOL_TASK)
    return groups.groupby(data.records[C.TASK_ID], sort=False).first().reindex(data.task_ids).to_numpy()


def dataset_weights(datasets: np.ndarray, power: float) -> np.ndarray:
    """``w_t = n_tasks(dataset of t) ** -power``."""
    _, inverse, counts = np.unique(np.asarray(datasets).astype(str), return_inverse=True, return_counts=True)
    return counts[inverse].astype(float) ** -float(power)


def _unrated_last(prior: np.ndarray) -> np.ndarray:
    """A prior in [0, 1] with its never-rated candidates (NaN) at -1, below every rated one."""
    return np.where(np.isnan(prior), -1.0, prior)


def effects_prior(relevance: np.ndarray, weights: np.ndarray, ridge: float, levels: list[np.ndarray] = (),
                  pseudo_models: float = 3.0, level_ridge: float = 0.0) -> np.ndarray:
    """``[M]`` model effects, never-rated candidates filled from their attribute ``levels``
    (``cold_start_effects``), min-max scaled to [0, 1] (the gains' scale, so that temperature, delta
    penalty and context bonus mean the same for both priors). Without levels a never-rated
    candidate is NaN. A filled value is a mean of rated effects shrunk toward 0, the average model,
    so it lies within the rated effects' range whenever 0 does, and filling leaves the rated scale as is."""
    return prior_from_effects(model_effects(relevance, weights, ridge, level_ridge), levels, pseudo_models)


def prior_from_effects(effects: np.ndarray, levels: list[np.ndarray], pseudo_models: float) -> np.ndarray:
    """``effects_prior`` from effects already fitted (the held-out-dataset fits of ``HeldOutEffects``)."""
    return unit_scaled(cold_start_effects(effects, levels, pseudo_models))


def cold_start_effects(effects: np.ndarray, levels: list[np.ndarray], pseudo_models: float) -> np.ndarray:
    """``effects`` with each never-rated (NaN) candidate given its finest attribute group's mean effect:

    ``group[g] = (sum of the rated members' effects + k parent[m]) / (n rated members + k)`` for each
    member m, where ``parent[m]`` is m's value at the next coarser level (levels need not nest), from
    the coarsest level (parent 0, the average model) to the finest. A candidate none of whose groups has a
    rated member gets 0: with no evidence either way it is the average model, above candidates whose
    group is known to be worse. Without ``levels`` nothing is filled."""
    if not len(levels):
        return effects
    rated = ~np.isnan(effects)
    values = np.where(rated, effects, 0.0)
    parent = np.zeros(len(effects))
    for level in levels[::-1]:
        group_n, group_s = np.bincount(level, rated), np.bincount(level, values)
        parent = (group_s[level] + pseudo_models * parent) / (group_n[level] + pseudo_models)
    return np.where(rated, effects, parent)


def unit_scaled(effects: np.ndarray) -> np.ndarray:
    """Min-max scaled to [0, 1] over the rated candidates; NaN stays NaN. A spread within rounding
    (a held-out system whose tasks all tie leaves ~1e-17 of subtraction residue) is a tie: all 1."""
    effects = effects.copy()
    known = ~np.isnan(effects)
    if known.any():
        values = effects[known]
        tied = np.ptp(values) <= EFFECT_TIE * max(1.0, np.abs(values).max())
        effects[known] = 1.0 if tied else scale_within_task(values)
    return effects


def leaderboard_prior(gains: np.ndarray, weights: np.ndarray, pseudo_tasks: float, levels: list[np.ndarray],
                      cold_start: bool = True) -> np.ndarray:
    """``[M]`` prior per candidate, NaN where it was not rated (with ``cold_start``: where neither it
    nor any of its groups was rated):

    ``prior[m] = (sum_t w_t gain[t, m] + k parent[m]) / (sum_t w_t [m rated on t] + k)``, where the
    parent is the model's finest attribute group, itself shrunk the same way toward its parent, up
    to the weighted mean gain of all models."""
    rated = ~np.isnan(gains)
    n = (rated * weights[:, None]).sum(axis=0)
    s = (np.where(rated, gains, 0.0) * weights[:, None]).sum(axis=0)
    parent = np.full(gains.shape[1], s.sum() / max(n.sum(), 1e-12))
    known = rated.any(axis=0)
    for level in levels[::-1]:
        group_n, group_s = np.bincount(level, n), np.bincount(level, s)
        parent = (group_s[level] + pseudo_tasks * parent) / (group_n[level] + pseudo_tasks)
        if cold_start:
            known |= group_n[level] > 0
    return np.where(known, (s + pseudo_tasks * parent) / (n + pseudo_tasks), np.nan)


def _inner_folds(groups: np.ndarray, n_folds: int, seed: int) -> list[np.ndarray]:
    from medicalrec.bench.splits import grouped_folds

    return [test for _, test in grouped_folds(groups, n_folds, seed)]


@dataclass
class _Batch:
    tokens: object  # torch int64 [B, F]
    targets: object  # torch float [B, M]: gains (task) or one-hot (record); NaN = not evaluated
    prior: object  # torch float [B, M]


class _TaskExamples:
    """One example per training task: its feature tokens and its relevances over the candidates (and
    the within-task gains the ranking loss targets)."""

    def __init__(self, relevance, tokens, datasets, config: TransformerConfig, levels):
        self.relevance, self.tokens, self.datasets = relevance, tokens, datasets
        self.config, self.levels = config, levels
        self.gains = within_task_gains(relevance)
        self.effect_relevance = in_effect_units(relevance, config.effect_units)
        self.n = len(relevance)
        self.n_groups = len(np.unique(datasets))

    def base(self, rows: np.ndarray) -> np.ndarray:
        """Prior from ``rows``, in [0, 1]; candidates without an estimate (never rated, no cold
        start) below every rated one."""
        config = self.config
        weights = dataset_weights(self.datasets[rows], config.dataset_weight_power)
        if config.prior == "effects":
            prior = effects_prior(self.effect_relevance[rows], weights, config.effect_ridge, self.levels,
                                  config.cold_start_pseudo_models, config.level_ridge)
        else:
            prior = leaderboard_prior(self.gains[rows], weights, config.prior_pseudo_tasks, self.levels,
                                      config.cold_start_from_attributes)
        return _unrated_last(prior)

    def batch(self, rows: np.ndarray, prior_rows: np.ndarray | None = None) -> _Batch:
        """Examples ``rows``: a held-out batch sees the prior of ``prior_rows`` (like a new task);
        a training batch sees, per task, the prior without the task's own dataset, so the delta
        learns what the prior misses on datasets it has not seen."""
        import torch

        rows = np.flatnonzero(rows)
        if prior_rows is not None:
            prior = np.tile(self.base(prior_rows), (len(rows), 1))
        else:
            prior = self._held_out_priors(rows)
        keep = (~np.isnan(self.gains[rows])).sum(axis=1) >= 2
        rows, prior = rows[keep], prior[keep]
        return _Batch(torch.as_tensor(self.tokens[rows]), torch.as_tensor(self.gains[rows], dtype=torch.float32),
                      torch.as_tensor(prior, dtype=torch.float32))

    def _held_out_priors(self, rows: np.ndarray) -> np.ndarray:
        """``[len(rows), M]``: each task's prior from the other datasets of ``rows`` (0 when there are none)."""
        prior = np.zeros((len(rows), self.gains.shape[1]))
        datasets = self.datasets[rows]
        effects = self.config.prior == "effects"
        if effects:
            weights = dataset_weights(datasets, self.config.dataset_weight_power)
            held_out = HeldOutEffects(self.effect_relevance[rows], weights, self.config.effect_ridge,
                                      self.config.level_ridge)
        for dataset in np.unique(datasets):
            own = datasets == dataset
            if own.all():
                continue
            if effects:
                base = _unrated_last(prior_from_effects(held_out.without(own), self.levels,
                                                        self.config.cold_start_pseudo_models))
            else:
                base = self.base(rows[~own])
            prior[own] = base
        return prior

    def loss(self, batch: _Batch, delta, config: TransformerConfig):
        """ListNet over each task's evaluated candidates plus ``delta_l2`` times the mean squared delta."""
        import torch

        evaluated = ~torch.isnan(batch.targets)
        target = torch.softmax((torch.nan_to_num(batch.targets) / config.temperature).masked_fill(~evaluated, -1e9), dim=1)
        logits = ((batch.prior + delta) / config.temperature).masked_fill(~evaluated, -1e9)
        listnet = -(target * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()
        return listnet + config.delta_l2 * (delta.pow(2) * evaluated).sum() / evaluated.sum().clamp(min=1)


class _RecordExamples:
    """One example per training record: its task's tokens and its own model (record protocol)."""

    def __init__(self, data: TrainingSet, column: np.ndarray, n_models: int, tokens, datasets, config):
        self.model = column[data.record_model]
        self.n_models, self.tokens, self.datasets, self.config = n_models, tokens, datasets, config
        self.n = len(self.model)
        self.n_groups = len(np.unique(datasets))

    def base(self, rows: np.ndarray) -> np.ndarray:
        """Log share of the records of ``rows`` per candidate (one pseudo-record spread over all)."""
        counts = np.bincount(self.model[rows], minlength=self.n_models) + 1.0 / self.n_models
        return np.log(counts / counts.sum()) * self.config.temperature

    def batch(self, rows: np.ndarray, prior_rows: np.ndarray | None = None) -> _Batch:
        import torch

        rows = np.flatnonzero(rows)
        prior = self.base(prior_rows if prior_rows is not None else np.ones(self.n, dtype=bool))
        targets = np.full((len(rows), self.n_models), np.nan, dtype=np.float32)
        targets[np.arange(len(rows)), self.model[rows]] = 1.0
        return _Batch(torch.as_tensor(self.tokens[rows]), torch.as_tensor(targets),
                      torch.as_tensor(np.tile(prior, (len(rows), 1)), dtype=torch.float32))

    def loss(self, batch: _Batch, delta, config: TransformerConfig):
        import torch

        target = torch.nan_to_num(batch.targets)
        logits = (batch.prior + delta) / config.temperature
        return -(target * torch.log_softmax(logits, dim=1)).sum(dim=1).mean() + config.delta_l2 * delta.pow(2).mean()


def _validation_curve(examples, train, groups: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Held-out loss after 0..max_epochs epochs, averaged over dataset-grouped inner folds."""
    curves = []
    for test in _inner_folds(groups, n_folds, seed):
        held = np.zeros(examples.n, dtype=bool)
        held[test] = True
        if not (~held).any():
            continue
        _, curve = train(examples, ~held, held, examples.config.max_epochs)
        curves.append(curve)
    if not curves:
        return np.zeros(1)
    # A fold that stopped early stays at its last loss for the epochs it did not run.
    length = max(len(c) for c in curves)
    return np.mean([np.pad(c, (0, length - len(c)), mode="edge") for c in curves], axis=0)
