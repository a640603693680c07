#!/usr/bin/env bash
# Reproduces every number in REPORT.md on ONE core (~13 min, plus ~5 for section 9). Per-task results -> results/<variant>__<protocol>[__cold].csv
set -e
export OMP_NUM_THREADS=1
cd "$(dirname "$0")"
run() { python run.py "$@"; }
# (1) reference recommenders
for p in dataset ref task; do run best_mean --protocol $p; done
run best_mean --protocol ref --cold; run best_mean --cold
for p in dataset ref task; do run knn_resid --protocol $p; done
for v in lambdamart lambdamart_lodo lambdamart_attr; do run $v; run $v --protocol ref; done
# (2) attribute-smoothed priors (strict = unseen models last; --cold = may score unseen models from their groups)
run hier_prior; run hier_prior --protocol ref; run hier_prior --protocol ref --cold; run hier_prior --cold
run knn_resid_hier; run knn_resid_hier --protocol ref --cold
# (3) transformer v2 pair scorer
run tv2_default --params '{"scales":[0.25,0.5,1.0]}'
run tv2_noid --params '{"use_id":false,"scales":[0.25,0.5,1.0]}'
run tv2_l0 --params '{"n_layers":0,"scales":[0.25,0.5,1.0]}'
run tv2_dot --params '{"head":"dot","scales":[0.25,0.5,1.0]}'
run tv2_lr1e3 --params '{"lr":0.001,"scales":[0.25,0.5,1.0]}'
run tv2_l2x4 --params '{"l2":2.0,"scales":[0.5,1.0,2.0]}'
run tv2_fixed30 --params '{"val_frac":0,"max_epochs":30,"scales":[0.25,0.5,1.0]}'
run tv2_fixed30_in --params '{"val_frac":0,"max_epochs":30,"prior_train":"in","scales":[0.25,0.5,1.0]}'
run tv2_tau1 --params '{"tau":1.0,"scales":[0.25,0.5,1.0]}'
run tv2_fixed30_tau1 --params '{"val_frac":0,"max_epochs":30,"tau":1.0,"scales":[0.25,0.5,1.0]}'
run tv2_dw --params '{"dw":0.5,"scales":[0.25,0.5,1.0]}'
run tv2z_dw --params '{"dw":0.5,"scales":[0.25,0.5,1.0]}'
run tv2z --params '{"scales":[0.25,0.5,1.0]}'; run tv2z --protocol task --params '{"scales":[0.5,1.0]}'
run tv2g_dw --params '{"dw":0.5,"loss_dw":0.5,"scales":[0.5,1.0]}'
G='{"n_layers":0,"batch":256,"lr":0.01,"max_epochs":40,"inner_folds":3,"dw":0.5,"loss_dw":0.5,"scales":[1.0]}'
run tv2_gated --params "$G"; run tv2_gated --protocol ref --params "$G"
run tv2_gated_diag --params '{"n_layers":0,"batch":256,"lr":0.01,"max_epochs":40,"inner_folds":3,"dw":0.5,"loss_dw":0.5,"scales":[0.0,0.1,1.0]}'
S='{"n_layers":0,"batch":256,"lr":0.01,"max_epochs":40,"inner_folds":3,"dw":0.5,"loss_dw":0.5,"gate_margin":0.01,"scales":[1.0]}'
run tv2_ship --params "$S"; run tv2_ship --protocol ref --params "$S"
# (4) priors / ensembles / regularisation
for v in pl_prior best_mean_gain weighted_prior weighted_prior_ref weighted_prior_grid stratified_prior dw_knn_resid dw_rank_prior; do
  run $v; run $v --protocol ref; done
run pl_prior_tau1; run weighted_prior_grid --protocol task
run dw_hier_prior; run dw_hier_prior --protocol ref; run dw_hier_prior --protocol ref --cold; run dw_hier_prior --cold
run dw_knn_resid_hier; run dw_knn_resid_hier --protocol ref --cold
# (5) priors in metric units (additive.py): model effects, floored gains, blends
for p in dataset ref task; do run additive --protocol $p; done
run additive_clip; run floored_gain; run blend_additive; run scaled_additive; run effects_knn_resid
# (6) per-modality/domain effects; item cold start on the effects prior
run group_effects; run cold_effects --cold; run cold_effects --protocol ref --cold
run cold_effects_catalogue --cold; run cold_effects_catalogue --protocol ref --cold   # the package's catalogue groups
run class_group_effects --cold; run group_prior_effects --cold; run group_prior_effects --protocol ref --cold
run hierarchical_effects --cold; run hierarchical_effects --protocol ref --cold
python cold_start.py              # results/cold_start_10seeds.csv
# (7) the units the effects are fitted in; top-weighted, pair-weighted and rank-blended effects
run targeted_effects --cold; run targeted_effects --protocol ref --cold
run transform_effects --cold; run transform_effects --protocol ref --cold
python units.py                   # results/units_10seeds.csv
# (8) task levels pulled toward the corpus mean; robust (Huber) effects; a level prior from task covariates;
#     dataset- or source-weighted tasks on top of it
run anchored_effects --cold; run anchored_effects --protocol ref --cold
run robust_effects --cold; run robust_effects --protocol ref --cold
run covariate_anchored_effects --cold; run covariate_anchored_effects --protocol ref --cold
run group_weighted_effects --cold; run group_weighted_effects --protocol ref --cold
python anchoring.py               # results/anchoring_10seeds.csv
# (9) model x dataset/source deviations, per-task scales, within-task pair weights with the level ridge,
#     size-dependent class effects
for v in interaction_effects task_scaled_effects anchored_pair_weights covariate_class_effects; do run $v --cold; run $v --protocol ref --cold; done
# (10) other reported metrics as evidence; cold-start groups across adaptations (about 2 minutes)
for v in secondary_metrics cold_levels cold_levels_k group_shrunk_effects shared_architecture cold_levels_lam1 cold_levels_lam4; do run $v --cold; run $v --protocol ref --cold; done
python cold_levels.py             # results/cold_levels_10seeds.csv
python ceiling.py                 # a task-blind order with the held-out datasets in training (leaky)
# (11) noise weights, lower bound, bagging; AUC above chance or weighted (about 3 minutes)
for v in noise_weights chance_units; do run $v --cold; run $v --protocol ref --cold; done
# tables
python report.py > /dev/null      # results/summary.md (every variant x view x protocol)
python key_stats.py               # results/key_stats.csv (wins/losses, Wilcoxon, cluster-bootstrap CI)
python robustness.py              # results/robustness_10seeds.csv
