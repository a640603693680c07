"""Transformer v2: a (task, candidate) pair scorer on top of the leaderboard prior.

score(task, m) = prior[m] + scale * delta(task, m)

* task tokens: one per feature (categories with [MISSING]=0 / [UNK]=1, numbers log1p-bucketed on the
  training quantiles with [MISSING]=0), + a feature-position embedding; a [CLS] token and a small
  pre-norm transformer encoder (n_layers=0: mean-pool + MLP). The task is encoded once.
* candidate tokens: id embedding (row 0 = [UNK] for unseen / dropped ids) + attribute embeddings
  (backbone, family, adaptation, size, pretraining; attributes.py), precomputed once per fit.
* head: "dot" = <W t, c> / sqrt(d), or "mlp" = MLP([t * c, t, c]) -> 1; cheap for 1M tasks x 383.
* prior: best-mean (or hierarchical) leaderboard prior. For training tasks it is computed without the
  task's own dataset (leave-dataset-out), so the delta learns what the prior misses on NEW datasets.
* loss: ListNet over the task's evaluated models (target softmax(gain / tau), prediction
  softmax(score / tau)) + l2 * mean(delta^2) to keep delta small; feature dropout, id dropout.
* early stopping on a dataset-grouped inner validation split, then a refit on all training tasks for
  the chosen number of epochs.
"""
from __future__ import annotations

import math
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

from attributes import attributes
from harness import CAT, LOG_NUM, NUM, Data
from recs import best_mean, dataset_weights, group_ids, hier_prior, model_levels, weighted_best_mean

torch.set_num_threads(1)
ATTRS = ["backbone", "family", "adaptation", "size", "pretraining"]


class TaskTokens:
    def fit(self, tasks: pd.DataFrame, n_buckets: int = 8):
        self.vocab = {c: {v: i + 2 for i, v in enumerate(sorted(tasks[c].dropna().astype(str).unique()))} for c in CAT}
        self.edges = {}
        for c in NUM:
            x = self._num(tasks[c])
            x = x[~np.isnan(x)]
            self.edges[c] = np.unique(np.quantile(x, np.linspace(0, 1, n_buckets + 1)[1:-1])) if x.size else np.array([])
        self.sizes = [len(self.vocab[c]) + 2 for c in CAT] + [len(self.edges[c]) + 2 for c in NUM]
        return self

    @staticmethod
    def _num(col):
        x = pd.to_numeric(col, errors="coerce").to_numpy(float)
        return np.log1p(x) if col.name in LOG_NUM else x

    def __call__(self, tasks: pd.DataFrame) -> np.ndarray:
        out = np.zeros((len(tasks), len(CAT) + len(NUM)), np.int64)
        for j, c in enumerate(CAT):
            out[:, j] = [0 if pd.isna(v) else self.vocab[c].get(str(v), 1) for v in tasks[c]]
        for j, c in enumerate(NUM):
            x = self._num(tasks[c])
            b = np.searchsorted(self.edges[c], np.nan_to_num(x), side="right") + 1
            out[:, len(CAT) + j] = np.where(np.isnan(x), 0, b)
        return out


class Net(nn.Module):
    def __init__(self, sizes, n_ids, attr_sizes, d=32, n_layers=1, heads=4, head="mlp", hidden=32):
        super().__init__()
        self.register_buffer("offsets", torch.as_tensor(np.concatenate([[1], 1 + np.cumsum(sizes)[:-1]]), dtype=torch.long))
        self.tok = nn.Embedding(1 + int(sum(sizes)), d)  # row 0 = [CLS]
        self.pos = nn.Parameter(torch.randn(1, len(sizes) + 1, d) * 0.02)
        self.n_layers = n_layers
        if n_layers:
            layer = nn.TransformerEncoderLayer(d, heads, 2 * d, dropout=0.0, batch_first=True, norm_first=True)
            self.enc = nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)
        self.task_out = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d), nn.GELU(), nn.Linear(d, d))
        self.id = nn.Embedding(n_ids + 1, d)  # row 0 = [UNK]
        nn.init.normal_(self.id.weight, std=0.02)
        self.attr = nn.ModuleList(nn.Embedding(s, d) for s in attr_sizes)
        self.cand_out = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, d))
        self.head = head
        if head == "mlp":
            self.mlp = nn.Sequential(nn.Linear(3 * d, hidden), nn.GELU(), nn.Linear(hidden, 1))
            nn.init.zeros_(self.mlp[-1].weight)  # delta = 0 at init: the untrained model IS the prior
            nn.init.zeros_(self.mlp[-1].bias)
        else:
            self.bil = nn.Linear(d, d, bias=False)
            nn.init.zeros_(self.bil.weight)
        self.d = d

    def encode_tasks(self, tokens):
        x = self.tok(torch.cat([torch.zeros_like(tokens[:, :1]), tokens + self.offsets], 1)) + self.pos
        if self.n_layers:
            x = self.enc(x)[:, 0]
        else:
            x = x[:, 1:].mean(1)
        return self.task_out(x)

    def encode_cands(self, ids, attrs):
        c = self.id(ids)
        for j, e in enumerate(self.attr):
            c = c + e(attrs[:, j])
        return self.cand_out(c)

    def delta(self, t, c):  # t [B, d], c [M, d] -> [B, M]; or c [B, K, d] (gathered candidates) -> [B, K]
        if self.head == "dot":
            if c.dim() == 3:
                return (c @ self.bil(t)[:, :, None]).squeeze(-1) / math.sqrt(self.d)
            return self.bil(t) @ c.T / math.sqrt(self.d)
        if c.dim() == 2:
            c = c[None].expand(t.shape[0], -1, -1)
        tt = t[:, None, :].expand(-1, c.shape[1], -1)
        return self.mlp(torch.cat([tt * c, tt, c], -1)).squeeze(-1)


class PairScorer:
    def __init__(self, d=32, n_layers=1, heads=4, head="mlp", hidden=32, tau=0.25, lr=3e-3, wd=1e-4, max_epochs=150,
                 patience=15, batch=32, feat_drop=0.15, id_drop=0.2, l2=0.5, prior="best_mean", prior_train="lodo",
                 use_id=True, use_attr=True, val_frac=0.15, refit=True, n_buckets=8, seed=0,
                 scales=(0.5, 1.0), clip=None, dw=0.0, prior_k=2.0, loss_dw=0.0, inner_folds=0, gate_margin=0.0):
        self.__dict__.update({k: v for k, v in locals().items() if k != "self"})

    # ---- priors
    def _prior(self, G, ds):
        w = dataset_weights(ds, self.dw)
        if self.prior == "hier":
            return hier_prior(G, self.levels, (self.prior_k,) * 3, w)
        return weighted_best_mean(G, w, self.prior_k)

    def _train_priors(self, G, ds):
        g0 = np.nanmean(G)
        if self.prior_train == "in":
            P = np.tile(self._prior(G, ds), (len(G), 1))
        else:
            P = np.empty_like(G)
            for g in np.unique(ds):
                P[ds == g] = self._prior(G[ds != g], ds[ds != g])
        return np.where(np.isnan(P), g0, P)

    # ---- fit
    def fit(self, D: Data, train):
        t0 = time.perf_counter()
        torch.manual_seed(self.seed)
        self.rng = np.random.default_rng(self.seed)
        tasks = D.tasks.iloc[train]
        G = D.G[train]
        ds = tasks.dataset.astype(str).to_numpy()
        self.levels = model_levels(D.models)
        self.tt = TaskTokens().fit(tasks, self.n_buckets)
        M = len(D.models)
        seen = D.present[train].any(0)
        self.ids = np.where(seen, np.arange(M) + 1, 0) if self.use_id else np.zeros(M, np.int64)
        A = pd.DataFrame([attributes(m) for m in D.models])
        self.attrs = np.stack([group_ids(list(A[c])) for c in ATTRS], 1)
        self.attr_sizes = [int(self.attrs[:, j].max()) + 1 for j in range(len(ATTRS))] if self.use_attr else []
        tokens = self.tt(tasks)
        keep = (~np.isnan(G)).sum(1) >= 2
        self.prior_ = self._prior(G, ds)
        g0 = np.nanmean(G)
        pop = D.present[train].sum(0)  # never-rated models below all rated ones, by popularity (as best_mean)
        self.base_ = np.where(np.isnan(self.prior_), -1 + pop / (pop.max() + 1.0), self.prior_)
        Wt = dataset_weights(ds, self.loss_dw)  # task weights of the listwise loss
        # inner validation split grouped by dataset
        epochs = self.max_epochs
        if self.inner_folds:
            # gate: average validation curve over dataset-grouped inner folds; epoch 0 = prior alone
            from harness import grouped_folds
            curves = []
            for va_idx in grouped_folds(ds, self.inner_folds, self.seed):
                vmask = np.zeros(len(ds), bool)
                vmask[va_idx] = True
                P_all = np.empty_like(G)
                P_all[~vmask] = self._train_priors(G[~vmask], ds[~vmask])
                p_full = self._prior(G[~vmask], ds[~vmask])
                P_all[vmask] = np.where(np.isnan(p_full), np.nanmean(G[~vmask]), p_full)
                self._train(tokens, G, P_all, np.flatnonzero(keep & ~vmask), np.flatnonzero(keep & vmask), W=Wt,
                            patience=10 ** 9)
                curves.append(np.array(self._curve) * Wt[keep & vmask].sum())
            n = min(map(len, curves))
            self.curve_ = np.sum([c[:n] for c in curves], 0) / Wt[keep].sum()
            epochs = self.best_epoch = int(np.argmin(self.curve_ + self.gate_margin * (np.arange(n) > 0)))
        elif self.val_frac > 0:
            u = self.rng.permutation(np.unique(ds))
            cum = np.cumsum([np.sum(ds == g) for g in u])
            val_ds = u[: max(1, int(np.searchsorted(cum, self.val_frac * len(ds))) + 1)]
            vmask = np.isin(ds, val_ds)
            tr = keep & ~vmask
            P_tr = self._train_priors(G[~vmask], ds[~vmask])
            P_all = np.empty_like(G)
            P_all[~vmask] = P_tr
            p_full = self._prior(G[~vmask], ds[~vmask])  # val tasks see the prior of the inner-train tasks, like a test task
            P_all[vmask] = np.where(np.isnan(p_full), np.nanmean(G[~vmask]), p_full)
            best = self._train(tokens, G, P_all, np.flatnonzero(tr), np.flatnonzero(keep & vmask), W=Wt)
            epochs = best
            self.best_epoch = best
        if self.refit or (self.val_frac <= 0 and not self.inner_folds):
            P = self._train_priors(G, ds)
            self._train(tokens, G, P, np.flatnonzero(keep), None, epochs, W=Wt)
        self.fit_s = time.perf_counter() - t0
        return self

    def _loss(self, tok, G, P, ids, drop, W):
        net = self.net
        if drop and self.feat_drop > 0:
            tok = tok.masked_fill(torch.rand(tok.shape) < self.feat_drop, 0)
        if drop and self.id_drop > 0:
            ids = ids.masked_fill(torch.rand(ids.shape) < self.id_drop, 0)
        t = net.encode_tasks(tok)
        c = net.encode_cands(ids, self.attrs_t if self.use_attr else self.attrs_t[:, :0])
        # only the task's evaluated models: gather them (padded to the batch's longest list)
        ev_full = ~torch.isnan(G)
        k = int(ev_full.sum(1).max())
        idx = torch.argsort((~ev_full).to(torch.int8), dim=1, stable=True)[:, :k]
        ev = torch.gather(ev_full, 1, idx)
        G, P = torch.gather(G, 1, idx), torch.gather(P, 1, idx)
        delta = net.delta(t, c[idx])
        s = (P + delta) / self.tau
        s = s.masked_fill(~ev, -1e9)
        target = torch.softmax(torch.nan_to_num(G, nan=0.0).div(self.tau).masked_fill(~ev, -1e9), 1)
        ce = (-(target * torch.log_softmax(s, 1)).sum(1) * W).sum() / W.sum()
        reg = (delta.pow(2) * ev).sum() / ev.sum()
        return ce + self.l2 * reg

    def _train(self, tokens, G, P, tr, va, epochs=None, W=None, patience=None):
        torch.manual_seed(self.seed)
        self.net = Net(self.tt.sizes, len(self.ids), self.attr_sizes, self.d, self.n_layers, self.heads, self.head,
                       self.hidden)
        self.attrs_t = torch.as_tensor(self.attrs)
        ids = torch.as_tensor(self.ids, dtype=torch.long)
        opt = torch.optim.AdamW(self.net.parameters(), lr=self.lr, weight_decay=self.wd)
        W_t = torch.as_tensor(np.ones(len(G)) if W is None else W, dtype=torch.float32)
        tok_t, G_t, P_t = torch.as_tensor(tokens), torch.as_tensor(G, dtype=torch.float32), torch.as_tensor(P, dtype=torch.float32)
        best, best_ep, state, bad = np.inf, 0, None, 0
        if va is not None:  # epoch 0 = the prior alone (delta = 0): training must beat it to be used
            self.net.eval()
            with torch.no_grad():
                b = torch.as_tensor(va)
                best = float(self._loss(tok_t[b], G_t[b], P_t[b], ids, False, W_t[b]))
        self._curve = [best]
        for ep in range(1, (epochs if epochs is not None else self.max_epochs) + 1):
            self.net.train()
            perm = tr[self.rng.permutation(len(tr))]
            for s in range(0, len(perm), self.batch):
                b = torch.as_tensor(perm[s:s + self.batch])
                loss = self._loss(tok_t[b], G_t[b], P_t[b], ids, True, W_t[b])
                opt.zero_grad()
                loss.backward()
                opt.step()
            if va is not None:
                self.net.eval()
                with torch.no_grad():
                    b = torch.as_tensor(va)
                    v = float(self._loss(tok_t[b], G_t[b], P_t[b], ids, False, W_t[b]))
                self._curve.append(v)
                if v < best - 1e-5:
                    best, best_ep, bad = v, ep, 0
                else:
                    bad += 1
                    if bad >= (patience or self.patience):
                        break
        return best_ep

    # ---- score
    @torch.no_grad()
    def deltas(self, D, idx):
        self.net.eval()
        tok = torch.as_tensor(self.tt(D.tasks.iloc[idx]))
        t = self.net.encode_tasks(tok)
        c = self.net.encode_cands(torch.as_tensor(self.ids, dtype=torch.long), self.attrs_t if self.use_attr else self.attrs_t[:, :0])
        return self.net.delta(t, c).numpy().astype(float)

    def score(self, D, idx):
        delta = self.deltas(D, idx)
        out = {}
        for s in self.scales:
            out[f"scale={s}"] = self.base_[None, :] + s * delta
        if self.clip:
            out[f"clip={self.clip}"] = self.base_[None, :] + np.clip(delta, -self.clip, self.clip)
        return out
